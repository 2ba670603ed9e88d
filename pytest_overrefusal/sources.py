"""Where a suite's rows come from: the local data mirror, a file beside the manifest, or HF datasets."""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

from .errors import SuiteError
from .jsonl import json_objects
from .suite import Case, PairCase, Suite

Row = dict[str, object]


def load_cases(suite: Suite, data_dir: Path | None, limit: int | None = None) -> list[Case]:
    """All cases of `suite` after filters and exclusions, optionally a deterministic subsample."""
    if suite.kind == "preference":
        raise SuiteError(f"suite {suite.id} ({suite.path}) is a preference suite: it holds (prompt, chosen, "
                         f"rejected) pairs, not prompts to answer; run it as a manifest with pytest")
    rows = list(_rows(suite, data_dir))
    cases = list(_to_cases(suite, rows))
    _check_exclusions(suite, cases)
    excluded = {_case_id(e.id) for e in suite.exclude}
    cases = [c for c in cases if c.case_id not in excluded]
    return subsample(cases, limit) if limit else cases


def load_pair_cases(suite: Suite, data_dir: Path | None, limit: int | None = None) -> list[PairCase]:
    """The pairs of a `kind: preference` suite after filters and exclusions, optionally subsampled."""
    pairs = list(_to_pair_cases(suite, _rows(suite, data_dir)))
    _check_exclusions(suite, pairs)
    excluded = {_case_id(e.id) for e in suite.exclude}
    pairs = [p for p in pairs if p.case_id not in excluded]
    return subsample(pairs, limit) if limit else pairs


AnyCase = TypeVar("AnyCase", Case, PairCase)


def subsample(cases: list[AnyCase], limit: int) -> list[AnyCase]:
    """The same `limit` cases every run (hash order), kept in file order."""
    if limit >= len(cases):
        return cases
    def rank(c: AnyCase) -> str:
        return hashlib.sha256(f"{c.suite_id}\0{c.case_id}".encode()).hexdigest()
    keep = {c.case_id for c in sorted(cases, key=rank)[:limit]}
    return [c for c in cases if c.case_id in keep]


def _rows(suite: Suite, data_dir: Path | None) -> Iterator[Row]:
    src = suite.source
    if src.file:
        yield from read_table(suite.path.parent / src.file)
        return
    if src.data and data_dir is not None and (Path(data_dir) / src.data).is_file():
        yield from read_table(Path(data_dir) / src.data)
        return
    if src.hf:
        yield from _hf_rows(suite)
        return
    raise SuiteError(_missing_message(suite, data_dir))


def _missing_message(suite: Suite, data_dir: Path | None) -> str:
    src = suite.source
    where = (f"--overrefusal-data {data_dir} has no {src.data}" if data_dir is not None
             else "no data folder is set (--overrefusal-data DIR or OVERREFUSAL_DATA)")
    how = f"; {src.get_it}" if src.get_it else f"; point --overrefusal-data at a folder holding {src.data}"
    return f"suite {suite.id} ({suite.path}): {where}{how}"


def _hf_rows(suite: Suite) -> Iterator[Row]:
    src = suite.source
    try:
        import datasets  # heavy; only when a suite really needs the hub
    except ImportError:
        raise SuiteError(f"suite {suite.id}: data is on the HF hub ({src.hf}) but the 'datasets' package "
                         f"is missing; pip install datasets, or {src.get_it or 'provide a local copy'}") from None
    try:
        ds = datasets.load_dataset(src.hf, src.hf_config, split=src.hf_split, revision=src.hf_revision)
    except Exception as exc:  # offline, gated, renamed: all end the same way for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        how = src.get_it or "download it and pass --overrefusal-data"
        raise SuiteError(f"suite {suite.id}: cannot load {src.hf} from the HF hub ({first[:160]}); {how}") from None
    for row in ds:
        yield dict(row)


def read_table(path: Path) -> Iterator[Row]:
    """Rows of a .jsonl, .json (list of objects), .csv or .parquet file, as dicts."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise SuiteError(f"{path}: data file not found")
    if suffix == ".jsonl":
        yield from _jsonl(path)
    elif suffix == ".json":
        data = _json_load(path)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise SuiteError(f"{path}: a .json data file must hold a list of objects")
        yield from data
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)
    elif suffix == ".parquet":
        import pandas as pd
        yield from pd.read_parquet(path).to_dict(orient="records")
    else:
        raise SuiteError(f"{path}: unsupported data format {suffix!r}; use .jsonl, .json, .csv or .parquet")


def _jsonl(path: Path) -> Iterator[Row]:
    for _, row in json_objects(path, SuiteError, what="data file"):
        yield row


def _json_load(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def _to_cases(suite: Suite, rows: Iterable[Row]) -> Iterator[Case]:
    cols = suite.columns
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if any(str(row.get(k)) not in allowed for k, allowed in suite.where):
            continue
        prompt = row.get(cols.prompt)
        if not isinstance(prompt, str) or not prompt.strip():
            raise SuiteError(f"suite {suite.id}: row {index} has no text in column {cols.prompt!r} "
                             f"(columns: {', '.join(map(str, row))}); fix 'columns.prompt' in {suite.path}")
        context = row.get(cols.context) if cols.context else None
        if isinstance(context, str) and context.strip():
            prompt = f"{context.strip()}\n\n{prompt}"
        case_id = _case_id(row.get(cols.id) if cols.id else index)
        if case_id in seen:
            raise SuiteError(f"suite {suite.id}: duplicate case id {case_id!r} in column {cols.id!r}")
        seen.add(case_id)
        category = str(row.get(cols.category) or "") if cols.category else ""
        yield Case(suite_id=suite.id, case_id=case_id, prompt=prompt, expect=suite.expect, category=category)


def _to_pair_cases(suite: Suite, rows: Iterable[Row]) -> Iterator[PairCase]:
    cols = suite.columns
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if any(str(row.get(k)) not in allowed for k, allowed in suite.where):
            continue
        texts = []
        for column in (cols.prompt, cols.chosen, cols.rejected):
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                raise SuiteError(f"suite {suite.id}: row {index} has no text in column {column!r} "
                                 f"(columns: {', '.join(map(str, row))}); fix 'columns' in {suite.path}")
            texts.append(value)
        case_id = _case_id(row.get(cols.id) if cols.id else index)
        if case_id in seen:
            raise SuiteError(f"suite {suite.id}: duplicate case id {case_id!r} in column {cols.id!r}")
        seen.add(case_id)
        category = str(row.get(cols.category) or "") if cols.category else ""
        yield PairCase(suite_id=suite.id, case_id=case_id, prompt=texts[0], chosen=texts[1], rejected=texts[2],
                       category=category)


def _case_id(value: object) -> str:
    text = str(value).strip()
    return f"{int(text):04d}" if text.isdigit() else text


def _check_exclusions(suite: Suite, cases: Sequence[Case | PairCase]) -> None:
    known = {c.case_id for c in cases}
    for e in suite.exclude:
        if _case_id(e.id) not in known and not suite.where:
            raise SuiteError(f"{suite.path}: exclude id {e.id!r} matches no case of suite {suite.id}")
