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
