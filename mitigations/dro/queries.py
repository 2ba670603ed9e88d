"""Read DRO query lists: .jsonl (a `prompt`-like field), .csv (same), or .txt (one query per line)."""
from __future__ import annotations

import csv
from pathlib import Path

from pytest_overrefusal.api import OverrefusalError, json_objects

TEXT_FIELDS = ("prompt", "query", "text", "goal", "instruction", "question")
HARMFUL_FLAGS = ("harmful", "unsafe", "is_harmful")


def read_rows(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise OverrefusalError(f"{path}: no such query file; give a .jsonl, .csv or .txt file")
    if path.suffix == ".jsonl":
        return [row for _, row in json_objects(path, what="query file")]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    return [{"prompt": line.strip()} for line in text.splitlines() if line.strip()]


def query_text(row: dict, where: str) -> str:
    for key in TEXT_FIELDS:
        value = row.get(key) if isinstance(row, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise OverrefusalError(f"{where}: no query field; expected one of {', '.join(TEXT_FIELDS)}")


def is_harmful(row: dict) -> bool:
    """True when the row says so: a truthy `harmful`-like flag, or a label/category/type of harmful/unsafe."""
    for key in HARMFUL_FLAGS:
        value = row.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes"}:
            return True
    for key in ("label", "category", "type", "kind"):  # "kind" is what `overrefusal mitigate` writes
        value = row.get(key)
        if isinstance(value, str) and value.strip().lower() in {"harmful", "unsafe"}:
            return True
    return False


def read_queries(path: Path) -> list[str]:
    return [query_text(row, f"{path}:{i}") for i, row in enumerate(read_rows(path), 1)]


def split_by_harm(path: Path) -> tuple[list[str], list[str]]:
    """(harmful, harmless) queries of one file, by each row's flags (rows without flags are harmless)."""
    harmful, harmless = [], []
    for i, row in enumerate(read_rows(path), 1):
        (harmful if is_harmful(row) else harmless).append(query_text(row, f"{path}:{i}"))
    return harmful, harmless
