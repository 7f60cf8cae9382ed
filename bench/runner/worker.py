"""What happens inside one worker process: measure cells, write their records.

The runner (:mod:`bench.runner.supervise`) starts ``pytest bench/runner/suite.py
-p bench.runner.worker`` once per worker group with ``BENCH_PLAN`` naming a
:class:`WorkerPlan` (JSON). For every cell, :meth:`Worker.run_cell`

1. writes the "now running" marker the runner watches for timeouts and crashes,
2. builds the cell (data, conversion, derivative function: all untimed) and
   makes the first call (tracing, compilation) and a second, warm call, timed
   apart with ``perf_counter`` while the process's peak memory is kept (:class:`MemorySampler`),
3. refuses to time a NaN/Inf output (status ``nan``) or a diverged solve,
4. hands the synchronised call to pytest-benchmark for calibration, rounds and
   statistics (``benchmark.pedantic`` with one to three rounds, within the slow
   budget, where one call already exceeds ``--benchmark-max-time``, so
   calibration would be absurd),
5. for a witness, times it again in interleaved rounds with its backend's fastest protocol rows,
   kept built from earlier in the process (:class:`.interleave.Pairs`: the protocol tax),
6. writes the cell's tidy record atomically to ``cells/<cell id>.json``.

As a pytest plugin this module also adds the run's environment to
pytest-benchmark's JSON.
"""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import results, uncertainty
from ..cells import ARTICLE, CellSpec, SpecError
from ..cli import load_plugins
from ..fmt import one_line
from . import interleave, machine, pools
from .repeat import add_repeat

PLAN_VARIABLE = "BENCH_PLAN"
RUNNING = ".running"
#: fewest rounds of a cell whose single call exceeds ``--benchmark-max-time``
MIN_SLOW_ROUNDS = 3
#: a solve whose loss grows beyond this factor of its start is reported as diverged
LOSS_GROWTH_LIMIT = 1e6


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process runs: the cells of one group, and where their records go."""

    group: str
    device: str
    threads: int
    cells: tuple[CellSpec, ...]
    run_dir: str | None = None
    run: str | None = None
    machine: str = field(default_factory=platform.node)
    slow_budget: float = 10.0
    seed: int = 0
    attempts: dict[str, int] = field(default_factory=dict)  #: earlier attempts of a cell (retried ones)
    previous: dict[str, str] = field(default_factory=dict)  #: their status and reason
    load: float | None = None  #: 1-minute load average when the group started
    pass_no: int = 1  #: 2 and up: a repeat, adding this process's rounds to the cell's record

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "device": self.device,
            "threads": self.threads,
            "cells": [spec.to_json() for spec in self.cells],
            "run_dir": self.run_dir,
            "run": self.run,
            "machine": self.machine,
            "slow_budget": self.slow_budget,
            "seed": self.seed,
            "attempts": self.attempts,
            "previous": self.previous,
            "load": self.load,
            "pass": self.pass_no,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WorkerPlan:
        cells = tuple(CellSpec.from_json(c) for c in d.get("cells", []))
        for spec in cells:  # one process: one backend, device and thread count (a cluster task may hold a slice)
            if spec.group != cells[0].group or spec.threads != int(d["threads"]) or spec.device != d["device"]:
                raise SpecError(f"cell {spec.id} does not belong to worker group {d['group']}")
        return cls(
            group=d["group"],
            device=d["device"],
            threads=int(d["threads"]),
            cells=cells,
            run_dir=d.get("run_dir"),
            run=d.get("run"),
            machine=d.get("machine") or platform.node(),
            slow_budget=float(d.get("slow_budget") or 10.0),
            seed=int(d.get("seed") or 0),
            attempts=dict(d.get("attempts") or {}),
            previous=dict(d.get("previous") or {}),
            load=d.get("load"),
            pass_no=int(d.get("pass") or 1),
        )


def read_plan(path: str | None = None) -> WorkerPlan | None:
    path = path or os.environ.get(PLAN_VARIABLE)
    if not path:
        return None
    return WorkerPlan.from_json(json.loads(Path(path).read_text()))


def marker_path(run_dir: Path | str, group: str) -> Path:
    return Path(run_dir) / RUNNING / f"{group}.json"


class MemorySampler:
    """Peak resident memory of this process while the block runs, and its resident memory before.

    Where Linux lets a process reset its resident high-water mark (``5`` written to
    ``/proc/self/clear_refs``), the peak is the kernel's ``VmHWM``, so no short peak is
    missed and no thread runs beside the calls; elsewhere a thread samples the resident
    set every ``interval`` seconds.
    The peak above ``base`` is what the block added: the cell's data, compiled code and the
    first calls' temporaries, not the framework's runtime.
    """

    def __init__(self, interval: float = 0.002):
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.base = self.peak = self._rss()
        self.exact = _reset_high_water_mark()

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self._thread = None if self.exact else threading.Thread(target=self._sample, daemon=True)
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._rss(), _high_water_mark() if self.exact else 0)


def _reset_high_water_mark() -> bool:
    """Reset this process's peak resident set (Linux), True where that worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _high_water_mark() > 0


def _high_water_mark() -> int:
    """This process's peak resident set since the last reset, bytes (0 where unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Worker:
    """The state of one worker process: its plan, frameworks loaded, thread settings."""

    def __init__(self, plan: WorkerPlan):
        self.plan = plan
        self.run_dir = Path(plan.run_dir) if plan.run_dir else None
        self.versions: dict[str, str] = {}
        self.thread_report: dict[str, Any] = {}
        self.pairs = interleave.Pairs(plan.cells, plan.slow_budget, plan.seed, plan.pass_no)  # the tax, interleaved

    def version(self, name: str) -> str:
        """The framework's version, importing it and applying the thread setting once."""
        import backends

        if name not in self.versions:
            b = backends.get(name)
            self.thread_report[name] = {
                "threads": self.plan.threads,
                "cpus": pools.available_cpus(),
                **b.set_threads(self.plan.threads),
            }
            self.versions[name] = b.version()
        return self.versions[name]

    def mark(self, cell_id: str | None) -> None:
        if self.run_dir is None:
            return
        results.write_json(
            marker_path(self.run_dir, self.plan.group), {"cell": cell_id, "started": time.time(), "pid": os.getpid()}
        )

    # -- one cell ----------------------------------------------------------
    def run_cell(self, spec: CellSpec, benchmark, config) -> dict[str, Any]:
        cell = spec.cell
        rec = results.record(
            **spec.columns(),
            machine=self.plan.machine,
            run=self.plan.run,
            started=results.now(),
            status="error",
            attempts=self.plan.attempts.get(spec.id, 0) + 1,
            previous=self.plan.previous.get(spec.id),
            load=self.plan.load,
        )
        self.mark(spec.id)
        t0 = time.perf_counter()
        try:
            if cell.backend == ARTICLE:
                import numpy

                rec["version"] = numpy.__version__
            else:
                rec["version"] = self.version(cell.backend)
            self._measure(spec, rec, benchmark, config)
        except Exception as exc:  # a framework's exception ends this cell only
            rec["status"] = "error"
            rec["reason"] = one_line(exc)
            for name in results.STAT_COLUMNS + ("rounds",):
                rec[name] = None
            rec["traceback"] = traceback.format_exc(limit=-8)  # kept in the record, not a table column
            print(rec["traceback"])  # and in the worker's log
        self.pairs.finish(spec)  # a witness's cell has ended, ok or not: the rows kept for it are let go
        rec["finished"] = results.now()
        rec["cell_time"] = time.perf_counter() - t0  # the whole cell, building and calibration included
        benchmark.extra_info.update({k: v for k, v in rec.items() if k not in results.STAT_COLUMNS})
        if self.run_dir is not None:
            if self.plan.pass_no > 1:  # a repeat: the cell's record gains this process's rounds
                earlier, _ = results.read_record(results.cell_path(self.run_dir, spec.id))
                if earlier is not None and earlier.get("status") == "ok":
                    rec = add_repeat(earlier, rec, self.plan.pass_no)
            results.save(self.run_dir, spec.id, rec)
            self.mark(None)
        return rec

    def _measure(self, spec: CellSpec, rec: dict[str, Any], benchmark, config) -> None:
        from ..cells import build

        slow_budget = self.plan.slow_budget
        with MemorySampler() as memory:
            t0 = time.perf_counter()
            built = build(spec.cell, device=spec.device, seed=self.plan.seed)
            rec["build_time"] = time.perf_counter() - t0
            rec["n"], rec["n_params"], rec["iterations"] = built.inst.n, built.inst.n_params, built.inst.iterations
            t0 = time.perf_counter()
            built.call()
            rec["first_call"] = first = time.perf_counter() - t0
            if first <= slow_budget:
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
        probe = speed_probe()  # how fast the machine runs a fixed loop just before and just after the rounds
        watch = machine.Watch().__enter__()  # what else the machine did while this cell was timed
        min_rounds = int(config.getoption("benchmark_min_rounds"))
        estimate = rec["warm_call"] if rec["warm_call"] is not None else first
        if estimate > max_time:
            # calibration would be absurd: a few rounds, as many as the slow budget allows
            rounds = min(MIN_SLOW_ROUNDS, min_rounds, max(1, math.floor(slow_budget / estimate)))
            out = benchmark.pedantic(built.call, rounds=rounds, iterations=1, warmup_rounds=0)
        else:
            out = benchmark(built.call)
        watch.__exit__(None, None, None)
        probe = max(probe, speed_probe())
        status, reason = check_output(built, out)
        rec["status"], rec["reason"] = status, reason
        if status != "ok":  # a wrong answer is never timed
            return
        stats = benchmark.stats.stats
        for name in results.STAT_COLUMNS:
            rec[name] = float(getattr(stats, name))
        rec["rounds"] = int(stats.rounds)
        state = watch.state()
        rec[uncertainty.SAMPLES] = [
            uncertainty.entry(
                stats.data, os.getpid(), self.plan.pass_no, state.others_cpu_share, state.steal_share, probe
            )
        ]
        rec["processes"] = 1
        if spec.cell.kind == "solve":  # what the run compares with NumPy's solve (bench.solves)
            from ..solves import fingerprint

            rec.update(fingerprint(built.inst, built.to_numpy(out)))
        self.pairs.after(spec, built, rec)


#: the machine's speed probe, timed just before and after each cell's rounds (one definition: :mod:`.machine`)
speed_probe = machine.speed_probe


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
        start = problem.progress(inst.params, inst.data)
        end = problem.progress(unflatten(np, values, inst.shapes), inst.data)
    except Exception:  # a loss that cannot take the solution: no verdict
        return None
    if not math.isfinite(end) or abs(end) > LOSS_GROWTH_LIMIT * max(1.0, abs(start)):
        return f"loss went from {start:.4g} to {end:.4g} in {inst.iterations} iterations"
    return None


# -- pytest plugin -----------------------------------------------------------

_WORKER: Worker | None = None


def current() -> Worker | None:
    """This process's worker (None when no plan was handed to it)."""
    global _WORKER
    if _WORKER is None:
        load_plugins()
        plan = read_plan()
        if plan is None:
            return None
        _WORKER = Worker(plan)
    return _WORKER


def benchmark_machine_info() -> dict[str, Any]:
    """What the JSON should say about where these numbers come from."""
    w = current()
    if w is None:
        return {}
    return {
        "machine": w.plan.machine,
        "run": w.plan.run,
        "group": w.plan.group,
        "device": w.plan.device,
        "threads": w.plan.threads,
        "cpus": pools.available_cpus(),
        "thread_settings": w.thread_report,
        "framework_versions": dict(w.versions),
        "dtypes": sorted({spec.cell.dtype for spec in w.plan.cells}),
        "cpu": machine.cpu_model(),
    }


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["bench"] = benchmark_machine_info()


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["bench"] = benchmark_machine_info()
