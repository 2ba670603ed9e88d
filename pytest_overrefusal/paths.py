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


def build_once(target: Path, builder, is_complete=None) -> Path:
    """Build the directory `target` with `builder(tmp_dir)` unless it is already complete.

    A lock file serialises concurrent builders (xdist workers, threads); the result is moved into place
    atomically, so nobody ever sees a half-written directory. Temporary folders left by a killed builder and
    an incomplete `target` (e.g. a hand copy) are removed first.
    """
    import fcntl
    import shutil
    import tempfile

    complete = is_complete or (lambda path: path.is_dir())
    if complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if complete(target):  # another builder finished while we waited
                return target
            for stale in target.parent.glob(f".{target.name}-build-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
            try:
                builder(tmp)
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target
