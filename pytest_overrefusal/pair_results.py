"""Preference-pair results: a pair's CHES scores under the model, a suite's flagged fraction and gate, and the
scoring calls (torch only when a preference suite runs); their report records are `records.py`'s."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import SuiteError
from .suite import PairCase, Preference, Suite


@dataclass(frozen=True)
class PairResult:
    """A preference pair under the model under test: its CHES scores and, with a reference, log p(chosen)."""

    case: PairCase
    ches: float
    ln_ches: float
    flagged: bool  # ln-CHES above the suite's flag_above: a likelihood-displacement risk
    logp_chosen: float | None = None
    logp_chosen_reference: float | None = None

    @property
    def logp_drop(self) -> float | None:
        if self.logp_chosen is None or self.logp_chosen_reference is None:
            return None
        return self.logp_chosen_reference - self.logp_chosen


@dataclass(frozen=True)
class PairOutcome:
    suite: Suite
    results: tuple[PairResult, ...]

    @property
    def flagged(self) -> list[PairResult]:
        return [r for r in self.results if r.flagged]

    @property
    def fraction(self) -> float:
        return len(self.flagged) / len(self.results) if self.results else 0.0

    @property
    def passed(self) -> bool:
        budget = self.suite.gate.max_flagged_fraction or 0.0
        return bool(self.results) and self.fraction <= budget + 1e-12

    def message(self) -> str:
        verdict = "passes" if self.passed else "FAILS"
        return (f"{self.suite.id}: {len(self.flagged)}/{len(self.results)} pair(s) flagged "
                f"(ln-CHES > {preference(self.suite).flag_above:g}), fraction {self.fraction:.3f}; "
                f"gate {self.suite.gate.describe()} {verdict}")


def preference(suite: Suite) -> Preference:
    if suite.preference is None:
        raise SuiteError(f"suite {suite.id} ({suite.path}) is not a preference suite")
    return suite.preference


def ches_scores(backend, cases: list[PairCase]) -> list[list[float]]:
    from .ches import Pair, score_with_backend  # torch; only when a preference suite runs

    scores = score_with_backend(backend, [Pair(c.prompt, c.chosen, c.rejected, c.case_id) for c in cases])
    return [[s.ches, s.ln_ches] for s in scores]


def chosen_logps(backend, cases: list[PairCase]) -> list[float]:
    from .backends.base import ChatRequest, require

    require(backend, "logprobs", "the reference check of a preference suite (log p(chosen))")
    return [float(x) for x in backend.logprobs([ChatRequest.user(c.prompt) for c in cases],
                                                [c.chosen for c in cases])]
