"""Steps in a cell's history: a change of its median beyond the noise that persists.

A cell's history is the series of its medians over the runs of one machine, in date
order, each with the run's 95% interval of the median (:func:`bench.verdicts.row_interval`).
Points that give no verdict in their own run (:func:`bench.verdicts.row_stability`, or no
interval) are drawn but take no part in finding steps.

The rule, with ``n`` usable points:

1. **Levels.** A side (a stretch of consecutive runs) has a level: the median of its
   runs' medians (log scale), with a standard error that is the larger of (a) what the
   runs' own intervals give (their root-mean-square standard error over the square root of
   the number of runs) and (b) what the runs' scatter gives (their median absolute
   deviation, scaled to a standard deviation, over the same root); times sqrt(pi/2), the
   median's inefficiency, from three runs on. (b) is what catches a machine whose runs
   drift more than each run's interval says.
2. **Candidates.** Every run ``k`` with at least :data:`MIN_SEGMENT` runs on each side is
   a candidate. The change at ``k`` is ``level(after) / level(before)`` with an interval
   from both levels' (:func:`bench.stats.ratio_interval`), taken at 95% confidence for the
   whole series (Bonferroni: ``z`` of ``1 - 0.05 / candidates``), since every candidate is tried.
3. **A step** is called where that interval excludes no change *and* reaches the minimum
   effect (:func:`bench.stats.verdict`, 10% by default): the same two rules as ``--compare``.
   The most significant candidate (largest ``|log change| / half-width``) is taken first,
   then each side is searched again (binary segmentation), so a series can have several steps.
4. **Persistence.** With the steps chosen, each is measured again between its neighbouring
   segments (from the previous step to the next) and kept only if it still passes 3. and
   every run after it, up to the next step, lies nearer to the new level than to the old one
   (log scale). A step is dropped, and the rest measured again, until all pass. A change in
   the last run alone is never a step: it has not persisted yet.

Why an A/A series (nothing changed) raises nothing: both sides of any candidate estimate
the same median, so the change's interval, 95% for the whole series and widened by the runs'
observed scatter, excludes no change in at most about 5% of such series; such a chance excursion
must further reach the minimum effect and have every later run sit on its side, which noise
rarely does both. ``tests/test_history.py`` checks ten unchanged runs over several seeds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.stats import CONFIDENCE, MIN_EFFECT, Interval, ratio_interval, verdict, z_value

#: fewest usable runs on either side of a step
MIN_SEGMENT = 2
#: a median absolute deviation, scaled to a normal standard deviation
_MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Found:
    """A step: the first run of the new level (``at``: its position in the series), the levels
    either side, their ratio (after / before) with its interval, and ``slower`` or ``faster``."""

    at: int
    before: Interval
    after: Interval
    change: Interval
    verdict: str
    runs_before: int
    runs_after: int


def usable(point: Interval) -> bool:
    """Whether a median can take part in finding steps: positive, with an interval."""
    return point.bounded and point.value > 0 and math.isfinite(point.value)


def z_for(candidates: int, confidence: float = CONFIDENCE) -> float:
    """The normal quantile of ``confidence`` for the whole series over ``candidates`` tries (Bonferroni)."""
    return z_value(1 - (1 - confidence) / max(1, candidates))


def scatter(points: list[Interval]) -> float:
    """The runs' own scatter (standard deviation of a log median between runs): the median absolute
    difference between successive runs over sqrt(2), scaled to a normal one; robust to a few steps."""
    logs = [math.log(p.value) for p in points]
    if len(logs) < 4:
        return 0.0
    return _MAD_SCALE * statistics.median(abs(b - a) for a, b in zip(logs, logs[1:])) / math.sqrt(2)


def level(points: list[Interval], z: float, spread: float = 0.0) -> Interval:
    """A side's level (the median of its medians) with its interval at quantile ``z`` (rule 1);
    ``spread``: the series' :func:`scatter`."""
    z95 = z_value(CONFIDENCE)
    logs = [math.log(p.value) for p in points]
    ses = [p.relative_halfwidth() / z95 for p in points]
    k = len(points)
    factor = math.sqrt(math.pi / 2) if k >= 3 else 1.0
    own = math.sqrt(statistics.fmean(s * s for s in ses))
    half = z * factor * max(own, spread) / math.sqrt(k)
    centre = statistics.median(logs)
    return Interval(math.exp(centre), math.exp(centre - half), math.exp(centre + half))


def _change(points: list[Interval], lo: int, k: int, hi: int, z: float, min_effect: float, spread: float) -> Found:
    before, after = level(points[lo:k], z, spread), level(points[k:hi], z, spread)
    ratio = ratio_interval(after, before)
    return Found(k, before, after, ratio, verdict(ratio, min_effect), k - lo, hi - k)


def _cost(points: list[Interval], lo: int, k: int, hi: int) -> float:
    """How far the runs lie from their side's median (log scale, summed) when split at ``k``."""
    total = 0.0
    for side in (points[lo:k], points[k:hi]):
        logs = [math.log(p.value) for p in side]
        centre = statistics.median(logs)
        total += sum(abs(x - centre) for x in logs)
    return total


def _split(points: list[Interval], lo: int, hi: int, z: float, min_effect: float, spread: float) -> list[int]:
    """Binary segmentation of ``points[lo:hi]`` (rules 2 and 3): the positions of candidate steps.
    The candidate that fits best (least absolute deviation from each side's median) is tested."""
    ks = range(lo + MIN_SEGMENT, hi - MIN_SEGMENT + 1)
    if not ks:
        return []
    k = min(ks, key=lambda k: _cost(points, lo, k, hi))
    if _change(points, lo, k, hi, z, min_effect, spread).verdict not in ("slower", "faster"):
        return []
    return _split(points, lo, k, z, min_effect, spread) + [k] + _split(points, k, hi, z, min_effect, spread)


def _persists(points: list[Interval], found: Found, hi: int) -> bool:
    new, old = math.log(found.after.value), math.log(found.before.value)
    return all(abs(math.log(p.value) - new) < abs(math.log(p.value) - old) for p in points[found.at : hi])


def find_steps(points: list[Interval], min_effect: float = MIN_EFFECT) -> list[Found]:
    """The steps of one cell's series of usable medians (in run order), by the rule of this module."""
    if not all(usable(p) for p in points):
        raise ValueError("find_steps takes usable medians only (see usable())")
    n = len(points)
    candidates = n - 2 * MIN_SEGMENT + 1
    if candidates < 1:
        return []
    z = z_for(candidates)
    spread = scatter(points)
    splits = _split(points, 0, n, z, min_effect, spread)
    while True:  # rule 4: measure each step between its neighbours, drop the first that fails, again
        edges = [0, *splits, n]
        found = [
            _change(points, edges[i], edges[i + 1], edges[i + 2], z, min_effect, spread) for i in range(len(splits))
        ]
        failing = [
            i
            for i, f in enumerate(found)
            if f.verdict not in ("slower", "faster") or not _persists(points, f, edges[i + 2])
        ]
        if not failing:
            return found
        del splits[failing[0]]
