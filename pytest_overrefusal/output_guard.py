"""Output files never destroy input: a report or baseline path that is another output of the same run, the
baseline being read, or an existing file this tool did not write (a data file, a manifest, notes) is refused
before anything is generated. Checked by `preflight.check_outputs`."""
from __future__ import annotations

from pathlib import Path

from .errors import OverrefusalError
from .records import CASE_FIELDS
from .report.terminal import one_line

_HEAD_BYTES = 4096  # our JSON, HTML and CSV files say what they are at the start
_TAIL_BYTES = 1 << 16  # a parquet file names its columns in the footer


def check_distinct(named: dict[str, Path | None]) -> None:
    """`named`: option -> path. Two options naming one file would overwrite (or read over) each other."""
    seen: dict[Path, str] = {}
    for option, path in named.items():
        if path is None:
            continue
        key = _same_file_key(path)
        if key in seen:
            raise OverrefusalError(f"{option} {_p(path)}: is the same file as {seen[key]}; one would overwrite the "
                                   f"other, give each its own path")
        seen[key] = option


def check_not_foreign(path: Path, option: str) -> None:
    """An existing non-empty file at an output path must be one this tool wrote (an earlier report or baseline)."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
            fh.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            tail = fh.read()
    except OSError:
        return  # unreadable: check_file_path reports what matters (read-only, not a file)
    if _ours(path.suffix.lower(), head, tail):
        return
    raise OverrefusalError(f"{option} {_p(path)}: exists and is not a pytest-overrefusal report or baseline, so "
                           f"writing would destroy it (a data file or manifest?); give another path or remove the "
                           f"file first")


def _ours(suffix: str, head: bytes, tail: bytes) -> bool:
    if suffix == ".json":
        return b'"schema": "pytest-overrefusal/' in head
    if suffix == ".html":
        return b"Over-refusal report" in head
    if suffix == ".csv":
        return head.lstrip(b"\xef\xbb\xbf").startswith(",".join(CASE_FIELDS).encode())
    if suffix == ".parquet":
        return head.startswith(b"PAR1") and all(f.encode() in tail for f in ("case_id", "suite", "refused"))
    return False


def _same_file_key(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as written
        return path.absolute()


def _p(path) -> str:
    return one_line(str(path), 200)
