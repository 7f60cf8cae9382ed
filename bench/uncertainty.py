"""A cell's timing with its uncertainty: raw rounds per process, the run's noise between
processes, the median's interval, and a stability label where no verdict can be given.

A cell record keeps every timed round under ``samples``: one entry per worker process
that measured it (``pass`` 1 is the run's first process; ``--repeat`` adds a second, in
another process, later in the run)::

    {"pass": 1, "pid": 4242, "times": [seconds per round ...],
     "others_cpu": 0.02, "steal": 0.0}

Rounds inside one process are correlated (same memory layout, same compiled code, same
moment), so an interval from them alone is far too narrow for what a second run sees.
The interval of a cell's median therefore combines, on a log scale,

* the rounds' own uncertainty (:func:`bench.stats.median_interval` per process), and
* the variation between processes: the cell's own where it was measured in two or more,
  never below its backend's typical between-process noise in this run
  (:func:`between_by_backend`, estimated from every cell the run measured twice;
  :data:`DEFAULT_BETWEEN` where it measured none). A cell of :data:`ROBUST_PROCESSES` or more
  takes a median absolute deviation for its own and Student's t.

A cell whose processes disagree, whose rounds are too few, or that ran while other
processes took the CPU is *unstable*: it carries the reason and gets no verdict.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from statistics import NormalDist
from typing import Any

from .stats import CONFIDENCE, Interval, median_interval, robust_sigma, summary_interval, t_value, z_value

#: record key of the raw rounds, one entry per process
SAMPLES = "samples"
#: rounds kept per process (a cell timed in more keeps an even subsample, flagged ``thinned``)
MAX_TIMES = 20_000
#: two processes whose medians differ by more than this factor: no verdict
DISAGREE = 1.5
#: other processes' share of the CPUs while a process measured the cell, above which: no verdict. 0.25 let a
#: core kept busy through (one process measured at 21% and 23%: a cell called changed); quiet runs stay under 0.10
BUSY = 0.15
#: the hypervisor's steal share above which: no verdict
STEAL = 0.10
#: a speed probe this many times slower than the run's fastest: the machine ran slow, no verdict. On a 2-core VM the
#: probe flips between two speeds x1.2 apart from call to call; two stored A/A pairs judged again called 15 and 2 of
#: 306 cells changed at 1.25, 30 and 3 at 1.35, 0 and 0 at 1.15 (but 306 and 280 of 306 'cannot tell')
SLOW = 1.25
#: between-process noise (standard deviation of log medians) assumed where a run measured no cell twice
DEFAULT_BETWEEN = 0.05
#: how a label of a cell measured on a busy machine begins: its interval is widened, and a comparison
#: between runs gives it no verdict; inside its run, a difference larger than the widening still counts
BUSY_LABEL = "measured while"
#: which quantile of the cells' between-process spreads sets the run's noise (0.5: the typical cell)
BETWEEN_QUANTILE = 0.5
#: ... and the floor of a cell timed in one process (kept), which may be the odd one of a host whose processes run at
#: two speeds: an unlucky cell's spread, not a typical one's. Two A/A pairs of quiet hours (306 cells each): called
#: changed 8 and 5 with the median's floor, 3 and 2 with this; a 10% and a 25% slowdown still called in 26 of 26
ONE_PROCESS_QUANTILE = 0.75
#: cells measured twice that a backend needs for a noise figure of its own. A run's figure from fewer is
#: taken as it is, not drawn toward DEFAULT_BETWEEN: on a noisy machine that called an unchanged cell changed
#: in 35% of simulated pairs, against 12% at worst as it is (tests/test_verdicts.py, the noise figure from few cells)
MIN_SPREADS = 8
#: a cell timed in this many processes or more is judged on all of them, robustly (:func:`_robust`): four stored
#: power checks' runs of 4 and 6 processes judged again (tools/verdict_checks.py --judge): a 25% slowdown called in
#: 226 of 416 cells instead of 99, 10% in 112 instead of 63, none faster (1 and 1), unchanged: 0 of 312 changed (2)
ROBUST_PROCESSES = 3
#: the pass number of a run's last look at the cells every process of which ran disturbed (its workers are not
#: part of the cell's design, so they do not count towards ROBUST_PROCESSES; runs before it numbered it N + 1)
AGAIN_PASS = 99


def entry(
    times: Iterable[float],
    pid: int,
    pass_no: int,
    others_cpu: float | None,
    steal: float | None,
    probe: float | None = None,
) -> dict:
    """One process's measurement of a cell, as stored under ``samples`` (``probe``: the slower of the
    machine's speed probes just before and after the rounds, :func:`bench.runner.worker.speed_probe`)."""
    xs = [float(f"{t:.6g}") for t in times]
    out: dict[str, Any] = {"pass": int(pass_no), "pid": int(pid)}
    if len(xs) > MAX_TIMES:
        step = len(xs) / MAX_TIMES
        xs = [xs[int(i * step)] for i in range(MAX_TIMES)]
        out["thinned"] = True
    out["times"] = xs
    out["others_cpu"] = None if others_cpu is None else round(float(others_cpu), 3)
    out["steal"] = None if steal is None else round(float(steal), 3)
    if probe is not None and 0 < probe < math.inf:
        out["probe"] = float(f"{probe:.4g}")
    return out


def entries(rec: Mapping[str, Any]) -> list[dict]:
    """The record's process entries that hold usable rounds (anything malformed is left out: records are untrusted)."""
    raw = rec.get(SAMPLES)
    if not isinstance(raw, list):
        return []
    out = []
    for e in raw:
        if not isinstance(e, dict) or not isinstance(e.get("times"), list) or not e["times"]:
            continue
        times = e["times"]
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < math.inf for t in times):
            continue
        out.append(e)
    return out


def failures(rec: Mapping[str, Any]) -> list[str]:
    """``"crashed: why"`` for every repeat of the cell that ended without rounds."""
    raw = rec.get(SAMPLES)
    if not isinstance(raw, list):
        return []
    return [
        f"{e.get('status')}: {e.get('reason') or ''}".rstrip(": ")
        for e in raw
        if isinstance(e, dict) and isinstance(e.get("status"), str) and not e.get("times")
    ]


def summary(procs: list[dict]) -> dict[str, Any]:
    """The record's statistic columns from its processes' rounds (median: the median of the processes' medians)."""
    pooled = [float(t) for e in procs for t in e["times"]]
    medians = [statistics.median(e["times"]) for e in procs]
    q = statistics.quantiles(pooled, n=4, method="inclusive") if len(pooled) > 1 else [pooled[0]] * 3
    return {
        "median": statistics.median(medians),
        "iqr": q[2] - q[0],
        "min": min(pooled),
        "mean": statistics.fmean(pooled),
        "stddev": statistics.stdev(pooled) if len(pooled) > 1 else 0.0,
        "rounds": len(pooled),
        "processes": len(procs),
    }


def _log_medians(procs: list[dict]) -> list[float]:
    return [math.log(statistics.median(e["times"])) for e in procs]


def between_noise(records: Iterable[Mapping[str, Any]]) -> float | None:
    """The run's typical between-process noise (standard deviation of a log median), or None.

    Robust to a few wild cells: a quantile (:data:`BETWEEN_QUANTILE`) of the cells' own
    spreads, scaled to a standard deviation. Only stable ok cells measured in two or more
    processes count.
    """
    return _noise(_spreads(records).get(None, []))


def between_by_backend(records: Iterable[Mapping], quantile: float = BETWEEN_QUANTILE) -> dict[str | None, float]:
    """Each backend's between-process noise (key None: the run's, over every backend).

    Frameworks differ: a JIT's dispatch or a thread pool's wake-up varies more between
    processes than a NumPy call. A backend with fewer than :data:`MIN_SPREADS` cells
    measured twice takes the run's figure. ``quantile``: of the cells' spreads
    (:data:`ONE_PROCESS_QUANTILE`: the floor of a cell timed in one process)."""
    return _figures(_spreads(records), quantile)


def _figures(spreads: dict[str | None, list[float]], quantile: float) -> dict[str | None, float]:
    run = _noise(spreads.get(None, []), quantile)
    out: dict[str | None, float] = {} if run is None else {None: run}
    for backend, xs in spreads.items():
        if backend is not None and run is not None:
            out[backend] = _noise(xs, quantile) if own_figure(len(xs)) else run  # type: ignore[assignment]
    return out


def own_figure(cells: int) -> bool:
    """Whether a backend with this many cells measured twice has a noise figure of its own (else: the run's)."""
    return cells >= MIN_SPREADS


def measured_twice(records: Iterable[Mapping[str, Any]]) -> dict[str | None, int]:
    """How many cells each backend's between-process noise rests on (key None: the run's, every backend)."""
    return {backend: len(xs) for backend, xs in _spreads(records).items()}


def _spreads(records: Iterable[Mapping[str, Any]]) -> dict[str | None, list[float]]:
    """The between-process spreads (standard deviation of the log medians) of the ok cells measured in two
    or more processes while no other process took the CPU, per backend and (key None) all together.

    Every such process counts, those timed in a slow stretch too: on a virtual machine the speed probe
    explains only part of the variation between processes (two processes of one cell, both timed at the
    machine's best, can differ 2x), and a rerun meets the same variation. Measured by A/A runs of the
    small plan on a 2-core virtual machine (``python -m bench selftest``): with the spreads of the
    processes timed at the machine's best alone, a 95% interval of the change held none in 83% of the
    cells and ``--compare`` called 51 of 306 unchanged cells changed; with every process, 100% and 1."""
    out: dict[str | None, list[float]] = {}
    for rec in records:
        if rec.get("status") != "ok":
            continue
        procs = entries(rec)
        if len(procs) < 2 or _disturbed(procs, None):  # None: other processes' CPU share and steal only
            continue
        spread = _sigma(procs)
        out.setdefault(None, []).append(spread)
        backend = rec.get("backend")
        if isinstance(backend, str):
            out.setdefault(backend, []).append(spread)
    return out


def fastest_probe(records: Iterable[Mapping[str, Any]], floor: float | None = None) -> float | None:
    """The run's fastest speed probe (the machine at its best in this run), or None; ``floor``: the
    fastest of the runs compared with this one on the same machine (``bench versions``, ``report
    --compare``, ``selftest``: :func:`bench.report.load.shared_probe_floor`), where faster."""
    probes = [
        e["probe"]
        for rec in records
        for e in entries(rec)
        if isinstance(e.get("probe"), (int, float)) and 0 < e["probe"] < math.inf
    ]
    if isinstance(floor, (int, float)) and 0 < floor < math.inf:
        probes.append(float(floor))
    return min(probes) if probes else None


def clean(procs: list[dict], fastest: float | None) -> list[dict]:
    """The processes timed while the machine ran at its best in this run (speed probe within :data:`SLOW` of the run's
    fastest), or all where none was, so that two runs compare the machine in the same state; every process where no
    rule per process applies (:func:`_probe_rule`)."""
    fastest = _probe_rule(procs, fastest)
    fast = [e for e in procs if _slowness(e, fastest) is None]
    return fast or procs


def _probe_rule(procs: list[dict], fastest: float | None) -> float | None:
    """The fastest probe to judge each process against, or None: no rule per process (robust, contradicted)."""
    return None if _robust(procs) or _contradicted(procs, fastest) else fastest


def _contradicted(procs: list[dict], fastest: float | None) -> bool:
    """Whether a process the probe calls slow timed the cell faster than one it calls at the best: the probe misjudges
    this cell. Keeping the one that probed fast alone called 19 of 306 cells changed in an A/A pair of a quiet hour (a
    last look probed 89 us, fastest 84, and timed x1.55 slower than two that probed 111 and 114); with this rule, 8."""
    if not fastest:
        return False
    fast = [statistics.median(e["times"]) for e in procs if _slowness(e, fastest) is None]
    slow = [statistics.median(e["times"]) for e in procs if _slowness(e, fastest) is not None]
    return bool(fast and slow) and max(fast) > min(slow)


def _robust(procs: list[dict]) -> bool:
    """Whether a cell is judged on all its processes, with no speed-probe rule per process: timed in
    :data:`ROBUST_PROCESSES` or more (``--processes``; the last look, :data:`AGAIN_PASS`, not counted). The
    probe judges one process badly (it can probe fast and time slow), and the median of many shrugs off a slow few
    (its spread: a median absolute deviation, with Student's t; a slow majority: a disagreement)."""
    return sum(e.get("pass") != AGAIN_PASS for e in procs) >= ROBUST_PROCESSES


def _slowness(e: Mapping[str, Any], fastest: float | None) -> float | None:
    """How many times slower than the run's fastest the machine ran while this process timed the cell,
    where that is beyond :data:`SLOW`; else None (the one rule for a slow stretch)."""
    probe = e.get("probe")
    if fastest and isinstance(probe, (int, float)) and probe > SLOW * fastest:
        return probe / fastest
    return None


def _sigma(procs: list[dict]) -> float:
    """A cell's estimate of the between-process standard deviation, whose :data:`BETWEEN_QUANTILE` quantile over
    cells estimates it: two processes' spread is sigma * |Z|; a cell judged robustly, :func:`robust_sigma`."""
    logs = _log_medians(procs)
    if _robust(procs):
        return robust_sigma(logs)
    return statistics.stdev(logs) / NormalDist().inv_cdf(0.5 + BETWEEN_QUANTILE / 2)


def _noise(spreads: list[float], quantile: float = BETWEEN_QUANTILE) -> float | None:
    """A standard deviation from cells' estimates (:func:`_sigma`): their ``quantile``."""
    if not spreads:
        return None
    xs = sorted(spreads)
    return xs[round(quantile * (len(xs) - 1))]


def _disturbed(procs: list[dict], fastest: float | None = None) -> str | None:
    fastest = _probe_rule(procs, fastest)
    for e in procs:
        others, steal, slow = e.get("others_cpu"), e.get("steal"), _slowness(e, fastest)
        if isinstance(others, (int, float)) and others > BUSY:
            return f"{BUSY_LABEL} other processes used {others:.0%} of the CPUs"
        if isinstance(steal, (int, float)) and steal > STEAL:
            return f"{BUSY_LABEL} the hypervisor stole {steal:.0%} of the CPU time"
        if slow:
            return f"{BUSY_LABEL} the machine ran x{slow:.2g} slower than at its best (its speed probe)"
    return None


def stability(rec: Mapping[str, Any], fastest: float | None = None) -> str | None:
    """Why this ok cell gives no verdict (unstable), or None (``fastest``: the run's fastest speed probe)."""
    procs = entries(rec)
    failed = failures(rec)
    if failed:
        return f"its repeat in another process ended {failed[0]}"
    if not procs:
        rounds = rec.get("rounds")
        return "timed in one round: no interval" if isinstance(rounds, int) and rounds < 2 else None
    procs = clean(procs, fastest)
    busy = _disturbed(procs, fastest)
    if busy:
        return busy
    if all(len(e["times"]) < 2 for e in procs):
        return "timed in one round: no interval"
    if _robust(procs):
        logs = _log_medians(procs)
        off = sum(x - min(logs) > math.log(DISAGREE) for x in logs)
        if 2 * off >= len(logs):
            return f"its {len(procs)} processes disagree ({off} of them over x{DISAGREE:.2g} slower than its fastest)"
    elif len(procs) >= 2:
        logs = _log_medians(procs)
        factor = math.exp(max(logs) - min(logs))
        if factor > DISAGREE:
            return f"its {len(procs)} processes disagree (medians x{factor:.2g} apart)"
    return None


def interval(
    rec: Mapping[str, Any], between: float | None, confidence: float = CONFIDENCE, fastest: float | None = None
) -> Interval:
    """The median's interval: the rounds' uncertainty and the between-process noise combined (log scale),
    over the processes :func:`clean` keeps."""
    procs = clean(entries(rec), fastest)
    z = z_value(confidence)
    floor = DEFAULT_BETWEEN if between is None else between
    if procs:
        value = summary(procs)["median"]
        halves = [_process_half(e["times"], confidence) for e in procs]
        bounded = [h for h in halves if math.isfinite(h)]
        if not bounded:
            return Interval(value, 0.0, math.inf)
        k = len(procs)
        within = math.sqrt(sum(h * h for h in bounded)) / len(bounded)
        if _robust(procs):  # few processes: t; a median of them: sqrt(pi/2) times a mean's error
            own, z = robust_sigma(_log_medians(procs)), t_value(confidence, k - 1) * math.sqrt(math.pi / 2)
        else:
            own = statistics.stdev(_log_medians(procs)) if k >= 2 else 0.0
    else:  # a record without raw rounds (an older run, a table): its summary
        median, iqr, rounds = rec.get("median"), rec.get("iqr"), rec.get("rounds")
        if not (isinstance(median, (int, float)) and math.isfinite(median)):
            return Interval(math.nan, 0.0, math.inf)
        if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (iqr, rounds)):
            return Interval(float(median), 0.0, math.inf)  # a median without its spread: no interval
        value = float(median)  # type: ignore[arg-type]
        within = summary_interval(value, float(iqr), int(rounds), confidence).relative_halfwidth()  # type: ignore[arg-type]
        if not math.isfinite(within) and 2 <= int(rounds) and value > 0:  # type: ignore[arg-type]
            within = 2 * math.log1p(float(iqr) / value)  # type: ignore[arg-type] # a few slow rounds: their spread
        if not math.isfinite(within):
            return Interval(value, 0.0, math.inf)
        k, own = 1, 0.0
    half = math.hypot(within, z * max(own, floor) / math.sqrt(k)) + _busy_widening(procs, fastest)
    return Interval(value, value * math.exp(-half), value * math.exp(half))


def _busy_widening(procs: list[dict], fastest: float | None = None) -> float:
    """A log-scale margin for processes measured while others took the CPU (a share s: up to a factor
    1 + 2s) or while the machine ran slow (its speed probe's ratio to the run's fastest)."""
    worst, fastest = 0.0, _probe_rule(procs, fastest)
    for e in procs:
        slow = _slowness(e, fastest)
        if slow:
            worst = max(worst, math.log(slow))
        for key in ("others_cpu", "steal"):
            share = e.get(key)
            if isinstance(share, (int, float)) and share > (BUSY if key == "others_cpu" else STEAL):
                worst = max(worst, math.log1p(2 * min(float(share), 1.0)))
    return worst


def _process_half(times: list[float], confidence: float) -> float:
    """One process's log-scale half-width: the median's order-statistic interval, or, for a
    slow cell timed in fewer rounds than that needs (2 to 5), the whole spread of its rounds."""
    half = median_interval(times, confidence).relative_halfwidth()
    if math.isfinite(half) or len(times) < 2:
        return half
    return math.log(max(times) / min(times))


def annotate(records: Iterable[Mapping[str, Any]], floor: float | None = None) -> dict[str, dict[str, Any]]:
    """Per cell id of an ok record: ``processes``, ``ci_lo``, ``ci_hi`` and ``stability`` (the table's columns);
    ``floor``: the machine's fastest speed probe over the runs compared with this one (:func:`fastest_probe`)."""
    records = [r for r in records if r.get("status") == "ok"]
    spreads = _spreads(records)
    between, single = _figures(spreads, BETWEEN_QUANTILE), _figures(spreads, ONE_PROCESS_QUANTILE)
    fastest = fastest_probe(records, floor)
    out = {}
    for rec in records:
        kept = clean(entries(rec), fastest)
        figures = single if len(kept) == 1 else between
        figure = figures.get(rec.get("backend"), figures.get(None))
        iv = interval(rec, figure, fastest=fastest)
        out[rec["cell"]] = {
            "slow": machine_slowness(kept, fastest),
            # the record's own median, unless the statistics left out processes timed in a slow stretch
            "median": iv.value if len(kept) < len(entries(rec)) else rec.get("median"),
            "processes": len(kept) or None,
            "ci_lo": iv.lo if iv.bounded else None,
            "ci_hi": iv.hi if iv.bounded else None,
            "stability": stability(rec, fastest),
        }
    return out


def machine_slowness(procs: list[dict], fastest: float | None) -> float | None:
    """How many times slower than at its best the machine ran while these processes timed a cell: their
    median speed probe over the fastest (1.0: at its best), or None without probes. Two runs that timed a
    cell in different states of the machine differ by that much with no change of the code
    (:func:`bench.report.comparison.compare` lets no change the machine can explain be called)."""
    probes = [e["probe"] for e in procs if isinstance(e.get("probe"), (int, float)) and 0 < e["probe"] < math.inf]
    if not (probes and fastest):
        return None
    return round(statistics.median(probes) / fastest, 4)
