"""Seed instructions from a suite (id or manifest path) or a JSONL file (`prompt` [+ `label`] or `instruction`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pytest_overrefusal.api import SuiteError

from .search import Seed


def load_seeds(ref: str, data_dir: Path | None = None, labels: Sequence[str] = (), limit: int | None = None,
               search: Sequence[Path] = ()) -> list[Seed]:
    """`labels` keeps JSONL rows whose `label` is one of them (XSTest seed files label rows safe / unsafe)."""
    path = Path(ref)
    if path.suffix == ".jsonl" and path.is_file():
        seeds = _from_jsonl(path, labels)
    elif path.suffix == ".jsonl":
        raise SuiteError(f"{path}: seed file not found")
    else:
        seeds = _from_suite(ref, data_dir, search)
    if not seeds:
        raise SuiteError(f"{ref}: no seed instructions" + (f" with label {'/'.join(labels)}" if labels else ""))
    return seeds[:limit] if limit else seeds


def _from_jsonl(path: Path, labels: Sequence[str]) -> list[Seed]:
    from pytest_overrefusal.api import read_table

    seeds = []
    for index, row in enumerate(read_table(path)):
        text = row.get("prompt", row.get("instruction"))
        if not isinstance(text, str) or not text.strip():
            raise SuiteError(f"{path}:{index + 1}: a seed row needs a non-empty 'prompt' or 'instruction' "
                             f"(columns: {', '.join(map(str, row))})")
        label = row.get("label")
        if labels and str(label) not in labels:
            continue
        seeds.append(Seed(id=str(row.get("id", index)), text=text.strip(),
                          label=None if label is None else str(label)))
    return seeds


def _from_suite(ref: str, data_dir: Path | None, search: Sequence[Path]) -> list[Seed]:
    from pytest_overrefusal.api import load_cases, load_manifest, resolve_suite

    suite = load_manifest(resolve_suite(ref, also=[f for f in search if f.is_dir()]))
    return [Seed(id=c.case_id, text=c.prompt, label=c.category or suite.expect)
            for c in load_cases(suite, data_dir)]
