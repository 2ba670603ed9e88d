"""Where the project keeps things it builds (toy model, converted SmolLM2, response cache)."""
from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """`$OVERREFUSAL_HOME`, else `$XDG_CACHE_HOME/pytest-overrefusal`, else `~/.cache/pytest-overrefusal`."""
    explicit = os.environ.get("OVERREFUSAL_HOME")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-overrefusal"


def build_once(target: Path, builder) -> Path:
    """Build `target` (a directory) with `builder(tmp_dir)` unless it exists.

    A lock file serialises concurrent builders (xdist workers); the result appears atomically,
    so no process ever sees a half-written directory.
    """
    import fcntl
    import shutil
    import tempfile

    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            builder(tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
