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
from pathlib import Path
from typing import Any

from .. import results, safe_io, uncertainty
from ..cells import CellSpec
from . import launch, machine, worker
from . import threads as thread_settings
from .config import RunConfig
from .folder import RunFolder
from .repeat import has_pass

#: a worker that has not started its first cell after this long is stuck
STARTUP_ALLOWANCE = 120.0
#: seconds between two looks at a worker (the runner must not steal CPU from the timings)
POLL = 0.25
SUITE = Path(__file__).with_name("suite.py")
ROOT = Path(__file__).resolve().parent.parent.parent


def child_env(threads: int, wait_policy: str = thread_settings.DEFAULT_WAIT_POLICY) -> dict[str, str]:
    env = thread_settings.environment(threads, wait_policy=wait_policy)
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
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


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
        self.states: dict[str, dict[str, Any]] = {}

    # -- records --------------------------------------------------------------------------------
    def record_failure(
        self, spec: CellSpec, status: str, reason: str, retried: dict[str, dict] | None = None, pass_no: int = 1
    ) -> None:
        if pass_no > 1:  # a repeat that failed never replaces the cell's measurement: it is noted in it
            path = results.cell_path(self.folder.path, spec.id)
            earlier, _ = results.read_record(path)
            if earlier is not None:
                results.save(
                    self.folder.path,
                    spec.id,
                    uncertainty.add_repeat(earlier, {"status": status, "reason": reason}, pass_no),
                )
            self.note(f"{status:>8}  {spec.id} (repeat): {reason}")
            return
        earlier = (retried or {}).get(spec.id)
        rec = results.record(
            **spec.columns(),
            status=status,
            reason=reason,
            machine=self.machine,
            run=self.folder.path.name,
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            attempts=(earlier.get("attempts") or 1) + 1 if earlier else 1,
            previous=f"{earlier['status']}: {earlier.get('reason')}" if earlier else None,
        )
        results.save(self.folder.path, spec.id, rec)
        self.note(f"{status:>8}  {spec.id}: {reason}")

    def _new_records(self, ids: set[str], retried: dict[str, dict], pass_no: int = 1) -> set[str]:
        """Ids among ``ids`` with a valid record written by this run (a retried cell's old record does not count;
        for a repeat: a record holding this pass's rounds or failure)."""
        good, _ = results.scan(self.folder.path)
        if pass_no > 1:
            return {i for i in ids if i in good and has_pass(good[i], pass_no)}
        return {
            i
            for i in ids
            if i in good and (i not in retried or (good[i].get("attempts") or 1) > (retried[i].get("attempts") or 1))
        }

    # -- one group ------------------------------------------------------------------------------
    def run_group(
        self, group: str, specs: list[CellSpec], retried: dict[str, dict], pass_no: int = 1
    ) -> dict[str, Any]:
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
        state = watch.state()
        name = group if pass_no == 1 else f"{group} (repeat {pass_no})"
        state["verdict"] = sentence = machine.verdict(name, state)  # kept in env.json: the report says it too
        self.states[name] = state
        if sentence:
            self.note(f"warning: {sentence}")
        return state

    def _run_worker(
        self, group: str, todo: list[CellSpec], retried: dict[str, dict], load: float | None, pass_no: int = 1
    ) -> bool:
        """One worker process on the cells left; False when it finished none of them."""
        config, run_dir = self.config, self.folder.path
        threads, device = todo[0].threads, todo[0].device
        plan = worker.WorkerPlan(
            group=group,
            device=device,
            threads=threads,
            cells=tuple(todo),
            run_dir=str(run_dir.resolve()),
            run=run_dir.name,
            machine=self.machine,
            slow_budget=config.slow_budget,
            attempts={i: int(r.get("attempts") or 1) for i, r in retried.items()},
            previous={i: f"{r['status']}: {r.get('reason')}" for i, r in retried.items()},
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
        log_path = free_name(run_dir / "logs", group, ".log")
        marker = worker.marker_path(run_dir, group)
        marker.unlink(missing_ok=True)
        env = child_env(threads, config.wait_policy)
        env[worker.PLAN_VARIABLE] = str(plan_path.resolve())
        cmd = launch.command(
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
            str(ROOT),
            threads=threads,
        )
        ids = {s.id for s in todo}
        # deadlines on this process's monotonic clock: a step of the wall clock never times a cell out
        started = since = time.monotonic()
        seen: tuple[Any, Any] | None = None  #: the marker's (cell, pid) and, in ``since``, when it was first seen
        timed_out = None
        stuck = False  #: no cell started in time: the environment's failure (not_run, retried), not the cell's
        with results.writing(log_path), safe_io.open_log(log_path) as log:
            log.write("$ " + shlex.join(cmd) + "\n")
            log.flush()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            while self.proc.poll() is None:
                time.sleep(POLL)
                now = time.monotonic()
                current = _marker(marker)
                cell_id = current.get("cell")
                self.progress(cell_id or group)
                if (cell_id, current.get("pid")) != seen:
                    seen, since = (cell_id, current.get("pid")), now
                if cell_id in ids and now - since > config.timeout:
                    timed_out = cell_id
                elif not current and now - started > max(config.timeout, STARTUP_ALLOWANCE):
                    stuck = True
                if timed_out or stuck:
                    self.kill()
                    break
            returncode = self.proc.wait()
            self.proc = None
        self._keep_benchmark_json(partial, group)
        done = self._new_records(ids, retried, pass_no)
        spec_of = {s.id: s for s in todo}
        current = _marker(marker).get("cell")
        if timed_out and timed_out not in done:
            self.record_failure(
                spec_of[timed_out], "timeout", f"no result after {config.timeout:g} s; worker killed", retried, pass_no
            )
        elif current in spec_of and current not in done:
            why = f"{describe_exit(returncode)} {log_tail(log_path, 1)}".strip()
            self.record_failure(spec_of[current], "crashed", why, retried, pass_no)
        done = self._new_records(ids, retried, pass_no)
        if done:
            return True
        if stuck:
            allowance = max(config.timeout, STARTUP_ALLOWANCE)
            reason = f"the worker started no cell within {allowance:g} s and was killed: {log_tail(log_path)}"
        else:
            reason = f"{describe_exit(returncode)} before running any cell: {log_tail(log_path)}"
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
        """``python -m bench.article --backend NAME --out RUN``, once per backend; failures are notes."""
        logs = self.folder.path / "logs"
        done = logs / f"article-{backend}.done"
        if done.exists():
            return
        log_path = logs / f"article-{backend}.log"
        with results.writing(logs):
            safe_io.make_dir(logs)
        cmd = launch.command("bench.article", "--backend", backend, "--out", str(self.folder.path), threads=threads)
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
                safe_io.write_text(done, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        else:
            what = "timed out" if code == "timeout" else describe_exit(int(code))
            self.note(f"note: article data for {backend} not written ({what}; see {log_path})")
