"""Values that flow through one EvoRefuse run: proposals, filter verdicts, scored candidates."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Proposal:
    """A mutant or a recombined child before filtering. `operator` is a strategy name or "recombine"."""

    instruction: str
    reason: str
    operator: str
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class SafetyVerdict:
    safe: bool
    filter: str  # which filter decided, e.g. "offline-rules@1" or "model[hf:/m]"
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fitness:
    """F(x) and its two parts, averaged over the K sampled replies."""

    value: float
    refusal_term: float  # mean_k log clamp(p_hat_k)
    confidence_term: float  # mean_k (lambda / T_k) * log p(y_k | x)
    refused: float  # share of the K replies the judge labelled a refusal
    samples: int

    def as_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class Candidate:
    proposal: Proposal
    verdict: SafetyVerdict
    fitness: Fitness | None = None  # only safe candidates are scored

    @property
    def instruction(self) -> str:
        return self.proposal.instruction

    def as_dict(self) -> dict:
        return {"instruction": self.proposal.instruction, "reason": self.proposal.reason,
                "operator": self.proposal.operator, "parents": list(self.proposal.parents),
                "filter": self.verdict.as_dict(),
                "fitness": None if self.fitness is None else self.fitness.as_dict()}


@dataclass
class Step:
    """One annealing iteration of one lineage, as logged in the output row."""

    iteration: int
    temperature: float
    current: str
    current_fitness: float  # re-scored with fresh samples this iteration
    candidates: list[Candidate] = field(default_factory=list)
    proposed: str | None = None
    proposed_fitness: float | None = None
    probability: float | None = None
    accepted: bool = False
    note: str = ""

    def as_dict(self) -> dict:
        return {"iter": self.iteration, "label": "accepted" if self.accepted else "rejected",
                "temperature": round(self.temperature, 6), "current": self.current,
                "current_fitness": round(self.current_fitness, 6), "instruction": self.proposed,
                "fitness": None if self.proposed_fitness is None else round(self.proposed_fitness, 6),
                "probability": None if self.probability is None else round(self.probability, 6),
                "note": self.note, "candidates": [c.as_dict() for c in self.candidates]}


class Mutator(Protocol):
    def mutate(self, jobs: Sequence[tuple[str, str]]) -> list[Proposal | None]:
        """(strategy name, instruction) pairs -> proposals aligned with them; None where the answer was malformed."""
        ...


class Recombiner(Protocol):
    def recombine(self, pairs: Sequence[tuple[str, str]]) -> list[Proposal | None]: ...


class SafetyFilter(Protocol):
    name: str

    def check(self, proposals: Sequence[Proposal]) -> list[SafetyVerdict]: ...


class Scorer(Protocol):
    """What the search needs from the fitness: `FitnessEstimator`, or a stand-in in tests."""

    def score(self, instructions: Sequence[str]) -> list[Fitness]: ...
