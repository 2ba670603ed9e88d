"""Reading reports back: `load(path)` gives the per-case table as a pandas DataFrame, `load_pairs(path)` the
preference pairs of a JSON report, `load_report(path)` the JSON report itself with its structure checked. Columns
and the schema are `records.py`'s (`CaseRecord`, `PairRecord`)."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import OverrefusalError
from .jsonl import load_document
from .records import PAIR_FIELDS, SCHEMA as REPORT_SCHEMA


def load(path: str | Path):
    """Cases of a .json, .csv or .parquet report (one row per case, the report's case fields as columns)."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return pd.DataFrame.from_records(load_report(path, require=("cases",))["cases"])
        if suffix == ".csv":
            return pd.read_csv(path, keep_default_na=False, dtype={"case_id": str})
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (OSError, ValueError, KeyError) as exc:
        raise OverrefusalError(f"{path}: not a readable pytest-overrefusal report ({exc})") from None
    raise OverrefusalError(f"{path}: unknown report format {suffix!r}; use .json, .csv or .parquet")


def load_pairs(path: str | Path):
    """Preference pairs of a .json report (one row per pair: texts, CHES, ln-CHES, flagged, log p(chosen))."""
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise OverrefusalError(f"{path}: preference pairs are kept in .json and .html reports; load a .json one")
    return pd.DataFrame.from_records(load_report(path).get("pairs", []), columns=PAIR_FIELDS)


def load_report(path: str | Path, require: tuple[str, ...] = ()) -> dict:
    """A JSON report whose structure is what the printers expect; anything else is one OverrefusalError naming the
    file and the first field that is wrong. `require`: top-level lists that must be present besides `suites`."""
    path = Path(path)
    try:
        doc = load_document(path, OverrefusalError, "report", _GIVE)
    except UnicodeDecodeError:
        raise OverrefusalError(f"{path}: not a pytest-overrefusal JSON report (not UTF-8 text); {_GIVE}") from None
    except OSError as exc:
        raise OverrefusalError(f"{path}: cannot read ({exc.strerror or type(exc).__name__}); {_GIVE}") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError) and not exc.doc.strip():
            raise OverrefusalError(f"{path}: not JSON (the file is empty); {_GIVE}") from None
        where = f"line {exc.lineno} column {exc.colno}: " if isinstance(exc, json.JSONDecodeError) else ""
        raise OverrefusalError(f"{path}: not JSON ({where}{getattr(exc, 'msg', exc)}); {_GIVE}") from None
    problem = report_problem(doc, require)
    if problem:
        raise OverrefusalError(f"{path}: {problem}")
    return doc


_GIVE = "give the .json file written by --overrefusal-report"


# -- the structure the printers read ---------------------------------------------------------------------------
BASELINE_SCHEMA = "pytest-overrefusal/baseline-1"
_SUITE = {"id": "string", "n": "integer", "refusals": "integer", "rate": "number", "ci_low": "number",
          "ci_high": "number", "gate": "object"}
_GATE = {"passed": "boolean", "statistic": "string", "confidence": "number"}
_COMPARED = {"delta": "number", "p_value": "number", "regressed": "boolean"}
_CATEGORY = {"n": "integer", "refusals": "integer", "rate": "number", "ci_low": "number", "ci_high": "number"}
_ADJUSTED = {"adjusted_ci_low": "number", "adjusted_ci_high": "number"}


def report_problem(doc: object, require: tuple[str, ...] = ()) -> str | None:
    """The first thing in `doc` that is not what a pytest-overrefusal JSON report holds, as a phrase; None if
    nothing is. Only what `overrefusal report` and `results.load` read is checked, so older reports still load."""
    if not isinstance(doc, dict):
        return f"not a pytest-overrefusal JSON report (the top level is {_kind(doc)}, expected an object); {_GIVE}"
    schema = doc.get("schema", REPORT_SCHEMA)
    if schema == BASELINE_SCHEMA:
        return (f"a baseline file ({BASELINE_SCHEMA}), not a report: --overrefusal-baseline reads it; "
                f"`overrefusal report` reads the .json written by --overrefusal-report")
    if schema != REPORT_SCHEMA:
        return f"not a pytest-overrefusal JSON report: schema is {_short(schema)}, expected {REPORT_SCHEMA!r}"
    problem = (_fields(doc, {"model": "string", "judge": "string"}, "", optional=True)
               or _fields(doc, {k: "list" for k in ("suites", *require)}, "")
               or _fields(doc, {"cases": "list", "pairs": "list", "not_evaluated": "list"}, "", optional=True))
    if problem is None:
        for i, suite in enumerate(doc["suites"]):
            problem = _suite_problem(suite, f"suites[{i}]")
            if problem:
                break
    for i, missing in enumerate(doc.get("not_evaluated", []) if problem is None else ()):
        where = f"not_evaluated[{i}]"
        problem = (None if isinstance(missing, dict) else f"{where} is {_kind(missing)}, expected an object") \
            or _fields(missing, {"id": "string", "error": "string"}, where)
        if problem:
            break
    if problem is None:
        for key in ("cases", "pairs"):
            bad = next((i for i, row in enumerate(doc.get(key, [])) if not isinstance(row, dict)), None)
            if bad is not None:
                problem = f"{key}[{bad}] is {_kind(doc[key][bad])}, expected an object"
                break
    return None if problem is None else f"not a pytest-overrefusal JSON report: {problem}; {_GIVE}"


def _suite_problem(suite: object, where: str) -> str | None:
    if not isinstance(suite, dict):
        return f"{where} is {_kind(suite)}, expected an object"
    problem = _fields(suite, _SUITE, where) or _fields(suite["gate"], _GATE, f"{where}.gate")
    if problem:
        return problem
    gate = suite["gate"]
    for key in ("max_refusal_rate", "min_refusal_rate"):
        if key not in gate:
            return f"{where}.gate has no {key} (null when unused)"
        if gate[key] is not None and not _is(gate[key], "number"):
            return f"{where}.gate.{key} is {_kind(gate[key])}, expected a number or null"
    if gate.get("max_refusal_rate") is None and gate.get("min_refusal_rate") is None:
        return f"{where}.gate names no max_refusal_rate or min_refusal_rate"
    if suite.get("adjusted_rate") is not None:
        problem = _fields(suite, {"adjusted_rate": "number", **_ADJUSTED}, where)
    compared = suite.get("baseline")
    if problem is None and compared is not None:
        problem = _fields(suite, {"baseline": "object"}, where) or \
            _fields(compared, {"comparable": "boolean"}, f"{where}.baseline")
        if problem is None and compared["comparable"]:
            problem = _fields(compared, _COMPARED, f"{where}.baseline")
    if problem is None and "categories" in suite:
        problem = _fields(suite, {"categories": "object"}, where)
        for name, category in suite["categories"].items() if problem is None else ():
            inner = f"{where}.categories.{_short(name, quote=False)}"
            problem = (None if isinstance(category, dict) else f"{inner} is {_kind(category)}, expected an object") \
                or _fields(category, _CATEGORY, inner)
            if problem:
                break
    return problem


def _fields(record: dict, wanted: dict[str, str], where: str, optional: bool = False) -> str | None:
    for key, kind in wanted.items():
        name = f"{where}.{key}" if where else key
        if key not in record:
            if optional:
                continue
            return f"{where or 'the file'} has no {key}"
        if not _is(record[key], kind):
            return f"{name} is {_kind(record[key])}, expected {_ARTICLE[kind]}"
    return None


def _is(value: object, kind: str) -> bool:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        try:
            float(value)  # a 400-digit integer cannot be printed as a rate
        except OverflowError:
            return False
        return True
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "object": dict, "list": list, "boolean": bool}[kind])


_ARTICLE = {"number": "a number", "integer": "an integer", "string": "a string", "object": "an object",
            "list": "a list", "boolean": "a boolean"}


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer" if _is(value, "number") else "an integer too large for a rate"
    return {float: "a number", str: "a string", list: "a list", dict: "an object"}.get(type(value), "something else")


def _short(value: object, quote: bool = True) -> str:
    text = repr(value) if quote else str(value)
    return " ".join(text.split()) if len(text) <= 60 else " ".join(text[:60].split()) + "..."
