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
from pathlib import Path
from typing import Any

from .. import results
from ..cells import CellSpec
from ..fmt import one_line
from .config import RunConfig
from .dask_connect import RESOURCE, check_address, connect, load_distributed  # noqa: F401 - the command calls these here
from .folder import RunFolder
from .intake import Intake
from .plan import slices
from .supervise import Supervisor

#: seconds between two looks at the records a group has written
SHIP_EVERY = 0.25


class SchedulerLost(Exception):
    """The connection to the scheduler broke mid-run (its tasks, queue and records in flight are gone)."""


# -- on a Dask worker --------------------------------------------------------------------------------


def run_group_task(
    group: str,
    specs: list[dict],
    retried: dict[str, dict],
    config: dict[str, Any],
    run_name: str,
    queue_name: str,
    done_name: str,
) -> dict[str, Any]:
    """One worker group on this Dask worker; records go back through the queue as they finish."""
    from distributed import Queue, Variable, get_worker

    from ..cli import load_plugins
    from .machine import environment

    load_plugins()  # backends registered by BENCH_PLUGINS, as in the runner and its workers
    cells = [CellSpec.from_json(s) for s in specs]
    done = set(Variable(done_name).get(timeout=30) or ())
    left = [s for s in cells if s.id not in done]
    machine = platform.node()
    worker = get_worker().address
    answer: dict[str, Any] = {
        "group": group,
        "worker": worker,
        "machine": machine,
        "skipped": len(cells) - len(left),
        "shipped": [],
        "files": {},
        "logs": {},
        "state": None,
    }
    run_config = RunConfig(**{**config, "out": None})
    answer["env"] = environment(dataclasses.replace(run_config, tag=None), cells)
    if not left:
        return answer
    queue = Queue(queue_name)
    with tempfile.TemporaryDirectory(prefix="bench-group-") as scratch:
        folder = RunFolder(Path(scratch) / run_name)
        folder.create()
        shipped: set[str] = set()
        stop = threading.Event()

        def ship() -> None:
            good, _ = results.scan(folder.path)
            for cell_id, rec in good.items():
                if cell_id not in shipped:
                    queue.put({"worker": worker, "record": {**rec, "run": run_name, "machine": machine}})
                    shipped.add(cell_id)

        def watch() -> None:
            while not stop.wait(SHIP_EVERY):
                try:
                    ship()
                except Exception:  # the scheduler or this worker is going away: the task ends with it
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        log = io.StringIO()
        supervisor = Supervisor(run_config, folder, machine, note=lambda m: print(m, file=log))
        try:
            answer["state"] = supervisor.run_group(group, left, retried)
        finally:
            stop.set()
            watcher.join()
        ship()
        answer["shipped"] = sorted(shipped)
        answer["files"] = {p.name: p.read_bytes() for p in folder.path.glob("bench-*.json")}
        answer["logs"] = {p.name: p.read_bytes() for p in (folder.path / "logs").glob("*.log")}
        answer["notes"] = log.getvalue()
    return answer


# -- on the client -----------------------------------------------------------------------------------


def run(
    config: RunConfig,
    run_folder: RunFolder,
    todo: list[CellSpec],
    retried: dict[str, dict],
    machine_name: str,
    console,
    connection,
) -> dict[str, dict]:
    """Every worker group of ``todo`` as a Dask task on ``connection`` (from :func:`connect`, closed here);
    records written here as they arrive, once checked (:mod:`.intake`)."""
    distributed = load_distributed()
    client, cluster = connection
    say = lambda line: console.print(line, markup=False, highlight=False)  # noqa: E731
    tag = uuid.uuid4().hex[:8]
    tasks = slices(todo, len(client.scheduler_info().get("workers", {})))
    intake = Intake(run_folder, {group: [s.id for s in specs] for group, specs in tasks.items()}, say)
    lost: SchedulerLost | None = None
    _quiet_dask("distributed.protocol")  # a message it cannot read: its traceback (the run warns in one line)
    try:
        _submit_and_collect(distributed, client, config, run_folder, tasks, retried, intake, tag, say)
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

    def reason(cell_id: str) -> str:
        if cell_id in intake.refused_cells:
            return "its record from the cluster was refused (see the warning above)"
        if lost is not None:
            return "the Dask scheduler was lost before its worker group finished"
        return "its worker group did not finish on the cluster"

    _record_missing(config, run_folder, list(todo), intake.received, machine_name, retried, say, reason)
    per_machine: dict[str, int] = {}
    for machine in intake.received.values():
        per_machine[machine] = per_machine.get(machine, 0) + 1
    run_folder.write_env(
        {},
        lambda m: say(f"warning: {m}"),
        machines=intake.machines,
        cluster={
            "scheduler": config.scheduler,
            "cells_per_machine": per_machine,
            "received": len(intake.received),
            "repeated": len(intake.repeated),
            "refused": intake.refused,
            "scheduler_lost": lost is not None,
        },
    )
    return intake.states


def _quiet_dask(prefix: str) -> None:
    """No log records from Dask's loggers named ``prefix...`` (the run says what happened in one line)."""
    for name in [prefix, *logging.root.manager.loggerDict]:
        if name.startswith(prefix):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _resume(config: RunConfig, run_folder: RunFolder) -> str:
    return shlex.join(
        ["python", "-m", "bench", "run", "--resume", "--out", str(run_folder.path), "--scheduler", config.scheduler]
    )


def _submit_and_collect(distributed, client, config, run_folder, tasks, retried, intake, tag, say) -> None:
    """Submit every group, then store what comes back until every task has ended;
    :class:`SchedulerLost` when the scheduler goes away."""

    def dask(call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (OSError, distributed.client.FutureCancelledError) as exc:
            if client.status != "running" or isinstance(exc, distributed.comm.CommClosedError):
                raise SchedulerLost() from exc
            raise

    queue = dask(distributed.Queue, f"bench-records-{tag}", client=client)
    done = dask(distributed.Variable, f"bench-done-{tag}", client=client)
    dask(done.set, [])
    plain = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    plain["out"] = None
    futures = {}
    for group, specs in tasks.items():
        future = dask(
            client.submit,
            run_group_task,
            group,
            [s.to_json() for s in specs],
            {s.id: retried[s.id] for s in specs if s.id in retried},
            plain,
            run_folder.path.name,
            queue.name,
            done.name,
            key=f"bench-{group}-{tag}",
            resources={RESOURCE: 1},
            pure=False,
        )
        futures[future] = group
    workers = len(client.scheduler_info().get("workers", {}))
    say(f"{len(futures)} worker groups on {client.scheduler.address} ({workers} workers)")
    if config.scheduler.startswith("tcp://"):
        say(
            "note: tcp:// is neither authenticated nor encrypted: whoever reaches the scheduler can run code "
            "on its workers and here; use tls:// off a trusted network (README: Running on a cluster)"
        )

    def drain(wait: float) -> None:
        try:
            batch = dask(queue.get, timeout=wait, batch=True)
        except TimeoutError:
            return
        except SchedulerLost:
            raise
        except Exception as exc:  # a message Dask cannot read (sent by whom, Dask does not say)
            say(f"warning: records from the cluster could not be read and are dropped: {type(exc).__name__}")
            return
        if intake.take_records(batch):
            dask(done.set, sorted(intake.received))

    pending = set(futures)
    while pending:
        if client.status != "running":
            raise SchedulerLost(f"the client's connection is {client.status}")
        drain(0.5)
        for future in [f for f in pending if f.done()]:
            pending.discard(future)
            group = futures[future]
            try:
                answer = dask(future.result)
            except SchedulerLost:
                raise
            except Exception as exc:  # a group Dask gave up on: its cells stay unrecorded
                say(f"warning: worker group {group} failed on the cluster: {one_line(exc)}")
                continue
            drain(0.1)
            machine = intake.take_answer(group, answer, _holder(client, future))
            mine = intake.asked[group]
            say(
                f"worker group {group} ended on {machine or 'a machine whose answer was refused'} "
                f"({len(mine & set(intake.received))} of its {len(mine)} cells recorded; "
                f"{len(intake.received)} of {len(intake.all_asked)} in all)"
            )
        time.sleep(0.05)
    time.sleep(0.2)
    drain(0.5)


def _holder(client, future) -> str | None:
    """The address of the Dask worker that holds ``future``'s result, as the scheduler knows it."""
    try:
        holders = client.who_has([future]).get(future.key) or ()
    except Exception:  # only to name the worker in a warning
        return None
    return holders[0] if len(holders) == 1 else None


def _record_missing(config, run_folder, todo, received, machine_name, retried, say, reason) -> None:
    """A cell no worker recorded (its group failed for good, its record was refused, the scheduler was
    lost) is ``not_run``, retried once by --resume."""
    good, _ = results.scan(run_folder.path)
    missing = [s for s in todo if s.id not in received and (s.id not in good or s.id in retried)]
    if not missing:
        return
    supervisor = Supervisor(config, run_folder, machine_name, note=say)
    for spec in missing:
        supervisor.record_failure(spec, "not_run", reason(spec.id), retried)
