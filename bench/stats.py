"""Uncertainty for every stated number: a median's interval, a ratio's interval, a verdict.

A verdict between two timings is ``faster``, ``slower`` or ``same`` (no difference
this run can see), and ``unknown`` where the data cannot carry one (too few
rounds): never "ahead" inside the noise. Three rules together decide: the ratio's
interval must exclude 1 (a difference these measurements can see); it must reach
the minimum effect (``min_effect``, 10% by default), so that a change whose whole
interval lies under 10% (a tiny but consistent drift between two processes) is not
called; and the measured ratio itself must be at least :data:`POINT_SHARE` of the
minimum effect (1.08 for 10%). The third rule is for the many cells of one
comparison: a 95% interval leaves 1 out by chance in about 3% of unchanged cells,
almost always with a measured change well under 10%, and an A/A run (the same
code twice) called 9 of 306 cells changed without it, 3 with it; a true 10% change
measures at about 1.10 and is still called (25 of 26 cells made 10% slower, the
same as without it). ``tools/verdict_checks.py`` measures both figures.

Intervals come from the raw rounds where a record has them (a distribution-free
interval for the median from the binomial order statistics), else from the
summary a record always carries (median, IQR, rounds: the normal approximation
behind boxplot notches, median +- 1.96 * 1.2533 * IQR / 1.349 / sqrt(n)). Rounds
inside one process are correlated, so either interval is a lower bound on what
a second run sees; the minimum effect is the margin for that.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: confidence of every interval the harness states
CONFIDENCE = 0.95
#: the smallest change called a change (a ratio of 1.10 or 1/1.10)
MIN_EFFECT = 0.10
#: the measured ratio must reach this share of the minimum effect to be called (1.08 for 10%)
POINT_SHARE = 0.8
#: fewest rounds whose median gets an interval: below it the verdict is ``unknown``
MIN_ROUNDS = 6

VERDICTS = ("faster", "slower", "same", "unknown")


def z_value(confidence: float) -> float:
    """The two-sided normal quantile of a confidence (1.96 at 95%): every interval's, from here."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


@functools.lru_cache(maxsize=256)
def t_value(confidence: float, df: int) -> float:
    """Student's two-sided t quantile with ``df`` degrees of freedom (4.30 at 95% and 2; 1.96 as df grows).

    With x = sqrt(df) tan(u), P(|T| <= x) = 2 c sqrt(df) * integral of cos(u)^(df-1) from 0 to u: smooth on
    [0, pi/2), integrated by Simpson's rule, solved for u by bisection."""
    nu = float(df)
    const = 2 * math.exp(math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2)) / math.sqrt(math.pi)

    def mass(u: float, steps: int = 200) -> float:
        h = u / steps
        f = [math.cos(i * h) ** (nu - 1) for i in range(steps + 1)]
        return const * h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))

    lo, hi = 0.0, math.pi / 2
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mass(mid) < confidence else (lo, mid)
    return math.sqrt(nu) * math.tan((lo + hi) / 2)


#: c_k with c_k * MAD median-unbiased for the standard deviation of k normal draws, k = 3 to 20 (simulated,
#: a million draws each: the median absolute deviation of few draws runs small, of an odd number most)
MAD_CONSTANTS = (2.773, 2.205, 1.987, 1.874, 1.791, 1.745, 1.706, 1.681, 1.657, 1.64, 1.624, 1.616, 1.603)
MAD_CONSTANTS += (1.596, 1.588, 1.582, 1.576, 1.571)


def robust_sigma(xs: Sequence[float]) -> float:
    """A standard deviation from three or more values that a minority of wild ones cannot move: their median
    absolute deviation from the median, times :data:`MAD_CONSTANTS` (1.4826 past 20 values)."""
    if len(xs) < 3:
        raise ValueError(f"robust_sigma needs three values or more, got {len(xs)}")
    mid = statistics.median(xs)
    k = len(xs)
    factor = MAD_CONSTANTS[k - 3] if k - 3 < len(MAD_CONSTANTS) else 1.4826
    return factor * statistics.median(abs(x - mid) for x in xs)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval; ``lo``/``hi`` infinite where none can be given."""

    value: float
    lo: float
    hi: float

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo > 0

    def contains(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    def relative_halfwidth(self) -> float:
        """Half the interval's width on a log scale (0.05: about +-5%); infinite when unbounded."""
        if not self.bounded or self.value <= 0:
            return math.inf
        return (math.log(self.hi) - math.log(self.lo)) / 2


UNBOUNDED = math.inf


def median_interval(samples: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The median of raw rounds and a distribution-free interval for it (binomial order statistics)."""
    xs = sorted(float(x) for x in samples if math.isfinite(float(x)))
    n = len(xs)
    if not n:
        return Interval(math.nan, 0.0, UNBOUNDED)
    mid = n // 2
    median = xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2
    if n < MIN_ROUNDS:
        return Interval(median, 0.0, UNBOUNDED)
    j = _order_rank(n, confidence)
    if j == 0:
        return Interval(median, 0.0, UNBOUNDED)
    return Interval(median, xs[j - 1], xs[n - j])


@functools.lru_cache(maxsize=4096)
def _order_rank(n: int, confidence: float) -> int:
    """The widest j with P(Binomial(n, 1/2) < j) <= alpha/2: [x_(j), x_(n-j+1)] (1-based) covers the median.

    Summed exactly in floating point (log-space terms, so that 20,000 rounds cost no big integers)."""
    alpha, cumulative, j = 1 - confidence, 0.0, 0
    log_half = n * math.log(0.5)
    while j <= n:
        p = math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + log_half)
        if cumulative + p > alpha / 2:
            break
        cumulative += p
        j += 1
    return j


def summary_interval(median: float, iqr: float, rounds: int, confidence: float = CONFIDENCE) -> Interval:
    """The median's interval from a record's summary (median, IQR, rounds), as boxplot notches draw it."""
    if not (math.isfinite(median) and median > 0) or rounds < MIN_ROUNDS or not math.isfinite(iqr) or iqr < 0:
        return Interval(median, 0.0, UNBOUNDED)
    half = z_value(confidence) * math.sqrt(math.pi / 2) * (iqr / 1.349) / math.sqrt(rounds)
    # on a log scale, so that the interval stays positive and a ratio's interval is symmetric
    rel = math.log1p(half / median)
    return Interval(median, median * math.exp(-rel), median * math.exp(rel))


def ratio_interval(a: Interval, b: Interval, confidence: float = CONFIDENCE) -> Interval:
    """a / b with an interval, the two medians' log-scale half-widths combined as independent errors."""
    value = a.value / b.value if b.value else math.nan
    if not (a.bounded and b.bounded) or not math.isfinite(value) or value <= 0:
        return Interval(value, 0.0, UNBOUNDED)
    # each half-width is z * se on the log scale: combine the standard errors
    half = math.hypot(a.relative_halfwidth(), b.relative_halfwidth())
    return Interval(value, value * math.exp(-half), value * math.exp(half))


#: how much the ratio of two rows timed in interleaved rounds moves from one process to the next (a
#: standard deviation on the log scale), which the rounds of one process cannot see: 15 headline taxes
#: timed interleaved in two runs (2 threads, a 2-core virtual machine, 2026-12-05) moved by 0.1% to 13%
#: from one run to the other (median 1.9%): the one-process intervals held the other run's figure in 16 of
#: 28, with this floor in 26 of 28 (the two misses: PyTorch's compiled logistic gradient, 1.54 and 1.75)
PAIRED_BETWEEN = 0.02


def paired_ratio(
    processes: Sequence[Sequence[float]], confidence: float = CONFIDENCE, between: float = PAIRED_BETWEEN
) -> Interval:
    """The ratio of two rows timed in the same rounds, from each process's per-round ratios: their median
    with its distribution-free interval (:func:`median_interval`, the rounds of every process pooled),
    widened by the variation from one process to the next (``between``, :data:`PAIRED_BETWEEN`: a process's
    memory layout and compiled code move a ratio that its own rounds cannot see) and to hold each process's
    own median where there are several. A drift of the machine hits both rows of a round alike and cancels
    in their ratio."""
    pooled = [r for ratios in processes for r in ratios if math.isfinite(r) and r > 0]
    out = median_interval(pooled, confidence)
    if not out.bounded:
        return out
    floor = z_value(confidence) * between
    lo = out.value * math.exp(-math.hypot(math.log(out.value / out.lo), floor))
    hi = out.value * math.exp(math.hypot(math.log(out.hi / out.value), floor))
    own = [median_interval(ratios, confidence).value for ratios in processes if len(ratios)]
    return Interval(out.value, min([lo, *own]), max([hi, *own]))


def verdict(ratio: Interval, min_effect: float = MIN_EFFECT) -> str:
    """``slower`` (ratio above 1), ``faster`` (below 1), ``same`` or ``unknown``, for a ratio now/before or a/b."""
    if not ratio.bounded:
        return "unknown"
    least = 1 + POINT_SHARE * min_effect
    if ratio.lo > 1 and ratio.hi >= 1 + min_effect and ratio.value >= least:
        return "slower"
    if ratio.hi < 1 and ratio.lo <= 1 / (1 + min_effect) and ratio.value <= 1 / least:
        return "faster"
    return "same"


def rule_words(min_effect: float = MIN_EFFECT) -> str:
    """The verdict rule in words, for every page that states it: "its interval excludes no change ..."."""
    return (
        f"its interval excludes no change and reaches the minimum effect of {min_effect:.0%}, "
        f"and the measured change is at least {POINT_SHARE * min_effect:.0%}"
    )


def fmt_ratio(ratio: Interval) -> str:
    """``x1.29 (1.10-1.51)``, or ``x1.29 (no interval: too few rounds)``."""
    if not ratio.bounded:
        return f"x{ratio.value:.2f} (no interval: too few rounds)"
    return f"x{ratio.value:.2f} ({ratio.lo:.2f}-{ratio.hi:.2f})"
