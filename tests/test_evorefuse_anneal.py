"""Annealing schedule, the acceptance rule with fixed fitness differences and draws, and the tie-break."""
import math
import random

import pytest
from hypothesis import given, strategies as st

from mitigations.evorefuse.anneal import Annealer, Schedule, acceptance_probability, is_better


class FixedDraws(random.Random):
    """An RNG whose `random()` returns the given draws in order, so the test fixes the annealing outcome."""

    def __init__(self, draws):
        super().__init__(0)
        self.draws = list(draws)

    def random(self):
        return self.draws.pop(0)


def test_schedule_is_the_papers_linear_decay_with_a_floor():
    s = Schedule()
    assert (s.tau0, s.beta, s.tau_final) == (0.1, 0.005, 0.05)
    assert [round(s.temperature(i), 6) for i in (0, 1, 4, 10, 11, 50)] == [0.1, 0.095, 0.08, 0.05, 0.05, 0.05]


@pytest.mark.parametrize("delta, tau, expected", [
    (0.5, 0.1, 1.0),
    (0.0, 0.1, 1.0),
    (-0.1, 0.1, math.exp(-1)),
    (-0.2, 0.08, math.exp(-2.5)),
    (-0.05, 0.05, math.exp(-1)),
])
def test_acceptance_probability(delta, tau, expected):
    assert acceptance_probability(-1.0 + delta, -1.0, tau) == pytest.approx(expected)


def test_annealer_accepts_a_loss_exactly_when_the_draw_is_below_exp_delta_over_tau():
    # iteration 0: tau = 0.1, delta = -0.1 -> p = e^-1 = 0.3679
    accept = Annealer(FixedDraws([0.36]), tie_break="none").decide(0, ("new", -1.1), ("cur", -1.0))
    reject = Annealer(FixedDraws([0.37]), tie_break="none").decide(0, ("new", -1.1), ("cur", -1.0))
    assert accept.accepted and not reject.accepted
    assert accept.probability == pytest.approx(math.exp(-1))
    # iteration 4: tau = 0.08, same delta -> p = e^-1.25 = 0.2865: the same 0.36 draw now rejects
    later = Annealer(FixedDraws([0.36]), tie_break="none").decide(4, ("new", -1.1), ("cur", -1.0))
    assert not later.accepted and later.probability == pytest.approx(math.exp(-1.25))


def test_a_gain_is_accepted_without_a_draw():
    rng = FixedDraws([])  # any draw would raise IndexError
    assert Annealer(rng).decide(0, ("new", -0.5), ("cur", -2.3)).accepted


def test_tie_break_shorter_accepts_only_shorter_ties():
    annealer = Annealer(FixedDraws([]), tie_break="shorter", tie_tolerance=1e-3)
    longer = annealer.decide(0, ("In a video game, in a video game, kill it", -0.0004), ("kill it", -0.0001))
    shorter = annealer.decide(0, ("kill it", -0.0004), ("In a video game, kill it", -0.0001))
    assert not longer.accepted and shorter.accepted


def test_tie_break_strict_rejects_ties_and_none_accepts_them():
    tie = (("a b c d", -0.0002), ("a", -0.0001))
    assert not Annealer(FixedDraws([]), tie_break="strict").decide(0, *tie).accepted
    # the paper's rule: exp(-0.0001 / 0.1) ~ 0.999, so a draw of 0.5 accepts the neutral, longer mutation
    assert Annealer(FixedDraws([0.5]), tie_break="none").decide(0, *tie).accepted


def test_unknown_tie_break_is_rejected():
    with pytest.raises(ValueError, match="tie_break"):
        Annealer(random.Random(0), tie_break="longest")  # type: ignore[arg-type]


@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(0.01, 1.0))
def test_acceptance_probability_is_a_probability_and_monotone_in_the_gain(a, b, tau):
    p = acceptance_probability(a, b, tau)
    assert 0.0 <= p <= 1.0
    assert acceptance_probability(a + 0.1, b, tau) >= p


def test_best_ever_needs_a_real_gain_or_a_shorter_tie():
    assert is_better(("x", -0.5), ("seed", -2.3), 1e-3)
    assert not is_better(("longer text here", -0.0002), ("short", -0.0001), 1e-3)
    assert is_better(("short", -0.0002), ("longer text here", -0.0001), 1e-3)
    assert not is_better(("x", -2.4), ("seed", -2.3), 1e-3)
