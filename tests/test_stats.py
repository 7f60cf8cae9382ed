"""The statistics behind every verdict, on synthetic samples of known difference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import stats


def lognormal_rounds(rng, n, median=1e-3, spread=0.05):
    return median * np.exp(rng.normal(0.0, spread, n))


@pytest.mark.parametrize("n", [6, 11, 50, 400])
def test_the_median_interval_covers_the_true_median_at_its_confidence(n):
    rng = np.random.default_rng(n)
    covered = sum(stats.median_interval(lognormal_rounds(rng, n)).contains(1e-3) for _ in range(2000))
    assert covered / 2000 >= 0.93  # order statistics: at least the nominal 95%, up to sampling error


@pytest.mark.parametrize("n", [20, 100])
def test_the_summary_interval_covers_as_well_as_the_raw_one(n):
    rng = np.random.default_rng(100 + n)
    covered = 0
    for _ in range(2000):
        x = lognormal_rounds(rng, n)
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        covered += stats.summary_interval(med, q3 - q1, n).contains(1e-3)
    assert covered / 2000 >= 0.90


@pytest.mark.parametrize("n", [0, 1, 3, 5])
def test_too_few_rounds_give_no_interval_and_no_verdict(n):
    x = [1e-3] * n
    assert not stats.median_interval(x).bounded
    assert not stats.summary_interval(1e-3, 0.0, n).bounded
    ratio = stats.ratio_interval(stats.summary_interval(1e-3, 0, n), stats.summary_interval(2e-3, 0, n))
    assert stats.verdict(ratio) == "unknown"
    assert "too few rounds" in stats.fmt_ratio(ratio)


@pytest.mark.parametrize(
    "factor,expected", [(1.0, "same"), (1.03, "same"), (1.25, "slower"), (1 / 1.25, "faster"), (2.0, "slower")]
)
def test_a_known_difference_gets_its_verdict_in_nearly_every_trial(factor, expected):
    rng = np.random.default_rng(7)
    verdicts = []
    for _ in range(300):
        before = stats.median_interval(lognormal_rounds(rng, 60))
        now = stats.median_interval(lognormal_rounds(rng, 60, median=1e-3 * factor))
        verdicts.append(stats.verdict(stats.ratio_interval(now, before)))
    assert verdicts.count(expected) / len(verdicts) >= 0.95, {v: verdicts.count(v) for v in set(verdicts)}


def test_a_change_below_the_minimum_effect_is_not_called_however_certain():
    before, now = stats.Interval(1.0, 0.999, 1.001), stats.Interval(1.05, 1.049, 1.051)
    ratio = stats.ratio_interval(now, before)
    assert ratio.lo > 1 and stats.verdict(ratio) == "same"
    assert stats.verdict(ratio, min_effect=0.02) == "slower"


@pytest.mark.parametrize("value,expected", [(1.06, "same"), (1.09, "slower"), (1 / 1.06, "same"), (1 / 1.09, "faster")])
def test_a_change_measured_well_under_the_minimum_effect_is_not_called_though_its_interval_reaches_it(value, expected):
    # each interval excludes 1 and reaches 10% (x/ 1.05 around the value): only the measured change decides
    ratio = stats.Interval(value, value / 1.05, value * 1.05)
    assert (ratio.lo > 1 or ratio.hi < 1) and (ratio.hi >= 1.10 or ratio.lo <= 1 / 1.10)
    assert stats.verdict(ratio) == expected


def _changes_called(rng, true_ratio: float, halfwidth: float, trials: int = 4000) -> float:
    """The share of cells called changed when each measures log(ratio) with a calibrated 95% interval."""
    sigma = halfwidth / 1.96
    calls = 0
    for e in rng.normal(np.log(true_ratio), sigma, trials):
        ratio = stats.Interval(float(np.exp(e)), float(np.exp(e - halfwidth)), float(np.exp(e + halfwidth)))
        calls += stats.verdict(ratio) in ("slower", "faster")
    return calls / trials


def test_unchanged_cells_are_called_changed_in_under_one_percent_and_true_changes_in_most():
    rng = np.random.default_rng(11)
    # an A/A comparison: a calibrated 95% interval leaves 1 out in about 5% of cells; where the interval is
    # narrower than the measured-change rule (+-8%), the rule calls far fewer; a wider one decides alone
    for halfwidth in (0.02, 0.05):
        assert _changes_called(rng, 1.0, halfwidth) <= 0.01, halfwidth
    assert 0.03 <= _changes_called(rng, 1.0, 0.10) <= 0.07
    # power: a 10% change measured within +-2% is called in at least 90% of cells, a 25% change within +-8% in all
    assert _changes_called(rng, 1.10, 0.02) >= 0.90
    assert _changes_called(rng, 1 / 1.10, 0.02) >= 0.90
    assert _changes_called(rng, 1.25, 0.08) >= 0.99


def test_noisy_samples_widen_the_interval_until_no_verdict_is_given():
    rng = np.random.default_rng(3)
    before = stats.median_interval(lognormal_rounds(rng, 10, spread=0.8))
    now = stats.median_interval(lognormal_rounds(rng, 10, median=1.3e-3, spread=0.8))
    assert stats.verdict(stats.ratio_interval(now, before)) == "same"


@given(st.lists(st.floats(1e-9, 1e3), min_size=0, max_size=60))
def test_the_interval_always_holds_the_median_and_stays_positive(xs):
    interval = stats.median_interval(xs)
    if xs:
        assert interval.lo <= interval.value <= interval.hi
        assert interval.lo >= 0 and interval.value > 0
    else:
        assert math.isnan(interval.value) and not interval.bounded


@given(st.floats(1e-9, 1.0), st.floats(0, 1.0), st.integers(0, 10_000))
def test_a_summary_interval_is_positive_and_holds_its_median(median, iqr, rounds):
    interval = stats.summary_interval(median, iqr * median, rounds)
    assert interval.lo <= median <= interval.hi and interval.lo >= 0


def test_the_order_statistic_rank_is_the_exact_binomial_one():
    import math

    from bench.stats import _order_rank

    def exact(n: int, confidence: float) -> int:
        alpha, cumulative, j = 1 - confidence, 0.0, 0
        while cumulative + math.comb(n, j) / 2**n <= alpha / 2:
            cumulative += math.comb(n, j) / 2**n
            j += 1
        return j

    for confidence in (0.95, 0.99):
        assert [_order_rank(n, confidence) for n in range(6, 600)] == [exact(n, confidence) for n in range(6, 600)]
    assert abs(_order_rank(20_000, 0.95) - (10_000 - 1.96 * math.sqrt(20_000) / 2)) < 3  # the normal limit
