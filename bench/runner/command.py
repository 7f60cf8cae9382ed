"""Time derivative computations with pytest-benchmark, one process per worker group.

Every cell (problem x size x backend x variant x dtype x kind) is timed by the
suite ``bench/runner/suite.py`` inside a worker process that runs one backend,
with the same ``--threads`` setting applied to every framework before it is
imported. Each finished cell is written at once to RUN/cells/<cell>.json
(atomically), so an interrupted run loses nothing and ``--resume`` carries on
where it stopped. A cell that crashes its worker or runs past ``--timeout`` is
recorded as ``crashed`` or ``timeout`` and the run goes on with the next cell;
cells whose worker died before reaching them are ``not_run`` and retried once
by ``--resume``, which also measures again every cell that failed because a
framework or device was missing (:mod:`bench.runner.retry`). One run at a time
per folder; a folder holding committed results (a results.csv no cell record
backs) is never written into.

Defaults: every installed backend plus the article's own NumPy loops (pseudo
backend ``article``, kind ``solve``, float64), every problem, each problem's
default sizes, float64, every variant of every backend and the experts'
witnesses of the headline cells, every kind the problem defines, the CPU.

Exit status: 0 every cell ok; 3 the run finished but some cell did not end ok
(nan, diverged, crashed, timeout, error, not_run) or a planned cell has no
record; 2 bad input (nothing written); 4 a file could not be written (disk
full ...); 128 + the signal when interrupted (130 Ctrl-C, 143 SIGTERM, 129
SIGHUP), with results.csv written from the finished cells.

Examples:
  python -m bench run
  python -m bench run --backend jax --backend numpy --problem logistic_regression --size medium
  python -m bench run --size 5000 --kind gradient --dtype float32 --threads 1 --mode autograd
  python -m bench run --resume --out results/nightly
"""

from __future__ import annotations

import dataclasses
import platform
import shlex
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import backends

from .. import fmt, results, uncertainty
from ..cells import ARTICLE, CellSpec
from ..cli import UsageError, load_plugins
from ..environment import Environment, MachineState
from . import config as run_config
from . import folder as run_folder
from . import repeat, retry
from .machine import describe_run, machine_speed
from .plan import groups, make_plan
from .retry import Earlier

HELP = "time every cell with pytest-benchmark, one process per backend; write a run folder"
EXIT_CELLS_NOT_OK = 3
#: signals that end a run as Ctrl-C does (exit status 128 + the signal)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def add_arguments(p) -> None:
    run_config.add_arguments(p)


@dataclass(frozen=True)
class Resume:
    """What the folder and the filters say to run: the cells, the folder's saved plan (None when there is
    none or it is not continued), why that plan is damaged (or None), and notes for the user."""

    specs: list[CellSpec]
    saved: list[CellSpec] | None
    damage: str | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Work:
    """What this invocation measures: the planned cells, those left to run, those run again (with what
    their earlier records say), and the name its records give the machine."""

    specs: list[CellSpec]
    todo: list[CellSpec]
    retried: dict[str, Earlier]
    machine: str


def plan_cells(config: run_config.RunConfig, run: run_folder.RunFolder) -> Resume:
    """The cells to run now, from the filters or the folder's plan (reads only)."""
    notes: list[str] = []
    specs, saved, damage = _plan(config, run, notes)
    return Resume(specs, saved, damage, tuple(notes))


def _plan(config: run_config.RunConfig, run: run_folder.RunFolder, notes: list[str]):
    """``(specs to run now, the folder's saved plan or None, why the saved plan is damaged or None)``.

    Reads only. With ``--resume`` and no filter the folder's own plan is
    continued; a damaged or missing plan is rebuilt from the finished records.
    """
    saved, damage = run.read_plan() if config.resume else (None, None)
    if config.filtered or not config.resume:
        return make_plan(config, notes), saved, damage
    if saved is not None and damage is None:
        return saved, saved, None
    recorded = run_folder.specs_from_records(results.scan(run.path)[0], run.path / results.CELLS)
    rebuilt = run_folder._unique(list(saved or []) + recorded)
    if damage is None:  # no plan.json at all
        if not recorded:
            return make_plan(config, notes), None, None  # a new folder: the default run
        notes.append(
            f"{run.path} has no {run_folder.PLAN}: the plan is rebuilt from its {len(recorded)} finished "
            "cells; cells that never ran are not known (add the filters that made the run to plan them)"
        )
        return rebuilt, rebuilt, None
    if not rebuilt:
        raise UsageError(
            f"{run.path / run_folder.PLAN} is damaged ({damage}) and no cell has finished: nothing tells "
            "what the run was; start it again with its filters (without --resume) or restore the plan"
        )
    notes.append(
        f"{run.path / run_folder.PLAN} is damaged ({damage}): the plan is rebuilt from {len(rebuilt)} cells "
        "it proves (valid entries and finished records); add the run's filters to plan the others"
    )
    return rebuilt, rebuilt, damage


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the runner is, so that the run ends as Ctrl-C ends it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stop_signals_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` (a ``KeyboardInterrupt``): the worker is killed,
    results.csv written from the records, the lock released, the resume hint printed, and the
    exit status is 128 + the signal. A second one while the run winds down is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum, frame):
        if fired:
            return
        fired.append(signum)
        raise Stopped(signum)

    earlier = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in earlier.items():
            signal.signal(sig, old)


def main(args) -> int:
    with stop_signals_as_interrupts():
        return _main(args)


def _main(args) -> int:
    console = fmt.console(highlight=False, width=None if sys.stdout.isatty() else 160)
    config = run_config.from_args(args)
    load_plugins()
    if config.scheduler:
        from . import cluster

        cluster.check_address(config.scheduler)
    run = run_folder.RunFolder(run_folder.choose(config.out, config.resume))
    run.refuse_if_unusable(config.resume)
    plan = plan_cells(config, run)
    if config.list_only:
        for note in plan.notes:
            console.print(f"note: {note}", markup=False)
        for spec in plan.specs:
            console.print(spec.id, markup=False, highlight=False)
        console.print(f"{len(plan.specs)} cells", markup=False)
        return 0
    if not config.scheduler or config.scheduler.startswith("local:"):  # a remote cluster's devices are not here
        plan = dataclasses.replace(plan, specs=_device_check(config, plan.specs, console))

    connection = None
    if config.scheduler:  # reach the scheduler before anything is written
        from . import cluster

        connection = cluster.connect(config.scheduler)
    try:
        run.create()
        with run.lock():
            return _run_locked(config, run, plan, console, connection)
    finally:
        for closable in connection or ():
            if closable is not None:
                closable.close()


def _device_check(config, specs, console):
    """The cells to run, once every backend with cells on the GPU was asked whether it sees one
    (:mod:`bench.runner.device`); refused in one line per backend that does not, where it was named."""
    from . import device

    def refuse(lines: list[str]) -> UsageError:
        for line in lines[:-1]:
            print(f"error: {fmt.terminal(line)}", file=sys.stderr)
        return UsageError(lines[-1])

    note = lambda message: console.print(f"note: {message}", markup=False, highlight=False)  # noqa: E731
    return device.check(specs, bool(config.backend), note, refuse)


def _run_locked(config, run, plan: Resume, console, connection=None) -> int:
    """The run, under the lock; interrupted (Ctrl-C, SIGTERM, SIGHUP) at any moment, it keeps
    results.csv from the records finished so far and says how to resume."""
    try:
        return _run_body(config, run, plan, console, connection)
    except KeyboardInterrupt as exc:
        _keep_table(run, console)
        if not getattr(exc, "hinted", False):
            console.print(
                f"interrupted: finished cells are kept in {run.path}; continue with "
                f"python -m bench run --resume --out {shlex.quote(str(run.path))}",
                markup=False,
            )
        raise


def _run_body(config, run, plan: Resume, console, connection=None) -> int:
    warn = lambda message: console.print(f"warning: {message}", markup=False, highlight=False)  # noqa: E731
    work = _start(config, run, plan, console, warn)
    if config.scheduler:
        from . import cluster
        from .supervise import Supervisor

        try:
            states = cluster.run(config, run, work, console, connection)
        except KeyboardInterrupt as exc:
            exc.hinted = True  # type: ignore[attr-defined] # cluster.run said how to resume
            raise
        articles = Supervisor(config, run, work.machine, lambda m: console.print(m, markup=False))
        for backend in sorted({s.cell.backend for s in work.specs} & set(backends.NAMES)):
            articles.article_data(backend, config.threads)  # the article's pictures, drawn here
    else:
        states = _run_here(config, run, work, console)
    return _finish(config, run, work.specs, states, warn, console)


def _start(config, run, plan: Resume, console, warn) -> Work:
    """The folder made ready under the lock (scratch cleared, plan and env.json written); what to measure."""
    run.refuse_if_unusable(config.resume)  # again, now that no other runner can change it
    run.clear_scratch()
    records = run.records(warn)
    if plan.damage is not None and (run.path / run_folder.PLAN).exists():
        run.set_aside(run.path / run_folder.PLAN, plan.damage, warn)
    for note in plan.notes:
        console.print(f"note: {note}", markup=False)
    all_specs = run.merge_plan(plan.saved if plan.damage is None else None, plan.specs)
    run.add_env(describe_run(config, all_specs), warn, command=config.command)
    specs = plan.specs
    retried = retry.earlier(records, [s.id for s in specs])
    todo = [s for s in specs if s.id not in records or s.id in retried]
    if config.resume:
        line = f"resuming {run.path}: {len(specs) - len(todo)} of {len(specs)} cells already done"
        if retried:
            line += f"; {len(retried)} that could not run before are tried again"
        console.print(line, markup=False)
    console.print(f"run folder: {run.path}", markup=False)
    return Work(specs, todo, retried, config.tag or platform.node())


def _keep_table(run, console) -> None:
    """results.csv from the records finished so far (an interrupted run keeps its table)."""
    try:
        results.load(run.path, on_skip=lambda path, why: None)
    except (OSError, ValueError) as exc:
        console.print(f"note: {results.CSV} not written ({exc})", markup=False)


def _finish(config, run, specs, states, warn, console) -> int:
    """env.json's end, the summary, and the exit status."""
    frame = results.load(run.path)
    statuses = dict(Counter(frame["status"].dropna()))
    speed = machine_speed()  # a last reading of the machine's speed (env.json keeps the fastest)
    run.add_env(Environment(finished=results.now(), statuses=statuses, machine_state=states, speed=speed), warn)
    from .summary import print_summary

    busy = [state.verdict for state in states.values() if state.verdict]
    print_summary(frame, console, busy, run.path)
    console.print(f"results: {run.path / results.CSV}", markup=False)
    planned = {s.id for s in specs}
    not_ok = frame[frame["cell"].isin(planned) & (frame["status"] != "ok")]
    missing = planned - set(frame["cell"].dropna())
    if missing:
        console.print(
            f"{len(missing)} of {len(planned)} planned cells have no record (exit status {EXIT_CELLS_NOT_OK})",
            markup=False,
        )
    if len(not_ok):
        console.print(
            f"{len(not_ok)} of {len(planned)} cells did not end ok (exit status {EXIT_CELLS_NOT_OK})", markup=False
        )
    return EXIT_CELLS_NOT_OK if missing or len(not_ok) else 0


def _run_here(config, run, work: Work, console) -> dict[str, MachineState]:
    """Every worker group in turn on this machine, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .supervise import Supervisor

    specs, todo, retried, machine_name = work.specs, work.todo, work.retried, work.machine
    todo_ids = {s.id for s in todo}
    with Progress(
        TextColumn("{task.description}", style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("starting", total=len(specs), completed=len(specs) - len(todo))
        planned = {s.id for s in specs}

        def advance(current: str | None) -> None:
            finished = len(planned & results.recorded(run.path)) - len(retried)
            progress.update(
                task, completed=max(finished, len(specs) - len(todo)), description=fmt.markup(current or "")
            )

        note = lambda message: progress.console.print(message, markup=False, highlight=False)  # noqa: E731
        supervisor = Supervisor(config, run, machine_name, note, advance)
        try:
            for group, group_specs in groups(specs).items():
                left = [s for s in group_specs if s.id in todo_ids]
                if left:
                    progress.update(task, description=group)
                    supervisor.run_group(group, left, retried)
                backend = next((s.cell.backend for s in group_specs if s.cell.backend != ARTICLE), None)
                if backend in backends.NAMES:
                    supervisor.article_data(backend, group_specs[0].threads)
                run.add_env(Environment(speed=machine_speed()), note)  # one more reading: env.json keeps the fastest
            progress.update(task, completed=len(specs), description="done")
            # chosen among the cells this invocation measured, plus those an interrupted repeat pass left
            # (env.json's repeat_pending): a resumed run never measures again what was already chosen from
            again = repeat.choose(config.repeat, run.path, [s for s in specs if s.id in todo_ids])
            spent = repeat.over_budget(run.path) if config.repeat == "auto" else None
            if spent:
                note(f"note: {spent}")
            pending = run.read_env().repeat_pending or ()
            left = [s for s in specs if s.id in pending and s not in again]
            again += repeat.choose("all", run.path, left) if left else []
            _repeat_pending(run, [s.id for s in again], note)
            if again:
                _later_pass(supervisor, progress, "repeat", again, repeat.PASS)
                _repeat_pending(run, [], note)
            chosen = [s for s in specs if s.id in {a.id for a in again}]
            for pass_no in range(repeat.PASS + 1, config.processes + 1):  # --processes 3 and up
                later = repeat.later(run.path, chosen, pass_no)
                _later_pass(supervisor, progress, f"process {pass_no}", later, pass_no)
            if config.repeat != "none":  # the cells every process so far measured while the machine ran slow or busy
                pass_no = uncertainty.AGAIN_PASS
                disturbed = repeat.still_disturbed(run.path, [s for s in specs if s.id in todo_ids], pass_no)
                _later_pass(supervisor, progress, "measure again (the machine ran slow)", disturbed, pass_no)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: the worker goes too (the hint: _run_locked)
            supervisor.kill()
            progress.stop()
            raise
    return supervisor.states


def _later_pass(supervisor, progress, title: str, specs: list[CellSpec], pass_no: int) -> None:
    """One more process for each of ``specs``, group by group (in reverse order on even passes, so that a
    slow drift of the machine favours no group)."""
    if not specs:
        return
    task = progress.add_task(title, total=len(specs))
    ordered = list(groups(specs).items())
    for group, group_specs in reversed(ordered) if pass_no % 2 == 0 else ordered:
        progress.update(task, description=f"{title}: {group}")
        supervisor.run_group(group, group_specs, {}, pass_no=pass_no)
        progress.advance(task, len(group_specs))
    progress.update(task, description=f"{title}: done")


def _repeat_pending(run, ids: list[str], warn) -> None:
    """env.json's cells a resumed run still has to repeat."""
    run.update_env(lambda env: dataclasses.replace(env, repeat_pending=tuple(ids)), warn)
