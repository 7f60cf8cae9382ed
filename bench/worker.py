"""What happens inside one worker process: measure cells, write their records.

The runner (:mod:`bench.run`) starts ``pytest bench/suite.py -p bench.worker``
once per backend with ``BENCH_PLAN`` naming a JSON plan (run folder, device,
threads, the cells to run). For every cell, :func:`run_cell`

1. writes the "now running" marker the runner watches for timeouts and crashes,
2. builds the cell (data, conversion, derivative function: all untimed) and
   makes the first call (tracing, compilation) and a second, warm call, timed
   apart with ``perf_counter`` while a thread samples the process's memory,
3. refuses to time a NaN/Inf output (status ``nan``) or a diverged solve,
4. hands the synchronised call to pytest-benchmark for calibration, rounds and
   statistics (``benchmark.pedantic`` with one to three rounds, within the slow
   budget, where one call already exceeds ``--benchmark-max-time``, so
   calibration would be absurd),
5. writes the cell's tidy record atomically to ``cells/<cell id>.json``.

As a pytest plugin this module also adds the run's environment to
pytest-benchmark's JSON.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from . import results
from . import threads as thread_settings

PLAN_VARIABLE = "BENCH_PLAN"
PLUGINS_VARIABLE = "BENCH_PLUGINS"
RUNNING = ".running"
#: fewest rounds of a cell whose single call exceeds ``--benchmark-max-time``
MIN_SLOW_ROUNDS = 3
#: seconds of timed rounds a slow cell (one call over ``--benchmark-max-time``) may take; a cell whose
#: first call alone exceeds it gets no separate warm call and as few as one timed round
SLOW_BUDGET = 10.0
#: a solve whose loss grows beyond this factor of its start is reported as diverged
DIVERGENCE_FACTOR = 1e6


def load_plugins(names: str | None = None) -> list[str]:
    """Import the modules named in ``BENCH_PLUGINS`` (comma-separated); they may register backends."""
    names = os.environ.get(PLUGINS_VARIABLE, "") if names is None else names
    loaded = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        importlib.import_module(name)
        loaded.append(name)
    return loaded


def read_plan(path: str | None = None) -> dict[str, Any]:
    path = path or os.environ.get(PLAN_VARIABLE)
    if not path:
        return {"cells": []}
    return json.loads(Path(path).read_text())


def marker_path(run_dir: Path | str, group: str) -> Path:
    return Path(run_dir) / RUNNING / f"{group}.json"


class MemorySampler:
    """Peak resident memory of this process while the block runs (sampled in a thread)."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.base = self.peak = self._rss()

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


class Worker:
    """The state of one worker process: its plan, backends loaded, thread settings."""

    def __init__(self, plan: dict[str, Any]):
        self.plan = plan
        self.run_dir = Path(plan["run_dir"]) if plan.get("run_dir") else None
        self.threads = int(plan.get("threads") or thread_settings.default())
        self.device = plan.get("device", "cpu")
        self.slow_budget = float(plan.get("slow_budget") or SLOW_BUDGET)
        self.versions: dict[str, str] = {}
        self.thread_report: dict[str, Any] = {}

    def backend(self, name: str):
        """The backend, importing its framework and applying the thread setting once."""
        import backends

        first = name not in self.versions
        b = backends.get(name)
        if first:
            info = backends.REGISTRY[name]
            self.thread_report[name] = thread_settings.apply(info.framework, self.threads)
            self.versions[name] = b.version()
        return b

    def mark(self, cell_id: str | None) -> None:
        if self.run_dir is None:
            return
        results.write_json(marker_path(self.run_dir, self.plan["group"]),
                           {"cell": cell_id, "started": time.time(), "pid": os.getpid()})

    # -- one cell ----------------------------------------------------------
    def run_cell(self, spec: dict[str, Any], benchmark, config) -> dict[str, Any]:
        from .cells import ARTICLE, Cell

        cell = Cell(**spec["cell"])
        rec = results.record(
            cell=spec["id"], problem=cell.problem, size=cell.size, backend=cell.backend, mode=cell.mode,
            label=cell.label, dtype=cell.dtype, device=self.device, threads=self.threads, kind=cell.kind,
            machine=self.plan.get("machine") or platform.node(), run=self.plan.get("run"),
            started=_now(), status="error",
        )
        self.mark(spec["id"])
        t0 = time.perf_counter()
        try:
            if cell.backend == ARTICLE:
                import numpy

                rec["version"] = numpy.__version__
            else:
                rec["version"] = self.backend(cell.backend).version()
            self._measure(cell, rec, benchmark, config)
        except Exception as exc:  # noqa: BLE001 - a framework's exception ends this cell only
            rec["status"] = "error"
            rec["reason"] = _one_line(exc)
            rec["traceback"] = traceback.format_exc(limit=-8)
            for name in ("median", "iqr", "min", "mean", "stddev", "rounds"):
                rec[name] = None
        rec["finished"] = _now()
        rec["cell_time"] = time.perf_counter() - t0  # the whole cell, building and calibration included
        benchmark.extra_info.update({k: v for k, v in rec.items() if k not in results.TIME_COLUMNS[:5]})
        if self.run_dir is not None:
            results.save(self.run_dir, spec["id"], rec)
            self.mark(None)
        return rec

    def _measure(self, cell, rec: dict[str, Any], benchmark, config) -> None:
        from .cells import build

        with MemorySampler() as memory:
            t0 = time.perf_counter()
            built = build(cell, device=self.device, seed=int(self.plan.get("seed", 0)))
            rec["build_time"] = time.perf_counter() - t0
            rec["n"], rec["n_params"], rec["iterations"] = built.inst.n, built.inst.n_params, built.inst.iterations
            t0 = time.perf_counter()
            built.call()
            rec["first_call"] = first = time.perf_counter() - t0
            if first <= self.slow_budget:
                t0 = time.perf_counter()
                out = built.call()
                rec["warm_call"] = time.perf_counter() - t0
            else:  # a call this slow is its own warm-up: the timed rounds follow at once
                out = None
        rec["base_mem_mb"] = memory.base / 2**20
        rec["peak_mem_mb"] = memory.peak / 2**20

        if out is not None:
            status, reason = check_output(built, out)
            rec["status"], rec["reason"] = status, reason
            if status != "ok":
                return  # never time a wrong answer

        max_time = float(config.getoption("benchmark_max_time"))
        min_rounds = int(config.getoption("benchmark_min_rounds"))
        estimate = rec["warm_call"] if rec["warm_call"] is not None else first
        if estimate > max_time:
            # calibration would be absurd: a few rounds, as many as the slow budget allows
            rounds = min(MIN_SLOW_ROUNDS, min_rounds, max(1, math.floor(self.slow_budget / estimate)))
            out = benchmark.pedantic(built.call, rounds=rounds, iterations=1, warmup_rounds=0)
        else:
            out = benchmark(built.call)
        status, reason = check_output(built, out)
        rec["status"], rec["reason"] = status, reason
        if status != "ok":  # a wrong answer is never timed
            return
        stats = benchmark.stats.stats
        for name in ("median", "iqr", "min", "mean", "stddev"):
            rec[name] = float(getattr(stats, name))
        rec["rounds"] = int(stats.rounds)


def check_output(built, out) -> tuple[str, str | None]:
    """``("ok", None)``, ``("nan", why)`` or, for a solve, ``("diverged", why)``."""
    import numpy as np

    values = np.asarray(built.to_numpy(out), dtype=np.float64)
    bad = ~np.isfinite(values)
    kind = built.cell.kind
    if bad.any():
        what = f"{int(bad.sum())} of {values.size} values are NaN or Inf"
        if kind == "solve":
            return "diverged", f"after {built.inst.iterations} iterations {what}"
        return "nan", f"{kind} output: {what}"
    if kind == "solve":
        grew = _loss_growth(built, values)
        if grew is not None:
            return "diverged", grew
    return "ok", None


def _loss_growth(built, values) -> str | None:
    """Why the solve diverged judging by its loss, or None (also when the loss cannot be evaluated)."""
    import numpy as np

    from problems.base import unflatten

    inst = built.inst
    problem = inst.problem
    try:
        start = problem.cost(inst.params, inst.data)
        end = problem.cost(unflatten(np, values, inst.shapes), inst.data)
    except Exception:  # noqa: BLE001 - a loss that cannot take the solution: no verdict
        return None
    if not math.isfinite(end) or abs(end) > DIVERGENCE_FACTOR * max(1.0, abs(start)):
        return f"loss went from {start:.4g} to {end:.4g} in {inst.iterations} iterations"
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:500]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# -- pytest plugin -----------------------------------------------------------

_WORKER: Worker | None = None


def current() -> Worker:
    global _WORKER
    if _WORKER is None:
        load_plugins()
        _WORKER = Worker(read_plan())
    return _WORKER


def environment() -> dict[str, Any]:
    """What the JSON should say about where these numbers come from."""
    w = current()
    return {
        "machine": w.plan.get("machine") or platform.node(),
        "run": w.plan.get("run"),
        "group": w.plan.get("group"),
        "device": w.device,
        "threads": w.threads,
        "cpus": thread_settings.available_cpus(),
        "thread_settings": w.thread_report,
        "framework_versions": dict(w.versions),
        "dtypes": sorted({c["cell"]["dtype"] for c in w.plan.get("cells", [])}),
        "cpu": cpu_model(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["bench"] = environment()


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["bench"] = environment()
