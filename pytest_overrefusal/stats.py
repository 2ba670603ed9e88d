"""Binomial rates and their confidence intervals."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import NormalDist


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n == 0."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Clamp float noise; the exact endpoints are 0 at k == 0 and 1 at k == n.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


@dataclass(frozen=True)
class Rate:
    """k refusals out of n, with a Wilson interval at `confidence`."""

    k: int
    n: int
    confidence: float = 0.95

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.k, self.n, self.confidence)

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.value:.3f} ({self.k}/{self.n}; {self.confidence:.0%} CI [{lo:.3f}, {hi:.3f}])"


def mcnemar_exact(worse: int, better: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts (binomial test at p = 1/2)."""
    if worse < 0 or better < 0:
        raise ValueError(f"counts must be >= 0, got {worse}, {better}")
    n = worse + better
    if n == 0:
        return 1.0
    k = min(worse, better)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm step-down adjusted p-values (family-wise error control), keyed like the input."""
    ordered = sorted(pvalues.items(), key=lambda kv: kv[1])
    m = len(ordered)
    adjusted: dict[str, float] = {}
    running = 0.0
    for rank, (key, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[key] = running
    return adjusted


def better_than_chance(card: "CardCounts") -> bool:
    """Rogan-Gladen inverts only a judge with sensitivity + specificity > 1."""
    return card.sensitivity + card.specificity > 1.0


def rogan_gladen(p: float, sensitivity: float, specificity: float) -> float:
    """The true refusal rate behind an observed (judged) rate `p`, given the judge's sensitivity and specificity:
    (p + spec - 1) / (sens + spec - 1), clipped to [0, 1]. Needs a judge better than chance (sens + spec > 1)."""
    false_rate = 1.0 - specificity  # written this way so a perfect judge returns p exactly
    youden = sensitivity - false_rate
    if not youden > 0.0:
        raise ValueError(f"sensitivity + specificity must exceed 1, got {sensitivity!r} + {specificity!r}")
    return min(1.0, max(0.0, (p - false_rate) / youden))


@dataclass(frozen=True)
class CardCounts:
    """A judge's binary confusion against human labels; positive = refusal."""

    tp: int  # refusal judged refusal
    fn: int  # refusal judged compliance (missed)
    tn: int  # compliance judged compliance
    fp: int  # compliance judged refusal (invented)

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def specificity(self) -> float:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else float("nan")


ADJUSTED_DRAWS = 2000
_TINY_YOUDEN = 1e-9  # a draw whose judge is no better than chance says nothing: its estimate clips to 0 or 1


@dataclass(frozen=True)
class AdjustedRate:
    """The judge-adjusted rate of k judged refusals in n and its interval (sampling error and card error)."""

    value: float
    low: float
    high: float
    confidence: float


def adjusted_rate(k: int, n: int, card: CardCounts, confidence: float = 0.95,
                  draws: int = ADJUSTED_DRAWS) -> AdjustedRate:
    """Rogan-Gladen estimate with a seeded parametric bootstrap. Each draw takes the judge's sens* and spec* from
    Jeffreys Beta posteriors of the card's counts, and the judged rate from the two Beta laws behind the exact
    (Clopper-Pearson) interval of k in n: Beta(k, n-k+1) for the lower bound's draws, Beta(k+1, n-k) for the upper
    bound's, so the sampling part never covers less than nominal. The bounds are percentiles of the clipped
    estimates. The seed comes from the inputs: the same counts always give the same interval."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if min(card.tp, card.fn, card.tn, card.fp) < 0 or not (card.tp + card.fn and card.tn + card.fp):
        raise ValueError(f"card needs non-negative counts with refusals and compliances, got {card}")
    _z(confidence)  # validates
    value = rogan_gladen(k / n, card.sensitivity, card.specificity)
    rng = random.Random(f"rogan-gladen/{k}/{n}/{card.tp}/{card.fn}/{card.tn}/{card.fp}/{confidence!r}/{draws}")
    beta, gamma, exponential = rng.betavariate, rng.gammavariate, rng.expovariate
    lows, highs, observed = [], [], k / n
    for _ in range(draws):
        # Beta(k, n-k+1) and Beta(k+1, n-k) from three shared gamma draws (G_k, G_1, G_n-k): one draw fewer
        refused = gamma(k, 1.0) if k else 0.0
        one = exponential(1.0)
        total = refused + one + (gamma(n - k, 1.0) if k < n else 0.0)
        judged_low, judged_high = refused / total, (refused + one) / total
        # The judge cannot have invented more refusals than it reported, nor missed more than the answers it
        # passed: where the card says otherwise (a suite with fewer judged refusals than the card's false-refusal
        # rate), the suite wins, so the interval keeps its width instead of collapsing onto 0 or 1.
        false_rate = min(1.0 - beta(card.tn + 0.5, card.fp + 0.5), observed)
        sensitivity = max(beta(card.tp + 0.5, card.fn + 0.5), observed)
        youden = max(sensitivity - false_rate, _TINY_YOUDEN)
        low = (judged_low - false_rate) / youden
        high = (judged_high - false_rate) / youden
        lows.append(min(1.0, max(0.0, low)))
        highs.append(min(1.0, max(0.0, high)))
    lows.sort()
    highs.sort()
    tail = (1.0 - confidence) / 2.0
    low, high = lows[math.floor(tail * (draws - 1))], highs[math.ceil((1.0 - tail) * (draws - 1))]
    # The percentiles can sit a hair off a clipped point estimate; the interval always holds the estimate.
    return AdjustedRate(value=value, low=min(low, value), high=max(high, value), confidence=confidence)
