"""Suite manifests (YAML) -> validated `Suite` values: every key checked, every problem one line naming the file
and the key. Each suite kind's part of a manifest is read by its entry in `KIND_PARSERS`."""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from . import safe_yaml
from .download import pin_problem
from .errors import SuiteError
from .suite import SCHEMA, Columns, Exclusion, Gate, Generation, Preference, Source, Suite
from .textfiles import cap, read_text, show

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0/C1 controls except tab and newlines
MAX_MANIFEST_BYTES = 1 << 20  # the largest shipped one is ~1 KB; more is a mistake or an attack

_TOP = {"schema", "id", "title", "description", "expect", "source", "columns", "where", "exclude",
        "gate", "generation", "citation", "license", "kind", "ches", "reference"}
_PREFERENCE_ONLY = {"ches", "reference"}
_PROMPTS_ONLY = {"expect", "generation"}
_SOURCE = {"data", "file", "hf", "get_it", "url", "sha256"}
_HF = {"id", "config", "split", "revision"}
_COLUMNS = {"prompt", "id", "category", "context"}
_PAIR_COLUMNS = {"prompt", "id", "category", "chosen", "rejected"}
_GATE = {"max_refusal_rate", "min_refusal_rate", "statistic", "confidence"}
_GENERATION = {"system_prompt", "max_new_tokens", "temperature"}


def load_manifest(path: Path) -> Suite:
    """Parse and validate one manifest; any problem raises SuiteError naming the file and key."""
    path = Path(path)
    text = read_text(path, SuiteError, "suite manifest", MAX_MANIFEST_BYTES)
    return parse_manifest(safe_yaml.load(text, path, SuiteError), path)


def parse_manifest(raw: Any, path: Path) -> Suite:
    v = _Validator(path)
    if raw is None or (isinstance(raw, dict) and "schema" not in raw):
        raise SuiteError(f"{path}: not a suite manifest: it has no 'schema: {SCHEMA}' line; add that line "
                         f"(see the manifest format in the README)")
    top = v.mapping(raw, "manifest", _TOP)
    if top.get("schema") != SCHEMA:
        v.fail("schema", f"must be {SCHEMA!r}, got {show(top.get('schema'))}")
    sid = v.string(top, "id", required=True)
    if not _ID.match(sid):
        v.fail("id", f"{show(sid)} must be lowercase letters, digits, '.', '_' or '-'")
    kind = v.string(top, "kind") or "prompts"
    if kind not in KIND_PARSERS:
        default, *others = (repr(k) for k in KIND_PARSERS)
        v.fail("kind", f"must be {default} (the default) or {', '.join(others)}, got {show(kind)}")
    return KIND_PARSERS[kind](v, top, sid, path)


def _prompt_suite(v: "_Validator", top: dict, sid: str, path: Path) -> Suite:
    for key in sorted(_PREFERENCE_ONLY & set(top)):
        v.fail(key, "belongs to preference suites only (add 'kind: preference')")
    expect = v.string(top, "expect", required=True)
    if expect not in ("comply", "refuse"):
        v.fail("expect", f"must be 'comply' or 'refuse', got {show(expect)}")
    return Suite(
        id=sid,
        title=v.string(top, "title") or sid,
        description=v.string(top, "description") or "",
        expect=expect,  # type: ignore[arg-type]
        source=_source(v, top),
        columns=_columns(v, top),
        where=_where(v, top),
        exclude=_exclusions(v, top),
        gate=_gate(v, top, expect),
        generation=_generation(v, top),
        citation=v.string(top, "citation") or "",
        license=v.string(top, "license") or "",
        path=path,
    )


def _preference_suite(v: "_Validator", top: dict, sid: str, path: Path) -> Suite:
    for key in sorted(_PROMPTS_ONLY & set(top)):
        v.fail(key, "does not apply to preference suites (kind: preference); remove it")
    cols = v.mapping(top.get("columns"), "columns", _PAIR_COLUMNS) if "columns" in top else {}
    ches = v.mapping(top.get("ches"), "ches", {"flag_above"}, required=True)
    flag_above = v.number(ches, "flag_above", "ches", required=True)
    gate = v.mapping(top.get("gate"), "gate", {"max_flagged_fraction"}, required=True)
    max_flagged = v.fraction(gate, "max_flagged_fraction", "gate")
    if max_flagged is None:
        v.fail("gate.max_flagged_fraction", "is required for preference suites (a number between 0 and 1)")
    reference = v.mapping(top.get("reference"), "reference", {"model", "max_logp_drop"}) if "reference" in top else {}
    ref_model = v.string(reference, "model", "reference", required=bool(reference))
    max_drop = v.number(reference, "max_logp_drop", "reference", required=bool(reference))
    if max_drop is not None and max_drop < 0:
        v.fail("reference.max_logp_drop", f"must be >= 0 (a drop in nats), got {show(max_drop)}")
    return Suite(
        id=sid,
        title=v.string(top, "title") or sid,
        description=v.string(top, "description") or "",
        expect="comply",  # unused: preference items compare scores, not verdicts
        source=_source(v, top),
        columns=Columns(prompt=v.string(cols, "prompt", "columns") or "prompt",
                        id=v.string(cols, "id", "columns"),
                        category=v.string(cols, "category", "columns"),
                        chosen=v.string(cols, "chosen", "columns") or "chosen",
                        rejected=v.string(cols, "rejected", "columns") or "rejected"),
        where=_where(v, top),
        exclude=_exclusions(v, top),
        gate=Gate(max_flagged_fraction=max_flagged),
        citation=v.string(top, "citation") or "",
        license=v.string(top, "license") or "",
        path=path,
        kind="preference",
        preference=Preference(flag_above=flag_above, reference=ref_model, max_logp_drop=max_drop),  # type: ignore[arg-type]
    )


#: suite kind -> the reader of its part of a manifest (a new kind adds one line here and one in kinds/__init__.py)
KIND_PARSERS = {"prompts": _prompt_suite, "preference": _preference_suite}


def _source(v: "_Validator", top: dict) -> Source:
    src = v.mapping(top.get("source"), "source", _SOURCE, required=True)
    hf = v.mapping(src.get("hf"), "source.hf", _HF) if "hf" in src else {}
    data, file = v.string(src, "data", "source"), v.string(src, "file", "source")
    hf_id = v.string(hf, "id", "source.hf", required=bool(hf))
    if data and file:
        v.fail("source", "give either 'data' (in the data mirror) or 'file' (beside the manifest), not both")
    url, sha256 = v.string(src, "url", "source"), v.string(src, "sha256", "source")
    if not (data or file or hf_id or url):
        v.fail("source", "needs one of 'data', 'file', 'url' or 'hf'")
    pin = pin_problem(url, sha256)
    if pin:
        v.fail(*pin)
    if file:
        _relative_inside(v, "source.file", file, "the manifest's folder; for data kept elsewhere use "
                         "'source.data' and --overrefusal-data")
    if data:
        _relative_inside(v, "source.data", data, "the data folder (--overrefusal-data)")
    return Source(data=data, file=file, hf=hf_id, hf_config=v.string(hf, "config", "source.hf"),
                  hf_split=v.string(hf, "split", "source.hf") or "train",
                  hf_revision=v.string(hf, "revision", "source.hf"),
                  get_it=v.string(src, "get_it", "source"), url=url, sha256=sha256)


def _relative_inside(v: "_Validator", key: str, value: str, folder: str) -> None:
    """A manifest may name files only below its folder: an absolute path or '..' could read any file on the
    machine (and send it to a model). Symlinks are checked when the file is read (sources.py)."""
    if not value.isprintable():  # a NUL or newline in a path: never a real file name, and it breaks messages
        v.fail(key, f"{show(value)} holds a control character; give a plain relative path")
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in posix.parts or ".." in windows.parts:
        v.fail(key, f"{show(value)} must be a relative path inside {folder}")


def _columns(v: "_Validator", top: dict) -> Columns:
    cols = v.mapping(top.get("columns"), "columns", _COLUMNS) if "columns" in top else {}
    return Columns(prompt=v.string(cols, "prompt", "columns") or "prompt",
                   id=v.string(cols, "id", "columns"),
                   category=v.string(cols, "category", "columns"),
                   context=v.string(cols, "context", "columns"))


def _where(v: "_Validator", top: dict) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if "where" not in top:
        return ()
    where = v.mapping(top["where"], "where", None)
    out = []
    for key, value in where.items():
        values = value if isinstance(value, list) else [value]
        if not isinstance(key, str) or not values or not all(isinstance(x, (str, int, float)) for x in values):
            v.fail("where", f"entry {show(key)}: {show(value)} must map a column name to a value or a list of values")
        out.append((key, tuple(str(x) for x in values)))
    return tuple(out)


def _exclusions(v: "_Validator", top: dict) -> tuple[Exclusion, ...]:
    items = top.get("exclude") or []
    if not isinstance(items, list):
        v.fail("exclude", "must be a list of {id, reason}")
    out = []
    for i, item in enumerate(items):
        entry = v.mapping(item, f"exclude[{i}]", {"id", "reason"}, required=True)
        raw_id = entry.get("id")
        if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
            v.fail(f"exclude[{i}].id", f"must be a case id, got {show(raw_id)}")
        reason = v.string(entry, "reason", f"exclude[{i}]", required=True)
        out.append(Exclusion(id=str(raw_id), reason=reason))
    return tuple(out)


def _gate(v: "_Validator", top: dict, expect: str) -> Gate:
    gate = v.mapping(top.get("gate"), "gate", _GATE, required=True)
    hi = v.fraction(gate, "max_refusal_rate", "gate")
    lo = v.fraction(gate, "min_refusal_rate", "gate")
    if (hi is None) == (lo is None):
        v.fail("gate", "needs exactly one of 'max_refusal_rate' or 'min_refusal_rate'")
    statistic = v.string(gate, "statistic", "gate") or "point"
    if statistic not in ("point", "wilson", "adjusted"):
        v.fail("gate.statistic",
               f"must be 'point' or 'wilson', or 'adjusted' (the judge-adjusted bound), got {show(statistic)}")
    confidence = v.fraction(gate, "confidence", "gate")
    if confidence is not None and not 0 < confidence < 1:
        v.fail("gate.confidence", f"must be strictly between 0 and 1, got {show(confidence)}")
    return Gate(max_refusal_rate=hi, min_refusal_rate=lo, statistic=statistic,  # type: ignore[arg-type]
                confidence=confidence if confidence is not None else 0.95)


def _generation(v: "_Validator", top: dict) -> Generation:
    gen = v.mapping(top.get("generation"), "generation", _GENERATION) if "generation" in top else {}
    max_new = gen.get("max_new_tokens", 128)
    if not isinstance(max_new, int) or isinstance(max_new, bool) or max_new < 1:
        v.fail("generation.max_new_tokens", f"must be a positive integer, got {show(max_new)}")
    temperature = gen.get("temperature", 0.0)
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
            or not 0 <= temperature < float("inf"):  # NaN and .inf fail too: they would sample noise
        v.fail("generation.temperature", f"must be a finite number >= 0, got {show(temperature)}")
    return Generation(system_prompt=v.string(gen, "system_prompt", "generation"),
                      max_new_tokens=max_new, temperature=float(temperature))


class _Validator:
    """Small helpers that turn a wrong shape into a SuiteError naming file and key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> None:
        raise SuiteError(f"{self.path}: '{key}' {problem}; see the manifest format in the README")

    def mapping(self, value: Any, key: str, allowed: set[str] | None, required: bool = False) -> dict:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, got {type(value).__name__}")
        if allowed is not None:
            unknown = sorted(cap(k if isinstance(k, str) else show(k), 40) for k in value if k not in allowed)
            if unknown:
                self.fail(key, f"has unknown key(s) {cap(', '.join(unknown), 160)}; "
                               f"allowed: {', '.join(sorted(allowed))}")
        return value

    def string(self, mapping: dict, key: str, where: str = "", required: bool = False) -> str | None:
        full = f"{where}.{key}" if where else key
        value = mapping.get(key)
        if value is None:
            if required:
                self.fail(full, "is required")
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(full, f"must be a non-empty string, got {show(value)}")
        bad = _CONTROL.search(value)
        if bad:  # an escape sequence would reach terminals and reports; a NUL, file names
            self.fail(full, f"holds the control character {bad.group()!r}; remove it")
        return value

    def number(self, mapping: dict, key: str, where: str, required: bool = False) -> float | None:
        value = mapping.get(key)
        if value is None:
            if required:
                self.fail(f"{where}.{key}", "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            self.fail(f"{where}.{key}", f"must be a number, got {show(value)}")
        return float(value)

    def fraction(self, mapping: dict, key: str, where: str) -> float | None:
        value = mapping.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            self.fail(f"{where}.{key}", f"must be a number between 0 and 1, got {show(value)}")
        return float(value)
