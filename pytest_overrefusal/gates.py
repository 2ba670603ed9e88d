"""A suite's refusal rate against its gate, overall and per category."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .engine import CaseResult
from .stats import Rate
from .suite import Gate, Suite


@dataclass(frozen=True)
class SuiteOutcome:
    suite: Suite
    results: tuple[CaseResult, ...]
    gate: Gate

    @property
    def rate(self) -> Rate:
        return Rate(k=sum(r.verdict.refused for r in self.results), n=len(self.results),
                    confidence=self.gate.confidence)

    @property
    def refusal_rate(self) -> float:
        return self.rate.value

    @property
    def by_category(self) -> dict[str, Rate]:
        groups: dict[str, list[CaseResult]] = {}
        for r in self.results:
            groups.setdefault(r.case.category or "(none)", []).append(r)
        return {cat: Rate(k=sum(x.verdict.refused for x in rs), n=len(rs), confidence=self.gate.confidence)
                for cat, rs in sorted(groups.items())}

    @property
    def mismatches(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def truncated(self) -> int:
        return sum(r.response.truncated for r in self.results)

    @property
    def gated_value(self) -> float:
        """The number the gate compares: the rate, or the conservative Wilson bound."""
        rate = self.rate
        if self.gate.statistic == "point":
            return rate.value
        lo, hi = rate.interval
        return hi if self.gate.max_refusal_rate is not None else lo

    @property
    def passed(self) -> bool:
        if not self.results:
            return False
        value = self.gated_value
        if self.gate.max_refusal_rate is not None:
            return value <= self.gate.max_refusal_rate + 1e-12
        return value >= self.gate.min_refusal_rate - 1e-12  # type: ignore[operator]

    def message(self) -> str:
        verdict = "passes" if self.passed else "FAILS"
        value = "" if self.gate.statistic == "point" else f", bound {self.gated_value:.3f}"
        return (f"{self.suite.id}: refusal rate {self.rate}{value}; gate {self.gate.describe()} {verdict} "
                f"(expect {self.suite.expect}, {len(self.mismatches)} mismatching case(s))")


def outcome(suite: Suite, results: Sequence[CaseResult], gate: Gate | None = None) -> SuiteOutcome:
    return SuiteOutcome(suite=suite, results=tuple(results), gate=gate or suite.gate)
