"""A suite's refusal rate against its gate, overall and per category."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Sequence

from .engine import CaseResult
from .stats import AdjustedRate, Rate, adjusted_rate, better_than_chance
from .suite import Gate, Suite

if TYPE_CHECKING:
    from .judges.cards import JudgeCard


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

    @cached_property
    def judge_tag(self) -> str:
        """The judge behind every verdict ("id@version"), or "" when verdicts come from several."""
        tags = {r.verdict.judge for r in self.results}
        return tags.pop() if len(tags) == 1 else ""

    @cached_property
    def judge_card(self) -> tuple[JudgeCard | None, str]:
        """The error card measured for this suite's judge, or None and why there is none."""
        from .judges.cards import card_for

        if not self.results:
            return None, "no verdicts to adjust"
        if not self.judge_tag:
            tags = sorted({r.verdict.judge for r in self.results})
            return None, f"verdicts come from several judges ({', '.join(tags)[:120]}), so rates are not adjusted"
        return card_for(self.judge_tag)

    @cached_property
    def adjusted(self) -> AdjustedRate | None:
        """The rate corrected for the judge's measured errors (Rogan-Gladen), with an interval that carries both
        the suite's sampling error and the card's; None without a usable card (see `judge_card`)."""
        card = self.judge_card[0]
        rate = self.rate
        if card is None or rate.n == 0 or not better_than_chance(card.counts):
            return None  # no case evaluated (all skipped), or a card Rogan-Gladen cannot invert
        return adjusted_rate(rate.k, rate.n, card.counts, rate.confidence)

    def adjusted_record(self) -> dict:
        """The report's judge-adjusted fields: rate and interval (None without a usable card), the card, and a
        note saying why there is no adjusted rate."""
        card, note = self.judge_card
        found = self.adjusted
        return {"adjusted_rate": None if found is None else found.value,
                "adjusted_ci_low": None if found is None else found.low,
                "adjusted_ci_high": None if found is None else found.high,
                "judge_card": None if card is None else card.to_dict(), "adjusted_note": note}

    @property
    def gated_value(self) -> float | None:
        """The number the gate compares: the rate, the conservative Wilson bound, or the conservative bound of the
        judge-adjusted interval (None when the judge has no usable card)."""
        rate = self.rate
        upper = self.gate.max_refusal_rate is not None
        if self.gate.statistic == "point":
            return rate.value
        if self.gate.statistic == "adjusted":
            found = self.adjusted
            return None if found is None else found.high if upper else found.low
        lo, hi = rate.interval
        return hi if upper else lo

    @property
    def passed(self) -> bool:
        if not self.results:
            return False
        value = self.gated_value
        if value is None:  # an adjusted gate without a card cannot pass
            return False
        if self.gate.max_refusal_rate is not None:
            return value <= self.gate.max_refusal_rate + 1e-12
        return value >= self.gate.min_refusal_rate - 1e-12  # type: ignore[operator]

    def message(self) -> str:
        verdict = "passes" if self.passed else "FAILS"
        bound = self.gated_value
        if self.gate.statistic == "point":
            value = ""
        elif bound is None:
            value = f"; no judge-adjusted bound: {self.judge_card[1]}"
        elif self.gate.statistic == "adjusted":
            found = self.adjusted
            value = f", judge-adjusted {found.value:.3f} [{found.low:.3f}, {found.high:.3f}], bound {bound:.3f}"
        else:
            value = f", bound {bound:.3f}"
        return (f"{self.suite.id}: refusal rate {self.rate}{value}; gate {self.gate.describe()} {verdict} "
                f"(expect {self.suite.expect}, {len(self.mismatches)} mismatching case(s))")


STATISTICS = ("point", "wilson", "adjusted")


def outcome(suite: Suite, results: Sequence[CaseResult], gate: Gate | None = None) -> SuiteOutcome:
    gate = gate or suite.gate
    if gate.statistic not in STATISTICS:  # manifests are checked on load; a marker's statistic= arrives here
        from .errors import SuiteError
        from .textfiles import show

        raise SuiteError(f"{suite.id}: gate statistic {show(gate.statistic)} is not one of "
                         f"{', '.join(STATISTICS)}; fix the marker's statistic= (or the manifest's gate.statistic)")
    return SuiteOutcome(suite=suite, results=tuple(results), gate=gate)
