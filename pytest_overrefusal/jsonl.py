"""Reading JSON Lines files the same way everywhere: one object per non-blank line, one-line errors at file:line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .errors import OverrefusalError


def json_objects(path: Path | str, error: type[OverrefusalError] = OverrefusalError, *, what: str = "file",
                 fields: str = "") -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line, read as it streams.

    An unreadable file, a line that is not JSON, or one that is not an object raises `error` with the path (and line)
    and what to do; `what` names the file's role, `fields` what each object needs (" with prompt and reply")."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise error(f"{path}:{number}: invalid JSON ({getattr(exc, 'msg', exc)}); fix or remove the "
                                f"line") from None
                if not isinstance(row, dict):
                    raise error(f"{path}:{number}: each line must be a JSON object{fields}")
                yield number, row
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not UTF-8 text") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
