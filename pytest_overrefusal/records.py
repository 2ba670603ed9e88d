"""Typed report records, built once from results: a case, a suite's gate, a prompt suite, a preference pair, a
preference suite, and a suite that could not be evaluated.

`to_dict()` is what test reports carry (pytest-xdist sends plain data) and what the JSON report holds, key for
key in field order; `from_dict()` reads one back, a missing field taking its default (older reports load).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

VERSION = 1
SCHEMA = f"pytest-overrefusal/report-{VERSION}"
_STOPPED = {"verdict": "verdict", "length": "length"}  # finish_reason -> why generation stopped; else the end (eos)


class _Record:
    NESTED: ClassVar[dict[str, type]] = {}  # field -> record type of a nested record

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {k: v for k, v in data.items() if k in known}
        for name, kind in cls.NESTED.items():
            if isinstance(values.get(name), dict):
                values[name] = kind.from_dict(values[name])
        return cls(**values)


@dataclass(frozen=True)
class _Row(_Record):
    """What every case row starts with: where it belongs."""

    suite: str
    case_id: str
    category: str = ""


@dataclass(frozen=True)
class CaseRecord(_Row):
    expect: str = ""
    prompt: str = ""
    response: str = ""
    finish_reason: str = ""
    truncated: bool = False
    label: str = ""
    refused: bool = False
    score: float = 0.0
    judge: str = ""
    reason: str = ""
    passed: bool = False
    cached: bool = False
    new_tokens: int | None = None
    stopped: str = "eos"
    label_settled: bool = True

    @classmethod
    def of(cls, r) -> CaseRecord:
        """From an `engine.CaseResult`."""
        return cls(suite=r.case.suite_id, case_id=r.case.case_id, category=r.case.category, expect=r.case.expect,
                   prompt=r.case.prompt, response=r.response.text, finish_reason=r.response.finish_reason,
                   truncated=r.response.truncated, label=r.verdict.label, refused=r.verdict.refused,
                   score=r.verdict.score, judge=r.verdict.judge, reason=r.verdict.reason, passed=r.passed,
                   cached=r.cached, new_tokens=r.response.completion_tokens,
                   stopped=_STOPPED.get(r.response.finish_reason, "eos"),
                   # a refusal stopped on its verdict: `refused` is final, the partial/full split was read on less
                   label_settled=not (r.response.finish_reason == "verdict" and r.verdict.refused))


CASE_FIELDS = tuple(f.name for f in fields(CaseRecord))


def case_record(r) -> dict:
    """A case result as the report's plain data."""
    return CaseRecord.of(r).to_dict()


@dataclass(frozen=True)
class GateRecord(_Record):
    """A prompt suite's gate as the report holds it: its bound, statistic, the gated value and the verdict."""

    max_refusal_rate: float | None = None
    min_refusal_rate: float | None = None
    statistic: str = "point"
    confidence: float = 0.95
    value: float | None = None
    passed: bool = False

    def describe(self) -> str:
        """The gate in `Gate.describe`'s words (the one gate text)."""
        from .suite import Gate

        return Gate(self.max_refusal_rate, self.min_refusal_rate, self.statistic, self.confidence).describe()

    @property
    def threshold(self) -> float | None:
        return self.max_refusal_rate if self.max_refusal_rate is not None else self.min_refusal_rate

    def meets(self, rate: float) -> bool:
        """Whether a (category's) point rate is on the passing side of the threshold."""
        if self.max_refusal_rate is not None and rate > self.max_refusal_rate:
            return False
        return self.min_refusal_rate is None or rate >= self.min_refusal_rate


@dataclass(frozen=True)
class SuiteRecord(_Record):
    """A prompt suite's row of the report: rate, interval, gate, judge-adjusted rate, categories, baseline."""

    NESTED: ClassVar[dict[str, type]] = {"gate": GateRecord}
    id: str
    title: str = ""
    manifest: str = ""
    expect: str = ""
    n: int = 0
    refusals: int = 0
    rate: float = 0.0
    ci_low: float = 0.0
    ci_high: float = 0.0
    confidence: float = 0.95
    truncated: int = 0
    mismatches: int = 0
    gate: GateRecord = field(default_factory=GateRecord)
    adjusted_rate: float | None = None
    adjusted_ci_low: float | None = None
    adjusted_ci_high: float | None = None
    judge_card: dict | None = None
    adjusted_note: str = ""
    categories: dict[str, dict] | None = None  # name -> {n, refusals, rate, ci_low, ci_high}
    citation: str = ""
    license: str = ""
    generation: dict | None = None  # what besides the model changes an answer (baselines compare like with like)
    baseline: dict | None = None  # the comparison with a baseline: comparable, reason or the McNemar figures
    skipped_too_long: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, o, **extra: Any) -> SuiteRecord:
        """From a `gates.SuiteOutcome`; `extra`: generation, baseline, skipped_too_long."""
        rate = o.rate
        lo, hi = rate.interval
        gate = GateRecord(o.gate.max_refusal_rate, o.gate.min_refusal_rate, o.gate.statistic, o.gate.confidence,
                          o.gated_value, o.passed)
        return cls(id=o.suite.id, title=o.suite.title, manifest=str(o.suite.path), expect=o.suite.expect,
                   n=rate.n, refusals=rate.k, rate=rate.value, ci_low=lo, ci_high=hi, confidence=rate.confidence,
                   truncated=o.truncated, mismatches=len(o.mismatches), gate=gate, **o.adjusted_record(),
                   categories={cat: {"n": r.n, "refusals": r.k, "rate": r.value, "ci_low": r.interval[0],
                                     "ci_high": r.interval[1]} for cat, r in o.by_category.items()},
                   citation=o.suite.citation, license=o.suite.license, **extra)

    @property
    def passed(self) -> bool:
        """The gate and, when there is one, the baseline comparison."""
        compared = self.baseline
        return self.gate.passed and (compared is None or (compared["comparable"] and not compared["regressed"]))


def comparison_record(found) -> dict | None:
    """A `baseline.compare.Comparison` (or why there is none) as the report's plain data."""
    if found is None:
        return None
    if isinstance(found, str):
        return {"comparable": False, "reason": found}
    return {"comparable": True, "paired": found.paired, "worse": found.worse, "better": found.better,
            "p_value": found.p_value, "delta": found.delta, "regressed": found.regressed,
            "reasons": list(found.reasons),
            "categories": {c: {"worse": w, "better": b, "p_holm": p} for c, (w, b, p) in found.categories.items()}}


@dataclass(frozen=True)
class PairRecord(_Row):
    """A preference pair under the model: its texts and scores."""

    prompt: str = ""
    chosen: str = ""
    rejected: str = ""
    ches: float = 0.0
    ln_ches: float = 0.0
    flagged: bool = False
    logp_chosen: float | None = None
    logp_chosen_reference: float | None = None
    logp_drop: float | None = None

    @classmethod
    def of(cls, r) -> PairRecord:
        """From a `pair_results.PairResult`."""
        c = r.case
        return cls(suite=c.suite_id, case_id=c.case_id, category=c.category, prompt=c.prompt, chosen=c.chosen,
                   rejected=c.rejected, ches=r.ches, ln_ches=r.ln_ches, flagged=r.flagged,
                   logp_chosen=r.logp_chosen, logp_chosen_reference=r.logp_chosen_reference,
                   logp_drop=r.logp_drop)


PAIR_FIELDS = tuple(f.name for f in fields(PairRecord))


@dataclass(frozen=True)
class PairSuiteRecord(_Record):
    """A preference suite's row of the report: the flagged share against its gate, and the reference check."""

    id: str
    n: int = 0
    flagged: int = 0
    fraction: float = 0.0
    gate: str = ""
    passed: bool = False
    flag_above: float = 0.0
    reference: str | None = None
    max_logp_drop: float | None = None
    over_drop: int = 0
    model: str = ""
    mean_ln_ches: float = 0.0
    scores: dict | None = None  # pair scores computed / taken from the cache


@dataclass(frozen=True)
class ErrorRecord(_Record):
    """A suite that could not be evaluated, and why."""

    id: str
    error: str = ""
    model: str = ""


@dataclass(frozen=True)
class GateReport(_Record):
    """What a suite's gate item carries to the controller: the suite's record and its rows (cases or pairs),
    with the model and judge that produced them. `kind` names the suite kind (kinds/)."""

    kind: str
    suite: dict
    rows: list[dict]
    model: str = ""
    judge: str = ""
