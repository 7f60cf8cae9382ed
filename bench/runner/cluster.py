"""The worker groups on a Dask cluster: ``python -m bench run --scheduler tcp://HOST:8786`` or ``--scheduler local:N``.

Each worker group (backend x device x thread count; cut into slices of whole
problems when the cluster has more workers than there are groups) becomes one
Dask task that needs the worker resource ``bench=1``, so a Dask worker runs at most one group
at a time and two timings never share a machine unless its workers were given
more. Inside the task the group runs exactly as on one machine: a supervised
pytest-benchmark process per group (timeouts, crash records, thread
settings), writing into a scratch folder on the worker. Each finished cell
record is shipped back through a Dask ``Queue`` as it appears, and the client
writes it atomically into the one run folder once checked (:mod:`.intake`: only
records of cells it asked for, only the file names a group writes); a record
names its machine.

A Dask worker lost mid-group: Dask reschedules its task on another worker, and
the task skips the cells whose records already reached the client (published
in a Dask ``Variable``), so finished cells are kept and none is repeated. The
plan, the run folder, its lock and ``--resume`` are the client's, as for a
local run.

The scheduler lost mid-run: the records written are kept, the cells left are
``not_run`` and the ``--resume`` command is printed. Ctrl-C: the same command,
exit 130.

Needs the ``cluster`` extra (``pip install -e ".[cluster]"``). Workers of a
remote scheduler are started with ``dask worker tcp://HOST:8786 --nworkers 1
--nthreads 1 --resources bench=1`` on machines that have the project installed.
Dask has no authentication: a ``tls://`` scheduler takes the client's
certificates from Dask's configuration (``distributed.comm.tls.*``).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import platform
import shlex
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import results
from ..cells import CellSpec
from ..environment import Environment, MachineState
from ..fmt import one_line
from .config import RunConfig
from .dask_connect import RESOURCE, check_address, connect, load_distributed  # noqa: F401 - the command calls these here
from .folder import RunFolder
from .intake import Intake
from .plan import slices
from .retry import Earlier
from .supervise import Supervisor

#: seconds between two looks at the records a group has written
SHIP_EVERY = 0.25


class SchedulerLost(Exception):
    """The connection to the scheduler broke mid-run (its tasks, queue and records in flight are gone)."""


# -- on a Dask worker --------------------------------------------------------------------------------


@dataclass
class GroupResult:
    """What a worker group's task sends back when it ends (as :meth:`to_json`: the client checks it as
    untrusted input, :mod:`.intake`): where it ran, the cells it skipped as already recorded, the cells
    whose records it shipped, the machine's environment and state, its pytest-benchmark files and logs."""

    group: str
    worker: str
    machine: str
    env: Environment
    skipped: int = 0
    shipped: list[str] = field(default_factory=list)
    state: MachineState | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    logs: dict[str, bytes] = field(default_factory=dict)
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        doc["env"] = self.env.to_json()
        doc["state"] = None if self.state is None else self.state.to_json()
        return doc


class _Shipper:
    """``with _Shipper(...)``: every finished record of a scratch run folder goes to the client's queue as it
    appears (from a thread), and once more at the end."""

    def __init__(self, folder: RunFolder, queue, worker: str, machine: str):
        self.folder, self.queue, self.worker, self.machine = folder, queue, worker, machine
        self.shipped: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def ship(self) -> None:
        good, _ = results.scan(self.folder.path)
        for cell_id, rec in good.items():
            if cell_id not in self.shipped:
                record = {**rec, "run": self.folder.path.name, "machine": self.machine}
                self.queue.put({"worker": self.worker, "record": record})
                self.shipped.add(cell_id)

    def _watch(self) -> None:
        while not self._stop.wait(SHIP_EVERY):
            try:
                self.ship()
            except Exception:  # the scheduler or this worker is going away: the task ends with it
                return

    def __enter__(self) -> _Shipper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is None:
            self.ship()


def run_group_task(
    group: str,
    specs: list[dict],
    retried: dict[str, list],
    config: dict[str, Any],
    run_name: str,
    queue_name: str,
    done_name: str,
) -> dict[str, Any]:
    """One worker group on this Dask worker; records go back through the queue as they finish; returns
    its :class:`GroupResult` as JSON."""
    from distributed import Queue, Variable, get_worker

    from ..cli import load_plugins
    from .machine import describe_run

    load_plugins()  # backends registered by BENCH_PLUGINS, as in the runner and its workers
    cells = [CellSpec.from_json(s) for s in specs]
    done = set(Variable(done_name).get(timeout=30) or ())
    left = [s for s in cells if s.id not in done]
    run_config = RunConfig(**{**config, "out": None})
    env = describe_run(dataclasses.replace(run_config, tag=None), cells)
    result = GroupResult(group, get_worker().address, platform.node(), env, skipped=len(cells) - len(left))
    if left:
        earlier = {i: Earlier.from_json(e) for i, e in retried.items()}
        # in the Dask worker's own directory, which Dask purges once the worker is gone, killed ones too
        where = getattr(get_worker(), "local_directory", None)
        with tempfile.TemporaryDirectory(prefix="bench-group-", dir=where) as scratch:
            folder = RunFolder(Path(scratch) / run_name)
            folder.create()
            _run_group(result, folder, Queue(queue_name), run_config, left, earlier)
    return result.to_json()


def _run_group(result: GroupResult, folder: RunFolder, queue, config: RunConfig, left, retried) -> None:
    """The group supervised into a scratch folder, its records shipped; its files kept in ``result``."""
    log = io.StringIO()
    supervisor = Supervisor(config, folder, result.machine, note=lambda m: print(m, file=log))
    with _Shipper(folder, queue, result.worker, result.machine) as shipper:
        result.state = supervisor.run_group(result.group, left, retried)
    result.shipped = sorted(shipper.shipped)
    result.files = {p.name: p.read_bytes() for p in folder.path.glob("bench-*.json")}
    result.logs = {p.name: p.read_bytes() for p in (folder.path / "logs").glob("*.log")}
    result.notes = log.getvalue()


# -- on the client -----------------------------------------------------------------------------------


def run(config: RunConfig, run_folder: RunFolder, work, console, connection) -> dict[str, MachineState]:
    """Every worker group of ``work.todo`` as a Dask task on ``connection`` (from :func:`connect`, closed
    here); records written here as they arrive, once checked (:mod:`.intake`)."""
    distributed = load_distributed()
    client, cluster = connection
    say = lambda line: console.print(line, markup=False, highlight=False)  # noqa: E731
    tasks = slices(work.todo, len(client.scheduler_info().get("workers", {})))
    intake = Intake(run_folder, {group: [s.id for s in specs] for group, specs in tasks.items()}, say)
    lost: SchedulerLost | None = None
    _quiet_dask("distributed.protocol")  # a message it cannot read: its traceback (the run warns in one line)
    try:
        session = _Session(distributed, client, intake, say)
        session.collect(session.submit(config, run_folder, tasks, work.retried))
    except KeyboardInterrupt:
        say(f"interrupted: finished cells are kept in {run_folder.path}; continue with {_resume(config, run_folder)}")
        raise
    except SchedulerLost as exc:
        lost = exc
    except OSError as exc:
        if client.status == "running":
            raise  # a file that could not be written here
        lost = SchedulerLost(str(exc))
    finally:
        if lost is not None or client.status != "running":
            _quiet_dask("distributed")  # its tracebacks while it tries to reconnect
        client.close()
        if cluster is not None:
            cluster.close()
    if lost is not None:
        say(
            f"error: lost the Dask scheduler at {config.scheduler} mid-run: the {len(intake.received)} "
            f"cells recorded are kept in {run_folder.path}; the others are not_run; continue with "
            f"{_resume(config, run_folder)}"
        )
    _record_missing(config, run_folder, work, intake, lost is not None, say)
    run_folder.update_env(
        lambda env: _with_cluster(env, config, intake, lost is not None), lambda m: say(f"warning: {m}")
    )
    return intake.states


def _with_cluster(env: Environment, config: RunConfig, intake: Intake, lost: bool) -> Environment:
    """env.json with each machine's environment and what the client received."""
    per_machine: dict[str, int] = {}
    for machine in intake.received.values():
        per_machine[machine] = per_machine.get(machine, 0) + 1
    summary = {
        "scheduler": config.scheduler,
        "cells_per_machine": per_machine,
        "received": len(intake.received),
        "repeated": len(intake.repeated),
        "refused": intake.refused,
        "scheduler_lost": lost,
    }
    return dataclasses.replace(env, machines={**env.machines, **intake.machines}, cluster=summary)


def _quiet_dask(prefix: str) -> None:
    """No log records from Dask's loggers named ``prefix...`` (the run says what happened in one line)."""
    for name in [prefix, *logging.root.manager.loggerDict]:
        if name.startswith(prefix):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _resume(config: RunConfig, run_folder: RunFolder) -> str:
    scheduler = ["--scheduler", config.scheduler] if config.scheduler else []
    return shlex.join(["python", "-m", "bench", "run", "--resume", "--out", str(run_folder.path), *scheduler])


class _Session:
    """The client's side of one cluster run: every group submitted, then what comes back stored until
    every task has ended; :class:`SchedulerLost` when the scheduler goes away."""

    def __init__(self, distributed, client, intake: Intake, say):
        self.distributed, self.client, self.intake, self.say = distributed, client, intake, say
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        self.queue = self.call(distributed.Queue, f"bench-records-{tag}", client=client)
        self.done = self.call(distributed.Variable, f"bench-done-{tag}", client=client)
        self.call(self.done.set, [])

    def call(self, call, *args, **kwargs):
        """A Dask call; a broken connection to the scheduler is :class:`SchedulerLost`."""
        try:
            return call(*args, **kwargs)
        except (OSError, self.distributed.client.FutureCancelledError) as exc:
            if self.client.status != "running" or isinstance(exc, self.distributed.comm.CommClosedError):
                raise SchedulerLost() from exc
            raise

    def submit(self, config: RunConfig, run_folder: RunFolder, tasks, retried) -> dict:
        """One Dask task per group, each needing the ``bench`` resource: ``{future: group}``."""
        plain = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        plain["out"] = None
        futures = {}
        for group, specs in tasks.items():
            mine = {s.id: retried[s.id].to_json() for s in specs if s.id in retried}
            future = self.call(
                self.client.submit,
                run_group_task,
                group,
                [s.to_json() for s in specs],
                mine,
                plain,
                run_folder.path.name,
                self.queue.name,
                self.done.name,
                key=f"bench-{group}-{self.tag}",
                resources={RESOURCE: 1},
                pure=False,
            )
            futures[future] = group
        workers = len(self.client.scheduler_info().get("workers", {}))
        self.say(f"{len(futures)} worker groups on {self.client.scheduler.address} ({workers} workers)")
        if (config.scheduler or "").startswith("tcp://"):
            self.say(
                "note: tcp:// is neither authenticated nor encrypted: whoever reaches the scheduler can run code "
                "on its workers and here; use tls:// off a trusted network (README: Running on a cluster)"
            )
        return futures

    def drain(self, wait: float) -> None:
        """The records queued so far, stored; the cells recorded published to the tasks."""
        try:
            batch = self.call(self.queue.get, timeout=wait, batch=True)
        except TimeoutError:
            return
        except SchedulerLost:
            raise
        except Exception as exc:  # a message Dask cannot read (sent by whom, Dask does not say)
            self.say(f"warning: records from the cluster could not be read and are dropped: {type(exc).__name__}")
            return
        if self.intake.take_records(batch):
            self.call(self.done.set, sorted(self.intake.received))

    def collect(self, futures: dict) -> None:
        """Records drained and each group's answer taken as its task ends, until every task has ended."""
        pending = set(futures)
        while pending:
            if self.client.status != "running":
                raise SchedulerLost(f"the client's connection is {self.client.status}")
            self.drain(0.5)
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                self._answer(futures[future], future)
            time.sleep(0.05)
        time.sleep(0.2)
        self.drain(0.5)

    def _answer(self, group: str, future) -> None:
        intake = self.intake
        try:
            answer = self.call(future.result)
        except SchedulerLost:
            raise
        except Exception as exc:  # a group Dask gave up on: its cells stay unrecorded
            self.say(f"warning: worker group {group} failed on the cluster: {one_line(exc)}")
            return
        self.drain(0.1)
        machine = intake.take_answer(group, answer, _holder(self.client, future))
        mine = intake.asked[group]
        self.say(
            f"worker group {group} ended on {machine or 'a machine whose answer was refused'} "
            f"({len(mine & set(intake.received))} of its {len(mine)} cells recorded; "
            f"{len(intake.received)} of {len(intake.all_asked)} in all)"
        )


def _holder(client, future) -> str | None:
    """The address of the Dask worker that holds ``future``'s result, as the scheduler knows it."""
    try:
        holders = list(client.who_has([future]).get(future.key) or ())
    except Exception:  # only to name the worker in a warning
        return None
    return holders[0] if len(holders) == 1 else None


def _record_missing(config, run_folder, work, intake: Intake, lost: bool, say) -> None:
    """A cell no worker recorded (its group failed for good, its record was refused, the scheduler was
    lost) is ``not_run``, retried once by --resume."""
    good, _ = results.scan(run_folder.path)
    retried = work.retried
    missing = [s for s in work.todo if s.id not in intake.received and (s.id not in good or s.id in retried)]
    if not missing:
        return
    supervisor = Supervisor(config, run_folder, work.machine, note=say)
    for spec in missing:
        if spec.id in intake.refused_cells:
            reason = "its record from the cluster was refused (see the warning above)"
        elif lost:
            reason = "the Dask scheduler was lost before its worker group finished"
        else:
            reason = "its worker group did not finish on the cluster"
        supervisor.record_failure(spec, "not_run", reason, retried)
