"""Simulated-annealing selection with the paper's schedule, plus a tie-break the paper lacks.

    tau_i = max(tau_f, tau_0 - beta * i)            (tau_0 = 0.1, beta = 0.005, tau_f = 0.05)
    accept x' with probability min(1, exp((F(x') - F(x_i)) / tau_i))

At saturated fitness (every reply a confident refusal) F(x') - F(x_i) is ~0, so the rule accepts every neutral
mutation and framing piles up ("In a video game, in a video game, ..."; methods.md 1.8). A *tie* is a difference
within `tie_tolerance`; the tie-break decides those alone:
  * "shorter" (default): accept a tie only when the candidate has fewer words than the current instruction;
  * "strict": never accept a tie (only real gains, or losses by the annealing draw, move the lineage);
  * "none": the paper's rule unchanged.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

TieBreak = Literal["shorter", "strict", "none"]
TIE_BREAKS: tuple[str, ...] = ("shorter", "strict", "none")


@dataclass(frozen=True)
class Schedule:
    tau0: float = 0.1
    beta: float = 0.005
    tau_final: float = 0.05

    def temperature(self, iteration: int) -> float:
        return max(self.tau_final, self.tau0 - self.beta * iteration)


def acceptance_probability(candidate: float, current: float, temperature: float) -> float:
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    gain = candidate - current
    return 1.0 if gain >= 0 else math.exp(gain / temperature)


@dataclass(frozen=True)
class Decision:
    accepted: bool
    probability: float
    note: str


class Annealer:
    """`rng` is injected so tests can fix the draws; the draw is taken only when the outcome is uncertain."""

    def __init__(self, rng: random.Random, schedule: Schedule = Schedule(), tie_break: TieBreak = "shorter",
                 tie_tolerance: float = 1e-3):
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        self.rng, self.schedule = rng, schedule
        self.tie_break, self.tie_tolerance = tie_break, tie_tolerance

    def decide(self, iteration: int, candidate: tuple[str, float], current: tuple[str, float]) -> Decision:
        (new_text, new_f), (cur_text, cur_f) = candidate, current
        if self.tie_break != "none" and abs(new_f - cur_f) <= self.tie_tolerance:
            if self.tie_break == "shorter" and len(new_text.split()) < len(cur_text.split()):
                return Decision(True, 1.0, "tie: candidate is shorter")
            return Decision(False, 0.0, f"tie ({self.tie_break}): kept the current instruction")
        probability = acceptance_probability(new_f, cur_f, self.schedule.temperature(iteration))
        if probability >= 1.0:
            return Decision(True, 1.0, "fitness gain")
        draw = self.rng.random()
        return Decision(draw < probability, probability, f"annealing draw {draw:.4f} vs p {probability:.4f}")


def is_better(candidate: tuple[str, float], best: tuple[str, float], tie_tolerance: float) -> bool:
    """Best-ever bookkeeping with the same notion of a tie: a real gain, or a tie won by a shorter text."""
    (new_text, new_f), (best_text, best_f) = candidate, best
    if new_f > best_f + tie_tolerance:
        return True
    return abs(new_f - best_f) <= tie_tolerance and len(new_text.split()) < len(best_text.split())
