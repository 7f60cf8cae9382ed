"""The machine: its environment (CPU, GPU, versions), and was it quiet? Its state around each worker group.

A timing is only as good as the machine was quiet: :class:`Watch` reads the
load average, the CPU time every process used (from ``psutil.cpu_times``),
the CPU time of this runner and its workers, CPU steal (virtual machines) and
the frequency governor, before and after a worker group. :func:`verdict` says
in one sentence when something else competed for the CPUs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backends
from bench.cli import harness_version
from bench.environment import Environment, MachineState

from . import pools

#: distributions whose versions are recorded besides the backends' own (``BackendInfo.distributions``)
HARNESS_DISTRIBUTIONS = ("pytest-benchmark",)

#: others' share of the CPUs (0..1) above which a group is flagged busy
BUSY_SHARE = 0.10
#: steal share above which a group is flagged
STEAL_SHARE = 0.05


def _tick() -> float:
    try:
        return 1.0 / os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 0.01


#: CPU seconds of other processes that a window cannot tell from none: the kernel counts CPU time in
#: clock ticks (10 ms), and the machine's total and this process's own are each read to a tick or two,
#: so a 50 ms window of a quiet machine reads up to 20% others without this allowance
TICK_SLACK = 3 * _tick()


def governor() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip() or None
    except OSError:
        return None


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


@dataclass
class _Reading:
    wall: float
    busy: float  #: CPU seconds all processes used (user + system + nice + irq ...)
    steal: float
    own: float  #: CPU seconds of this process and its waited-for children


def _read(pids: Sequence[int] = ()) -> _Reading:
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    steal = getattr(t, "steal", 0.0)
    busy = sum(t) - idle - steal - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
    own = os.times()
    mine = own.user + own.system + own.children_user + own.children_system
    for pid in pids:  # processes working for this one (a duel's servers) are not "other processes"
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            mine += times.user + times.system
    return _Reading(time.monotonic(), busy, steal, mine)


class Watch:
    """``with Watch() as w: ...`` then ``w.state()``: what else the machine did meanwhile; the processes
    ``pids`` (live children working for this one) count as this process."""

    def __init__(self, pids: Sequence[int] = ()):
        self.pids = tuple(pids)

    def __enter__(self):
        self.load_before = load_average()
        self._start = _read(self.pids)
        return self

    def __exit__(self, *exc) -> None:
        self._end = _read(self.pids)
        self.load_after = load_average()

    def others_share(self) -> float:
        """Other processes' share of the CPUs (0..1) between entering and leaving."""
        a, b = self._start, self._end
        others = max(0.0, (b.busy - a.busy) - (b.own - a.own) - TICK_SLACK)
        return min(1.0, others / (max(b.wall - a.wall, 1e-9) * (os.cpu_count() or 1)))

    def state(self) -> MachineState:
        a, b = self._start, self._end
        wall = max(b.wall - a.wall, 1e-9)
        cpus = os.cpu_count() or 1
        return MachineState(
            seconds=round(wall, 2),
            load_before=self.load_before,
            load_after=self.load_after,
            others_cpu_share=round(self.others_share(), 3),
            steal_share=round(max(0.0, b.steal - a.steal) / (wall * cpus), 3),
            cpus=cpus,
            governor=governor(),
        )


def verdict(group: str, state: MachineState) -> str | None:
    """One sentence when something competed with the measurement, else None."""
    why = []
    others = state.others_cpu_share or 0.0
    steal = state.steal_share or 0.0
    if others > BUSY_SHARE:
        why.append(f"other processes used {others:.0%} of the CPUs")
    if steal > STEAL_SHARE:
        why.append(f"the hypervisor stole {steal:.0%} of the CPU time")
    if state.governor not in (None, "performance") and others > BUSY_SHARE:
        why.append(f"the frequency governor is {state.governor}")
    if not why:
        return None
    return (
        f"{group}: the machine was not quiet ({', '.join(why)}; load {state.load_before} -> "
        f"{state.load_after} on {state.cpus} CPUs): read its timings with care"
    )


def judged(group: str, state: MachineState) -> MachineState:
    """``state`` with the runner's verdict on it (kept in env.json: the report says it too)."""
    return dataclasses.replace(state, verdict=verdict(group, state))


def describe_run(config, specs) -> Environment:
    """What env.json says about where the numbers of ``specs`` come from (no framework imported)."""
    versions = {"python": platform.python_version()}
    for dist in (*backends.distributions(), *HARNESS_DISTRIBUTIONS):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return Environment(
        machine=config.tag or platform.node(),
        hostname=platform.node(),
        cpu=cpu_model(),
        gpu=gpu_model(),
        cores=os.cpu_count(),
        cpus_allowed=len(pools.available_cpus()),
        platform=platform.platform(),
        python=sys.version.split()[0],
        harness_version=harness_version(),
        versions=versions,
        threads=tuple(sorted({s.threads for s in specs})),
        devices=tuple(sorted({s.device for s in specs})),
        dtypes=tuple(sorted({s.cell.dtype for s in specs})),
        backends=tuple(sorted({s.cell.backend for s in specs})),
        timeout=config.timeout,
        min_rounds=config.min_rounds,
        max_time=config.max_time,
        repeat=getattr(config, "repeat", None),
        processes=getattr(config, "processes", None),
        wait_policy=getattr(config, "wait_policy", pools.DEFAULT_WAIT_POLICY),
        speed=machine_speed(),
        **git_state(),
    )


def gpu_model() -> str | None:
    """The NVIDIA GPU's model as the driver reports it (no framework imported), or None."""
    models = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    models.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return ", ".join(models) or None


def git_state(where: Path | None = None) -> dict[str, Any]:
    """``git_commit`` of the code that ran and ``git_dirty``: whether its tracked files differ from
    that commit (pytest-benchmark's ``dirty``); both None outside a git checkout."""
    where = where or Path(__file__).parent
    commit = _git(where, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    changes = _git(where, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit or None, "git_dirty": None if changes is None else bool(changes)}


def _git(where: Path, *args: str) -> str | None:
    """git's output (stripped), or None when git is missing or fails; it never takes git's index lock."""
    import subprocess

    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, check=False, cwd=where, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def speed_probe(repeats: int = 5) -> float:
    """Seconds for a fixed pure-Python loop, the best of ``repeats`` (about 0.06 ms each).

    A virtual machine can run everything slower for a while (a neighbour on the host, a
    throttled core) with no other process in sight: the CPU shares and steal time stay at
    zero. The probe sees it, and the run compares each cell's probe with its fastest
    (:func:`bench.uncertainty.annotate`)."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        total = 0
        for i in range(2_000):
            total += i * i
        best = min(best, time.perf_counter() - t0)
    return best


def machine_speed(repeats: int = 7) -> dict[str, float]:
    """The machine's speed at one moment, in seconds, best of ``repeats`` each (about 0.1 s in all):
    ``loop`` (:func:`speed_probe`), ``matmul`` (NumPy, a 192 x 192 matrix product: the vector units)
    and ``stream`` (NumPy, adding a constant to 8 MB: the caches and memory).

    The runner records the fastest of its readings at the start of a run, after each worker group of its
    first pass and at its end (env.json's ``speed``): one reading can meet a slow moment. Two runs whose
    NumPy readings differ by more than :data:`bench.report.comparison.SPEED_FACTOR` ran on different
    hosts, or one shared with a heavy neighbour, even where the name and CPU agree: on a 2-core virtual
    machine a run of the same code 14 hours after another was 2 to 4 times slower in every cell, with
    the same name and CPU, while the pure-Python loop alone ran no slower."""
    import numpy as np

    a = np.random.default_rng(0).random((192, 192))
    x = np.zeros(1 << 20)
    out = np.empty_like(x)
    work = {"matmul": lambda: a @ a, "stream": lambda: np.add(x, 1.0, out=out)}
    speed = {"loop": float(f"{speed_probe(repeats):.4g}")}
    for name, fn in work.items():
        fn()
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        speed[name] = float(f"{best:.4g}")
    return speed
