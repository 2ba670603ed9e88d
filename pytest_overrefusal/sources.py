"""Where a suite's rows come from: the local data mirror, a file beside the manifest, or HF datasets."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator, TypeVar

from .errors import DataUnavailable, SuiteError
from .rows import finish, to_cases, to_pairs
from .suite import Case, PairCase, Suite
from .tables import Placed, Row, placed_rows
from .textfiles import cap, show


def load_cases(suite: Suite, data_dir: Path | None, limit: int | None = None) -> list[Case]:
    """All cases of `suite` after filters and exclusions, optionally a deterministic subsample."""
    if suite.kind == "preference":
        raise SuiteError(f"suite {suite.id} ({suite.path}) is a preference suite: it holds (prompt, chosen, "
                         f"rejected) pairs, not prompts to answer; run it as a manifest with pytest")
    origin, placed = _rows(suite, data_dir)
    cases = finish(suite, to_cases(suite, origin, placed), origin)
    return subsample(cases, limit) if limit else cases


def load_pair_cases(suite: Suite, data_dir: Path | None, limit: int | None = None) -> list[PairCase]:
    """The pairs of a `kind: preference` suite after filters and exclusions, optionally subsampled."""
    origin, placed = _rows(suite, data_dir)
    pairs = finish(suite, to_pairs(suite, origin, placed), origin)
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


def _rows(suite: Suite, data_dir: Path | None) -> tuple[str, Iterator[Placed]]:
    """(where the rows come from, its rows with their places)."""
    src = suite.source
    if src.file:
        path = suite.path.parent / src.file
        _stay_inside(suite, path)
        return str(path), placed_rows(path)
    if src.data and data_dir is not None and (Path(data_dir) / src.data).is_file():
        return str(Path(data_dir) / src.data), placed_rows(Path(data_dir) / src.data)
    if src.url and src.sha256:  # a data folder that holds the file won above; else the pinned download
        from .download import fetch

        try:
            path = fetch(suite.id, src.url, src.sha256, src.data)
        except SuiteError as exc:
            raise DataUnavailable(str(exc)) from None
        return str(path), placed_rows(path)
    if src.hf:
        return f"{cap(src.hf, 120)} (HF hub)", _hf_rows(suite)
    raise DataUnavailable(_missing_message(suite, data_dir))


def _stay_inside(suite: Suite, path: Path) -> None:
    """`source.file` may not leave the manifest's folder, also not through a symlink: a manifest from elsewhere
    (a cloned repository) could otherwise send any readable file on this machine to the model under test."""
    try:
        folder, target = suite.path.parent.resolve(), path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise SuiteError(f"{suite.path}: 'source.file' {show(suite.source.file)} cannot be resolved "
                         f"({cap(str(exc), 120)}); fix the link or the path") from None
    if folder not in target.parents:
        raise SuiteError(f"{suite.path}: 'source.file' {show(suite.source.file)} leads outside the manifest's "
                         f"folder; keep the file beside the manifest, or use 'source.data' with --overrefusal-data "
                         f"for data kept elsewhere")


def _missing_message(suite: Suite, data_dir: Path | None) -> str:
    src = suite.source
    where = (f"--overrefusal-data {data_dir} has no {src.data}" if data_dir is not None
             else "no data folder is set (--overrefusal-data DIR or OVERREFUSAL_DATA)")
    how = f"; {cap(src.get_it, 300)}" if src.get_it else f"; point --overrefusal-data at a folder holding {src.data}"
    return f"suite {suite.id} ({suite.path}): {where}{how}"


def _hf_rows(suite: Suite) -> Iterator[Placed]:
    src = suite.source
    try:
        import datasets  # heavy; only when a suite really needs the hub
    except ImportError:
        how = cap(src.get_it or "provide a local copy", 300)
        raise DataUnavailable(f"suite {suite.id}: data is on the HF hub ({cap(src.hf, 120)}) but the 'datasets' "
                         f"package is missing; pip install datasets, or {how}") from None
    try:
        ds = datasets.load_dataset(src.hf, src.hf_config, split=src.hf_split, revision=src.hf_revision)
    except Exception as exc:  # offline, gated, renamed: all end the same way for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        how = cap(src.get_it or "download it and pass --overrefusal-data", 300)
        raise DataUnavailable(f"suite {suite.id}: cannot load {cap(src.hf, 120)} from the HF hub ({cap(first)}); {how}"
                         ) from None
    for index, row in enumerate(ds):
        yield f": row {index}", dict(row)


def read_table(path: Path) -> Iterator[Row]:
    """Rows of a .jsonl, .json (list of objects), .csv or .parquet file, as dicts."""
    for _, row in placed_rows(Path(path)):
        yield row
