import math
import random

import pytest
from hypothesis import given, strategies as st

from pytest_overrefusal.stats import Rate, wilson_interval


@given(st.integers(0, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_contains_point_estimate_and_stays_in_unit_interval(kn, confidence):
    k, n = kn
    lo, hi = wilson_interval(k, n, confidence)
    assert 0.0 <= lo <= hi <= 1.0
    if n:
        assert lo - 1e-12 <= k / n <= hi + 1e-12


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_is_symmetric_and_narrows_with_confidence(kn):
    k, n = kn
    lo, hi = wilson_interval(k, n)
    lo2, hi2 = wilson_interval(n - k, n)
    assert math.isclose(lo, 1 - hi2, abs_tol=1e-9) and math.isclose(hi, 1 - lo2, abs_tol=1e-9)
    nlo, nhi = wilson_interval(k, n, 0.8)
    assert lo <= nlo + 1e-12 and nhi <= hi + 1e-12


def test_wilson_known_value():
    # 1/4 at 95%: centre and half-width from the closed form
    lo, hi = wilson_interval(1, 4)
    assert (round(lo, 4), round(hi, 4)) == (0.0456, 0.6994)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_coverage_by_simulation():
    """Over a grid of n and p the 95% interval covers the true rate in >= 94% of draws (each cell >= 92%:
    binomial discreteness makes single cells oscillate around the nominal level)."""
    rng = random.Random(1)
    total = covered_all = 0
    for n in (20, 50, 100, 200):
        for p in (0.05, 0.1, 0.3, 0.5, 0.8):
            draws, covered = 1000, 0
            for _ in range(draws):
                k = sum(rng.random() < p for _ in range(n))
                lo, hi = wilson_interval(k, n)
                covered += lo <= p <= hi
            assert covered / draws >= 0.92, (n, p, covered / draws)
            total, covered_all = total + draws, covered_all + covered
    assert covered_all / total >= 0.94


@pytest.mark.parametrize("k,n", [(-1, 3), (4, 3), (0, -1)])
def test_wilson_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


def test_rate_text():
    assert str(Rate(1, 4)) == "0.250 (1/4; 95% CI [0.046, 0.699])"


from pytest_overrefusal.stats import holm, mcnemar_exact  # noqa: E402


def test_mcnemar_known_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # 10 discordant pairs all one way: 2 * 0.5**10
    assert math.isclose(mcnemar_exact(10, 0), 2 / 1024)
    assert math.isclose(mcnemar_exact(8, 2), 2 * (1 + 10 + 45) / 1024)


@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_is_symmetric_and_a_probability(a, b):
    p = mcnemar_exact(a, b)
    assert 0.0 < p <= 1.0 and p == mcnemar_exact(b, a)
    assert mcnemar_exact(a + 1, b) <= p or a < b  # more imbalance in the worse direction never raises p


@given(st.dictionaries(st.text(min_size=1, max_size=4), st.floats(0, 1), min_size=1, max_size=8))
def test_holm_is_monotone_and_dominates_raw(pvalues):
    adjusted = holm(pvalues)
    assert set(adjusted) == set(pvalues)
    for key, p in pvalues.items():
        assert p <= adjusted[key] + 1e-12 <= 1.0 + 1e-12
    order = sorted(pvalues, key=pvalues.get)
    assert all(adjusted[x] <= adjusted[y] + 1e-12 for x, y in zip(order, order[1:]))


def test_holm_known_values():
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == {"a": 0.03, "c": 0.06, "b": 0.06}


from pytest_overrefusal.stats import AdjustedRate, CardCounts, adjusted_rate, rogan_gladen  # noqa: E402

_sens_spec = st.tuples(st.floats(0.5, 1.0), st.floats(0.5, 1.0)).filter(lambda s: s[0] + s[1] > 1.001)


@given(st.floats(0, 1), _sens_spec)
def test_rogan_gladen_is_clipped_to_the_unit_interval(p, sens_spec):
    assert 0.0 <= rogan_gladen(p, *sens_spec) <= 1.0


@given(st.floats(0, 1), st.floats(0, 1), _sens_spec)
def test_rogan_gladen_is_monotone_in_the_observed_rate(p, q, sens_spec):
    lo, hi = sorted((p, q))
    assert rogan_gladen(lo, *sens_spec) <= rogan_gladen(hi, *sens_spec)


@given(st.floats(0, 1))
def test_rogan_gladen_is_the_identity_for_a_perfect_judge(p):
    assert rogan_gladen(p, 1.0, 1.0) == p


@given(st.floats(0.01, 0.99), _sens_spec)
def test_rogan_gladen_inverts_the_judged_rate(true_rate, sens_spec):
    sens, spec = sens_spec
    judged = true_rate * sens + (1 - true_rate) * (1 - spec)
    assert math.isclose(rogan_gladen(judged, sens, spec), true_rate, abs_tol=1e-9)


def test_rogan_gladen_known_value_and_chance_judge():
    assert math.isclose(rogan_gladen(0.2, 0.9, 0.95), 0.15 / 0.85)
    assert rogan_gladen(0.01, 0.9, 0.95) == 0.0 and rogan_gladen(0.99, 0.9, 0.95) == 1.0
    with pytest.raises(ValueError):
        rogan_gladen(0.3, 0.5, 0.5)


_cards = st.builds(CardCounts, st.integers(1, 700), st.integers(0, 60), st.integers(1, 700), st.integers(0, 60)) \
    .filter(lambda c: c.sensitivity + c.specificity > 1.05)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), _cards)
def test_adjusted_interval_holds_the_estimate_and_is_deterministic(kn, card):
    k, n = kn
    found = adjusted_rate(k, n, card, draws=200)
    assert 0.0 <= found.low <= found.value <= found.high <= 1.0
    assert found.value == rogan_gladen(k / n, card.sensitivity, card.specificity)
    assert adjusted_rate(k, n, card, draws=200) == found


def test_adjusted_interval_is_wider_than_wilson_and_narrows_with_a_bigger_card():
    small, big = CardCounts(62, 3, 68, 2), CardCounts(620, 30, 680, 20)
    lo_w, hi_w = wilson_interval(60, 250)
    wide, narrow = adjusted_rate(60, 250, small), adjusted_rate(60, 250, big)
    assert narrow.high - narrow.low > hi_w - lo_w
    assert wide.high - wide.low > narrow.high - narrow.low
    assert narrow.low < narrow.value < narrow.high


def test_adjusted_rate_with_a_near_perfect_card_is_close_to_wilson():
    found = adjusted_rate(50, 200, CardCounts(100_000, 0, 100_000, 0))
    lo, hi = wilson_interval(50, 200)
    assert found.value == 0.25
    assert abs(found.low - lo) < 0.01 and abs(found.high - hi) < 0.01


@pytest.mark.parametrize("k,n,card", [(0, 0, CardCounts(9, 1, 9, 1)), (3, 2, CardCounts(9, 1, 9, 1)),
                                      (1, 2, CardCounts(0, 0, 9, 1)), (1, 2, CardCounts(9, -1, 9, 1))])
def test_adjusted_rate_rejects_impossible_counts(k, n, card):
    with pytest.raises(ValueError):
        adjusted_rate(k, n, card)


def test_adjusted_interval_coverage_by_simulation():
    """Each draw measures a card of XSTest's size (645 refusals, 705 compliances) with the true error rates (the
    shipped keyword card's, and a weaker judge's), then judges a suite with those error rates; the 95% interval
    must cover the true rate in >= 94% of 600 draws (and in each grid cell of 50 draws, >= 86%: cells are small,
    so they wobble around the nominal level). 1000 bootstrap draws instead of the default 2000 keep the test
    quicker; coverage does not depend on it."""
    from pytest_overrefusal.judges.cards import load_cards

    keyword = load_cards()["keyword"]
    rng = random.Random(7)
    refusals, compliances = 645, 705
    covered_all = 0
    for true_rate in (0.0, 0.02, 0.1, 0.3, 0.6, 0.9):
        for sens, spec, n in ((keyword.sensitivity, keyword.specificity, 250), (0.85, 0.95, 100)):
            covered = 0
            for _ in range(50):
                tp = sum(rng.random() < sens for _ in range(refusals))
                tn = sum(rng.random() < spec for _ in range(compliances))
                judged = true_rate * sens + (1 - true_rate) * (1 - spec)
                k = sum(rng.random() < judged for _ in range(n))
                found = adjusted_rate(k, n, CardCounts(tp, refusals - tp, tn, compliances - tn), draws=1000)
                covered += found.low <= true_rate <= found.high
            assert covered >= 43, (true_rate, sens, spec, n, covered)
            covered_all += covered
    assert covered_all / 600 >= 0.94, covered_all


def test_adjusted_interval_does_not_collapse_when_the_suite_contradicts_the_card():
    """0 judged refusals in 250 with a judge whose card invents 2.7% refusals: the estimate is 0, but the upper
    bound stays about where a perfect-specificity judge would put it (exact upper bound of 0/250 over sens)."""
    card = CardCounts(621, 24, 686, 19)
    found = adjusted_rate(0, 250, card)
    exact_upper = 1 - 0.025 ** (1 / 250)  # Clopper-Pearson upper bound of 0 in 250 at 95%
    assert found.value == found.low == 0.0
    assert exact_upper * 0.9 < found.high < exact_upper / card.sensitivity * 1.1
    top = adjusted_rate(250, 250, card)
    assert top.value == top.high == 1.0 and 0.97 < top.low < 1.0


def test_wilson_alone_undercovers_when_the_judge_errs():
    """Why the adjustment exists: with a judge missing 20% of refusals, the plain Wilson interval of the judged
    rate rarely holds the true rate of a mid-sized suite."""
    rng = random.Random(3)
    true_rate, sens, spec, n = 0.4, 0.8, 0.95, 1000
    judged = true_rate * sens + (1 - true_rate) * (1 - spec)
    covered = 0
    for _ in range(200):
        k = sum(rng.random() < judged for _ in range(n))
        lo, hi = wilson_interval(k, n)
        covered += lo <= true_rate <= hi
    assert covered / 200 < 0.5


def test_a_card_no_better_than_chance_gives_no_adjusted_rate_instead_of_an_error():
    from pytest_overrefusal.stats import CardCounts, better_than_chance

    assert not better_than_chance(CardCounts(tp=5, fn=5, tn=4, fp=6))  # 0.5 + 0.4: adjusted_rate would raise
    assert better_than_chance(CardCounts(tp=9, fn=1, tn=9, fp=1))
