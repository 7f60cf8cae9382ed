"""Worker processes, watched: one per worker group, restarted past a crash or a timeout.

The supervisor starts ``pytest bench/runner/suite.py`` in a fresh process per
group (pinned to the thread setting by :mod:`bench.runner.launch`), watches the
worker's "now running" marker, kills a cell that runs past ``--timeout``,
records a cell that took its worker down as ``crashed``, and starts a new
worker on the cells left. A worker that dies before finishing any cell leaves
its remaining cells ``not_run`` (retried once by ``--resume``). Every record
is written atomically; pytest-benchmark's JSON is written under a scratch name
and moved into place only when whole.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import results, safe_io, uncertainty
from ..cells import CellSpec
from ..environment import MachineState
from . import launch, machine, pools, worker
from .config import RunConfig
from .folder import RunFolder
from .repeat import add_repeat, has_pass
from .retry import Earlier

#: the cells a run measures again, with what their earlier records say
Retried = dict[str, Earlier]

#: a worker that has not started its first cell after this long is stuck
STARTUP_ALLOWANCE = 120.0
#: seconds between two looks at a worker (the runner must not steal CPU from the timings)
POLL = 0.25
SUITE = Path(__file__).with_name("suite.py")
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def child_env(threads: int, wait_policy: str = pools.DEFAULT_WAIT_POLICY) -> dict[str, str]:
    env = pools.pool_variables(threads, wait_policy=wait_policy)
    env["BENCH_PARENT"] = str(os.getpid())
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def free_name(folder: Path, stem: str, suffix: str) -> Path:
    """A name no file, folder or link (even a dangling one) stands at."""
    path, k = folder / f"{stem}{suffix}", 1
    while os.path.lexists(path):
        k += 1
        path = folder / f"{stem}-{k}{suffix}"
    return path


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"worker process died with {name}{why}"
    return f"worker process exited with status {returncode}"


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    text = [line for line in text if not line.startswith("$ ")]  # the command line
    interesting = [line for line in text if "Error" in line or "error" in line] or text
    return " | ".join(interesting[-lines:])[:400]


def _marker(path: Path) -> dict[str, Any]:
    doc = safe_io.read_json(path)[0]
    return doc if isinstance(doc, dict) else {}


@dataclass(frozen=True)
class _Start:
    """One worker process to start: its group, cells, command line, environment and files."""

    group: str
    ids: set[str]
    cmd: list[str]
    env: dict[str, str]
    partial: Path  #: pytest-benchmark's JSON while it is written
    log: Path
    marker: Path  #: the cell the worker is on


@dataclass(frozen=True)
class _Ending:
    """How a worker process ended: its exit status, the cell that ran past the timeout, or no cell started."""

    returncode: int
    timed_out: str | None
    stuck: bool


def _command(config: RunConfig, partial: Path, threads: int) -> list[str]:
    """The worker's command line: pytest on the suite with the worker plugin and pytest-benchmark's settings."""
    return launch.command(
        "pytest",
        str(SUITE),
        "-p",
        "bench.runner.worker",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rfE",
        f"--benchmark-json={partial}",
        f"--benchmark-min-rounds={config.min_rounds}",
        f"--benchmark-max-time={config.max_time}",
        "--benchmark-sort=name",
        "--benchmark-columns=min,median,iqr,rounds",
        "--rootdir",
        str(REPO_ROOT),
        threads=threads,
    )


class Supervisor:
    """Runs worker groups into one run folder."""

    def __init__(
        self,
        config: RunConfig,
        folder: RunFolder,
        machine_name: str,
        note: Callable[[str], None],
        progress: Callable[[str | None], None] = lambda current: None,
    ):
        self.config, self.folder, self.machine = config, folder, machine_name
        self.note, self.progress = note, progress
        self.proc: subprocess.Popen | None = None
        self.states: dict[str, MachineState] = {}

    # -- records --------------------------------------------------------------------------------
    def record_failure(
        self, spec: CellSpec, status: str, reason: str, retried: Retried | None = None, pass_no: int = 1
    ) -> None:
        if pass_no > 1:  # a repeat that failed never replaces the cell's measurement: it is noted in it
            path = results.cell_path(self.folder.path, spec.id)
            earlier, _ = results.read_record(path)
            if earlier is not None:
                results.save(
                    self.folder.path,
                    spec.id,
                    add_repeat(earlier, {"status": status, "reason": reason}, pass_no),
                )
            self.note(f"{status:>8}  {spec.id} (repeat): {reason}")
            return
        before = (retried or {}).get(spec.id)
        rec = results.record(
            **spec.columns(),
            status=status,
            reason=reason,
            machine=self.machine,
            run=self.folder.path.name,
            finished=results.now(),
            attempts=before.attempts + 1 if before else 1,
            previous=before.previous if before else None,
        )
        results.save(self.folder.path, spec.id, rec)
        self.note(f"{status:>8}  {spec.id}: {reason}")

    def _new_records(self, ids: set[str], retried: Retried, pass_no: int = 1) -> set[str]:
        """Ids among ``ids`` with a valid record written by this run (a retried cell's old record does not count;
        for a repeat: a record holding this pass's rounds or failure)."""
        good, _ = results.scan(self.folder.path)
        if pass_no > 1:
            return {i for i in ids if i in good and has_pass(good[i], pass_no)}
        return {
            i for i in ids if i in good and (i not in retried or (good[i].get("attempts") or 1) > retried[i].attempts)
        }

    # -- one group ------------------------------------------------------------------------------
    def run_group(self, group: str, specs: list[CellSpec], retried: Retried, pass_no: int = 1) -> MachineState:
        """Every cell of ``specs`` ends with a record; returns the machine's state around the group.
        ``pass_no`` 2 and up: a repeat in a new process, adding its rounds to the cells' records."""
        left = list(specs)
        with machine.Watch() as watch:
            while left:
                progressed = self._run_worker(group, left, retried, watch.load_before, pass_no)
                done = self._new_records({s.id for s in left}, retried, pass_no)
                left = [s for s in left if s.id not in done]
                if not progressed:
                    break
        name = (
            group if pass_no == 1 else f"{group} (repeat {'again' if pass_no == uncertainty.AGAIN_PASS else pass_no})"
        )
        state = self.states[name] = machine.judged(name, watch.state())
        if state.verdict:
            self.note(f"warning: {state.verdict}")
        return state

    def _run_worker(
        self, group: str, todo: list[CellSpec], retried: Retried, load: float | None, pass_no: int = 1
    ) -> bool:
        """One worker process on the cells left; False when it finished none of them."""
        start = self._plan_worker(group, todo, retried, load, pass_no)
        with results.writing(start.log), safe_io.open_log(start.log) as log:
            self._start_worker(start, log)
            ending = self._watch_worker(start)
        self._keep_benchmark_json(start.partial, group)
        return self._post_mortem(start, todo, ending, retried, pass_no)

    def _plan_worker(
        self, group: str, todo: list[CellSpec], retried: Retried, load: float | None, pass_no: int
    ) -> _Start:
        """The worker's plan file, its log's and its marker's names, its command line."""
        config, run_dir = self.config, self.folder.path
        threads = todo[0].threads
        plan = worker.WorkerPlan(
            group=group,
            device=todo[0].device,
            threads=threads,
            cells=tuple(todo),
            run_dir=str(run_dir.resolve()),
            run=run_dir.name,
            machine=self.machine,
            slow_budget=config.slow_budget,
            attempts={i: e.attempts for i, e in retried.items()},
            previous={i: e.previous for i, e in retried.items()},
            load=load,
            pass_no=pass_no,
        )
        for folder in (run_dir / ".plans", run_dir / "logs", run_dir / worker.RUNNING):
            with results.writing(folder):
                safe_io.make_dir(folder)  # a link planted at a folder's name is never followed
        plan_path = free_name(run_dir / ".plans", group, ".json")
        results.write_json(plan_path, plan.to_json())
        partial = run_dir / ".plans" / f"bench-{plan_path.stem}.json.partial"
        partial.unlink(missing_ok=True)  # pytest-benchmark writes it by name: nothing may stand there
        marker = worker.marker_path(run_dir, group)
        marker.unlink(missing_ok=True)
        env = child_env(threads, config.wait_policy)
        env[worker.PLAN_VARIABLE] = str(plan_path.resolve())
        return _Start(
            group,
            {s.id for s in todo},
            _command(config, partial, threads),
            env,
            partial,
            free_name(run_dir / "logs", group, ".log"),
            marker,
        )

    def _start_worker(self, start: _Start, log) -> None:
        log.write("$ " + shlex.join(start.cmd) + "\n")
        log.flush()
        self.proc = subprocess.Popen(
            start.cmd, stdout=log, stderr=subprocess.STDOUT, env=start.env, start_new_session=True
        )

    def _watch_worker(self, start: _Start) -> _Ending:
        """Poll the worker until it ends; killed when a cell runs past the timeout or no cell starts in time.
        Deadlines are on this process's monotonic clock: a step of the wall clock never times a cell out."""
        assert self.proc is not None
        timeout = self.config.timeout
        started = since = time.monotonic()
        seen: tuple[Any, Any] | None = None  #: the marker's (cell, pid) and, in ``since``, when it was first seen
        timed_out, stuck = None, False  #: stuck: no cell started in time, the environment's failure (not_run)
        while self.proc.poll() is None:
            time.sleep(POLL)
            now = time.monotonic()
            current = _marker(start.marker)
            cell_id = current.get("cell")
            self.progress(cell_id or start.group)
            if (cell_id, current.get("pid")) != seen:
                seen, since = (cell_id, current.get("pid")), now
            if cell_id in start.ids and now - since > timeout:
                timed_out = cell_id
            elif not current and now - started > max(timeout, STARTUP_ALLOWANCE):
                stuck = True
            if timed_out or stuck:
                self.kill()
                break
        returncode = self.proc.wait()
        self.proc = None
        return _Ending(returncode, timed_out, stuck)

    def _post_mortem(
        self, start: _Start, todo: list[CellSpec], ending: _Ending, retried: Retried, pass_no: int
    ) -> bool:
        """Records for the cell the worker was on when it was killed or died; every cell ``not_run`` when
        it finished none. Whether it finished any."""
        timeout, log_path = self.config.timeout, start.log
        done = self._new_records(start.ids, retried, pass_no)
        spec_of = {s.id: s for s in todo}
        current = _marker(start.marker).get("cell")
        if ending.timed_out and ending.timed_out not in done:
            why = f"no result after {timeout:g} s; worker killed"
            self.record_failure(spec_of[ending.timed_out], "timeout", why, retried, pass_no)
        elif current in spec_of and current not in done:
            why = f"{describe_exit(ending.returncode)} {log_tail(log_path, 1)}".strip()
            self.record_failure(spec_of[current], "crashed", why, retried, pass_no)
        if self._new_records(start.ids, retried, pass_no):
            return True
        if ending.stuck:
            allowance = max(timeout, STARTUP_ALLOWANCE)
            reason = f"the worker started no cell within {allowance:g} s and was killed: {log_tail(log_path)}"
        else:
            reason = f"{describe_exit(ending.returncode)} before running any cell: {log_tail(log_path)}"
        for spec in todo:
            self.record_failure(spec, "not_run", reason, retried, pass_no)
        return False

    def _keep_benchmark_json(self, partial: Path, group: str) -> None:
        """pytest-benchmark's JSON, moved to ``bench-<group>.json`` only if whole; a partial one is removed."""
        if not partial.exists():
            return
        try:
            json.loads(partial.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            partial.unlink(missing_ok=True)
            self.note(f"note: pytest-benchmark's JSON of {group} was incomplete and is not kept")
            return
        os.replace(partial, free_name(self.folder.path, f"bench-{group}", ".json"))

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    # -- the article's pictures ---------------------------------------------------------------
    def article_data(self, backend: str, threads: int) -> None:
        """``python -m bench.runner.pictures --backend NAME --out RUN``, once per backend; failures are notes."""
        logs = self.folder.path / "logs"
        done = logs / f"article-{backend}.done"
        if done.exists():
            return
        log_path = logs / f"article-{backend}.log"
        with results.writing(logs):
            safe_io.make_dir(logs)
        cmd = launch.command(
            "bench.runner.pictures", "--backend", backend, "--out", str(self.folder.path), threads=threads
        )
        with results.writing(log_path), safe_io.open_log(log_path) as log:
            env = child_env(threads, self.config.wait_policy)
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                code: int | str = self.proc.wait(timeout=max(self.config.timeout, 600))
            except subprocess.TimeoutExpired:
                self.kill()
                code = "timeout"
            self.proc = None
        if code == 0:
            with results.writing(done):
                safe_io.write_text(done, results.now())
        else:
            what = "timed out" if code == "timeout" else describe_exit(int(code))
            self.note(f"note: article data for {backend} not written ({what}; see {log_path})")
