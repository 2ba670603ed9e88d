"""Reading JSON Lines files the same way everywhere: one object per non-blank line, one-line errors at file:line."""
from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Iterator

from .errors import OverrefusalError
from .textfiles import cap, lines


def json_objects(path: Path | str, error: type[OverrefusalError] = OverrefusalError, *, what: str = "file",
                 fields: str = "") -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line, read as it streams.

    An unreadable file, a line that is not UTF-8 or not JSON, or one that is not an object raises `error` with the
    path (and line) and what to do; `what` names the file's role, `fields` what each object needs (" with prompt and
    reply"). A BOM is fine; a line longer than textfiles.MAX_LINE_BYTES is an error, not a memory spike."""
    path = Path(path)
    for number, line in lines(path, error, what):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except RepeatedKey as exc:
            raise error(f"{path}:{number}: key {cap(repr(exc.key), 60)} appears twice in one object; keep one"
                        ) from None
        except ValueError as exc:  # also the digit limit of huge integers
            raise error(f"{path}:{number}: invalid JSON ({cap(getattr(exc, 'msg', str(exc)), 120)}); fix or "
                        f"remove the line") from None
        except RecursionError:
            raise error(f"{path}:{number}: invalid JSON (nested too deeply); fix or remove the line") from None
        if not isinstance(row, dict):
            raise error(f"{path}:{number}: each line must be a JSON object{fields}, got {_json_type(row)}")
        yield number, row


class RepeatedKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:  # json.loads would keep the last one silently: a wrong prompt, no error
            raise RepeatedKey(key)
        obj[key] = value
    return obj


def loads(text: str) -> object:
    """json.loads, but an object with a repeated key raises RepeatedKey."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def load_document(path: Path, error: type[OverrefusalError], what: str, hint: str) -> object:
    """A whole JSON file a user named (a report, a baseline). A pipe or device is refused before it is opened (a
    FIFO would block forever), and nesting too deep for Python's parser is one `error` line, never a
    RecursionError. OSError, UnicodeDecodeError and other bad JSON (ValueError) are left to the caller, which knows
    what to say."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        mode = None  # missing or unreadable: the read below raises the OSError the caller reports
    if mode is not None and not stat.S_ISREG(mode):
        raise error(f"{path}: {what} is not a regular file (a folder, pipe or device); {hint}")
    text = path.read_bytes().decode("utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise error(f"{path}: {what} is not JSON (nested too deeply); {hint}") from None


def _json_type(value: object) -> str:
    return {list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")
