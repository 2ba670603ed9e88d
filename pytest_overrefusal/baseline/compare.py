"""A run against a saved baseline, case by case: exact McNemar per suite, Holm across categories, and the
settings that make two runs incomparable. Loading and saving baselines is `storage.py`'s job."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..gates import SuiteOutcome
from ..stats import holm, mcnemar_exact
from ..suite import Suite
from .storage import Baseline


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
        from ..records import comparison_record
        from ..report.terminal import describe_comparison

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
