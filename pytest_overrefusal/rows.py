"""Rows -> cases: the declared columns exist, each row's prompt is text and its id usable and unique, the `where`
filter and exclusions leave something to run. Every complaint names the file and the row's place in it."""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

from .errors import SuiteError
from .suite import Case, PairCase, Suite
from .tables import Placed, Row
from .textfiles import cap, show

MAX_ID_CHARS = 120  # ids become pytest node names and cache keys


def to_cases(suite: Suite, origin: str, placed: Iterable[Placed]) -> list[Case]:
    cols = suite.columns
    cases, seen = [], {}
    for place, index, row in _kept_rows(suite, origin, placed):
        prompt = _text(suite, origin + place, row, cols.prompt, "columns.prompt")
        context = row.get(cols.context) if cols.context else None
        if isinstance(context, str) and context.strip():
            prompt = f"{context.strip()}\n\n{prompt}"
        cases.append(Case(suite_id=suite.id, case_id=_row_id(suite, origin, place, row, index, seen),
                          prompt=prompt, expect=suite.expect, category=_category(suite, row)))
    return cases


def to_pairs(suite: Suite, origin: str, placed: Iterable[Placed]) -> list[PairCase]:
    cols = suite.columns
    pairs, seen = [], {}
    for place, index, row in _kept_rows(suite, origin, placed):
        where = origin + place
        texts = [_text(suite, where, row, column, "columns") for column in (cols.prompt, cols.chosen, cols.rejected)]
        pairs.append(PairCase(suite_id=suite.id, case_id=_row_id(suite, origin, place, row, index, seen),
                              prompt=texts[0], chosen=texts[1], rejected=texts[2], category=_category(suite, row)))
    return pairs


def finish(suite: Suite, cases: list, origin: str) -> list:
    """Apply the exclusions; an exclusion that matches nothing, or none left to run, is an error."""
    known = {c.case_id for c in cases}
    for e in suite.exclude:
        if case_id(e.id) not in known and not suite.where:
            raise SuiteError(f"{suite.path}: exclude id {show(e.id)} matches no case of suite {suite.id}")
    excluded = {case_id(e.id) for e in suite.exclude}
    kept = [c for c in cases if c.case_id not in excluded]
    if not kept:
        raise SuiteError(f"{suite.path}: 'exclude' removes all {len(cases)} cases of {origin}; no cases left to "
                         f"run, so there is nothing to gate; remove exclusions")
    return kept


def case_id(value: object) -> str:
    """Digits are zero-padded to four ("7" and 7 -> "0007"); a very long digit string stays as it is (int() of
    thousands of digits raises)."""
    text = str(value).strip()
    return f"{int(text):04d}" if text.isdigit() and text.isascii() and len(text) <= 40 else text


def _kept_rows(suite: Suite, origin: str, placed: Iterable[Placed]):
    """(place, row number in the file, row) of the rows the `where` filter keeps, after checking columns once."""
    rows = list(placed)
    if not rows:
        raise SuiteError(f"{origin}: data file holds no rows; suite {suite.id} ({suite.path}) needs at least one "
                         f"(an empty rate would gate nothing)")
    _declared_columns_exist(suite, origin, rows)
    kept = [(place, index, row) for index, (place, row) in enumerate(rows)
            if all(str(row.get(k)) in allowed for k, allowed in suite.where)]
    if not kept:
        wanted = "; ".join(f"{k} in {cap(', '.join(v), 60)}" for k, v in suite.where)
        raise SuiteError(f"{suite.path}: the 'where' filter ({wanted}) keeps none of the {len(rows)} rows of "
                         f"{origin}; fix 'where'")
    return kept


def _declared_columns_exist(suite: Suite, origin: str, rows: Sequence[Placed]) -> None:
    present: dict[str, None] = {}
    for _, row in rows:
        present.update(dict.fromkeys(map(str, row)))
    cols = suite.columns
    declared = [("columns.prompt", cols.prompt), ("columns.id", cols.id), ("columns.category", cols.category),
                ("columns.context", cols.context)]
    if suite.kind == "preference":
        declared += [("columns.chosen", cols.chosen), ("columns.rejected", cols.rejected)]
    declared += [("where", key) for key, _ in suite.where]
    for key, column in declared:
        if column is not None and column not in present:
            raise SuiteError(f"{origin}: has no column {show(column)} (named by '{key}' in {suite.path}); its "
                             f"columns are {cap(', '.join(present), 200) or 'none'}")


def _text(suite: Suite, where: str, row: Row, column: str, key: str) -> str:
    value = row.get(column)
    if isinstance(value, str) and value.strip():
        return value
    got = "empty text" if isinstance(value, str) else ("nothing" if value is None else show(value))
    raise SuiteError(f"{where}: column {show(column)} must hold text, got {got}; fix the row, or '{key}' in "
                     f"{suite.path}")


def _row_id(suite: Suite, origin: str, place: str, row: Row, index: int, seen: dict[str, str]) -> str:
    """The row's case id, unique in the file (`seen`: id -> place of the row that had it first)."""
    column = suite.columns.id
    if column is None:
        return case_id(index)
    where = origin + place
    value = row.get(column)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)  # parquet and pandas turn integer columns with gaps into floats
    ok = (isinstance(value, str) or (isinstance(value, numbers.Integral) and not isinstance(value, bool)))
    text = str(value).strip() if ok else ""
    if not text or len(text) > MAX_ID_CHARS or not text.isprintable():
        got = "nothing" if value is None else show(value)
        raise SuiteError(f"{where}: column {show(column)} (columns.id) must hold a case id (text or an integer, "
                         f"at most {MAX_ID_CHARS} printable characters), got {got}; fix the row or 'columns.id' "
                         f"in {suite.path}")
    ident = case_id(text)
    if ident in seen:
        raise SuiteError(f"{where}: duplicate case id {show(ident)} (first at{seen[ident]}) in column "
                         f"{show(column)}; ids must be unique")
    seen[ident] = place
    return ident


def _category(suite: Suite, row: Row) -> str:
    if not suite.columns.category:
        return ""
    value = row.get(suite.columns.category)
    return cap(str(value), 200) if value is not None and value == value else ""  # value != value: NaN
