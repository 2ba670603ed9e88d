"""Paired regression gates: per-case verdicts saved from one run, compared case by case in a later one."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import BaselineError
from .gates import SuiteOutcome
from .stats import holm, mcnemar_exact
from .suite import Suite

SCHEMA = "pytest-overrefusal/baseline-1"


@dataclass(frozen=True)
class Baseline:
    path: Path
    model: str
    judge: str
    suites: dict[str, dict]  # id -> {"generation": {...}, "cases": {case_id: {"refused", "category"}}}


def save_baseline(path: Path, suites: Iterable[dict], cases: Iterable[dict], *, model: str, judge: str) -> None:
    """From report records: each suite's generation settings and every case's binary verdict."""
    doc: dict = {"schema": SCHEMA, "model": model, "judge": judge,
                 "suites": {s["id"]: {"generation": s["generation"], "cases": {}} for s in suites}}
    for c in cases:
        if c["suite"] in doc["suites"]:
            doc["suites"][c["suite"]]["cases"][c["case_id"]] = {"refused": c["refused"], "category": c["category"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def load_baseline(path: Path) -> Baseline:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"--overrefusal-baseline {path}: cannot read ({exc.strerror or exc}); save one "
                            f"first with --overrefusal-save-baseline") from None
    except ValueError as exc:
        raise BaselineError(f"--overrefusal-baseline {path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("suites"), dict):
        raise BaselineError(f"--overrefusal-baseline {path}: not a {SCHEMA} file")
    problem = _structure_problem(doc["suites"])
    if problem:
        raise BaselineError(f"--overrefusal-baseline {path}: {problem}; save a new one with "
                            f"--overrefusal-save-baseline")
    return Baseline(path=Path(path), model=str(doc.get("model")), judge=str(doc.get("judge")), suites=doc["suites"])


def _structure_problem(suites: dict) -> str:
    """What compare() and incompatibility() would trip over, checked once when the file is loaded."""
    def kind(value) -> str:
        return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)

    for sid, saved in suites.items():
        where = f"suites[{_short(sid)}]"
        if not isinstance(saved, dict):
            return f"{where} must be an object with 'generation' and 'cases', got {kind(saved)}"
        if not isinstance(saved.get("generation"), dict):
            return f"{where}.generation must be an object, got {kind(saved.get('generation'))}"
        cases = saved.get("cases")
        if not isinstance(cases, dict):
            return f"{where}.cases must be an object mapping case ids to verdicts, got {kind(cases)}"
        for cid, verdict in cases.items():
            if not isinstance(verdict, dict) or not isinstance(verdict.get("refused"), bool):
                return f"{where}.cases[{_short(cid)}] must be an object with a true/false 'refused'"
            if not isinstance(verdict.get("category"), (str, type(None))):
                return f"{where}.cases[{_short(cid)}].category must be a string or null"
    return ""


def _short(value) -> str:
    text = repr(str(value))
    return text if len(text) <= 60 else text[:57] + "...'"


def generation_settings(suite: Suite, max_new_tokens: int | None) -> dict:
    """Everything besides the model that changes an answer; baselines only compare like with like."""
    g = suite.generation
    return {"system_prompt": g.system_prompt, "max_new_tokens": max_new_tokens or g.max_new_tokens,
            "temperature": g.temperature}


def incompatibility(baseline: Baseline, o: SuiteOutcome, judge: str, max_new_tokens: int | None) -> str:
    """Why comparing this suite to the baseline would compare unlike things, or ''."""
    saved = baseline.suites.get(o.suite.id)
    if saved is None:
        return f"{baseline.path} has no suite {o.suite.id!r}"
    if baseline.judge != judge:
        return f"{baseline.path} was judged by {baseline.judge}, this run by {judge}"
    now = generation_settings(o.suite, max_new_tokens)
    if saved.get("generation") != now:
        return f"{baseline.path} used generation settings {saved.get('generation')}, this run {now}"
    return ""


@dataclass(frozen=True)
class Comparison:
    suite_id: str
    paired: int
    worse: int  # cases right in the baseline, wrong now
    better: int
    p_value: float
    delta: float  # change in the mismatch rate over the paired cases (positive = worse)
    categories: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # worse, better, Holm p
    reasons: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        return bool(self.reasons)

    def describe(self) -> str:
        from .report.files import comparison_record
        from .report.terminal import describe_comparison

        return describe_comparison(comparison_record(self))


def compare(baseline: Baseline, o: SuiteOutcome, *, alpha: float, tolerance: float | None) -> Comparison:
    saved = baseline.suites[o.suite.id]["cases"]
    wrong_when_refused = o.suite.expect == "comply"
    pairs = []  # (category, wrong before, wrong now)
    for r in o.results:
        before = saved.get(r.case.case_id)
        if before is not None:
            pairs.append((r.case.category or "(none)", before["refused"] == wrong_when_refused, not r.passed))
    worse = sum(1 for _, b, n in pairs if n and not b)
    better = sum(1 for _, b, n in pairs if b and not n)
    p = mcnemar_exact(worse, better)
    delta = (worse - better) / len(pairs) if pairs else 0.0
    reasons = []
    if worse > better and p < alpha:
        reasons.append(f"significantly worse (p={p:.4g} < alpha={alpha:g})")
    if tolerance is not None and delta > tolerance:
        reasons.append(f"mismatch rate up by {delta:.3f} > tolerance {tolerance:g}")
    categories = _by_category(pairs)
    for cat, (w, b, adjusted) in categories.items():
        if w > b and adjusted < alpha:
            reasons.append(f"category {cat!r} significantly worse ({w} worse, {b} better, Holm p={adjusted:.4g})")
    return Comparison(o.suite.id, len(pairs), worse, better, p, delta, categories, tuple(reasons))


def _by_category(pairs: list[tuple[str, bool, bool]]) -> dict[str, tuple[int, int, float]]:
    counts: dict[str, list[int]] = {}
    for cat, before, now in pairs:
        c = counts.setdefault(cat, [0, 0])
        c[0] += now and not before
        c[1] += before and not now
    if len(counts) < 2:
        return {}
    adjusted = holm({cat: mcnemar_exact(w, b) for cat, (w, b) in counts.items()})
    return {cat: (w, b, adjusted[cat]) for cat, (w, b) in sorted(counts.items())}
