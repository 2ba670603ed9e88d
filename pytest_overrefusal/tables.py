"""Data files -> rows, each with its place in the file (":12" a line, ": item 3" a JSON list item, ": row 3" a
parquet row) so any later complaint can name file and place in one line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .errors import SuiteError
from .jsonl import RepeatedKey, json_objects, loads
from .textfiles import cap, check_file, csv_dicts, read_text

Row = dict[str, object]
Placed = tuple[str, Row]  # (place in the file, row)
MAX_JSON_BYTES = 1 << 30  # a .json file is parsed whole; past this use .jsonl, which streams
FORMATS = ".jsonl, .json, .csv or .parquet"
WHAT = "data file"


def placed_rows(path: Path) -> Iterator[Placed]:
    """Rows of a .jsonl, .json (list of objects), .csv or .parquet file, with their places."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv", ".parquet"):
        raise SuiteError(f"{path}: unsupported data format {cap(repr(suffix), 40)}; use {FORMATS}")
    if not path.exists():
        raise SuiteError(f"{path}: {WHAT} not found")
    if suffix == ".jsonl":
        for number, row in json_objects(path, SuiteError, what=WHAT):
            yield f":{number}", row
    elif suffix == ".json":
        yield from _json_rows(path)
    elif suffix == ".csv":
        for number, row in csv_dicts(path, SuiteError, WHAT):
            yield f":{number}", row
    else:
        yield from _parquet_rows(path)


def _json_rows(path: Path) -> Iterator[Placed]:
    text = read_text(path, SuiteError, WHAT, MAX_JSON_BYTES)
    try:
        data = loads(text)
    except RepeatedKey as exc:
        raise SuiteError(f"{path}: key {cap(repr(exc.key), 60)} appears twice in one object; keep one") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}:{exc.lineno}: invalid JSON ({cap(exc.msg, 120)}); fix the file") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise SuiteError(f"{path}: invalid JSON ({cap(str(exc), 120)}); fix the file") from None
    except RecursionError:
        raise SuiteError(f"{path}: invalid JSON (nested too deeply); fix the file") from None
    if not isinstance(data, list):
        raise SuiteError(f"{path}: a .json {WHAT} must hold a list of objects, got {type(data).__name__}; "
                         f"write [{{...}}, {{...}}] or use .jsonl")
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise SuiteError(f"{path}: item {index}: must be a JSON object, got {type(row).__name__}; "
                             f"a .json {WHAT} holds a list of objects")
        yield f": item {index}", row


def _parquet_rows(path: Path) -> Iterator[Placed]:
    check_file(path, SuiteError, WHAT)
    try:
        import pandas as pd
    except ImportError:
        raise SuiteError(f"{path}: reading .parquet needs pandas and pyarrow; "
                         f"pip install 'pytest-overrefusal[reports]', or convert the file to {FORMATS}") from None
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise SuiteError(f"{path}: reading .parquet needs pyarrow ({cap(str(exc), 80)}); "
                         f"pip install 'pytest-overrefusal[reports]'") from None
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet; all mean the same
        raise SuiteError(f"{path}: not a readable parquet file ({cap(str(exc) or type(exc).__name__, 120)}); "
                         f"check the file, or use {FORMATS}") from None
    for index, row in enumerate(frame.to_dict(orient="records")):
        yield f": row {index}", row
