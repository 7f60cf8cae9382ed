"""The worker groups on a Dask cluster: ``python -m bench run --scheduler tcp://HOST:8786`` or ``--scheduler local:N``.

Each worker group (backend x device x thread count; cut into slices of whole
problems when the cluster has more workers than there are groups) becomes one
Dask task that needs the worker resource ``bench=1``, so a Dask worker runs at most one group
at a time and two timings never share a machine unless its workers were given
more. Inside the task the group runs exactly as on one machine: a supervised
pytest-benchmark process per group (timeouts, crash records, thread
settings), writing into a scratch folder on the worker. Each finished cell
record is shipped back through a Dask ``Queue`` as it appears, and the client
writes it atomically into the one run folder; a record names its machine.

A Dask worker lost mid-group: Dask reschedules its task on another worker, and
the task skips the cells whose records already reached the client (published
in a Dask ``Variable``), so finished cells are kept and none is repeated. The
plan, the run folder, its lock and ``--resume`` are the client's, as for a
local run.

Needs the ``cluster`` extra (``pip install -e ".[cluster]"``). Workers of a
remote scheduler are started with ``dask worker tcp://HOST:8786 --nworkers 1
--nthreads 1 --resources bench=1`` on machines that have the project installed.
"""

from __future__ import annotations

import dataclasses
import io
import platform
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .. import results
from ..cells import CellSpec
from ..cli import UsageError
from .config import RunConfig
from .folder import RunFolder
from .plan import slices
from .supervise import Supervisor, free_name

RESOURCE = "bench"
#: seconds to wait for a remote scheduler to answer
CONNECT_TIMEOUT = 10
#: seconds between two looks at the records a group has written
SHIP_EVERY = 0.25


def _distributed():
    try:
        import distributed
    except ImportError:
        raise UsageError("--scheduler needs Dask's distributed scheduler: pip install -e '.[cluster]'") from None
    return distributed


def check_address(address: str) -> None:
    """Refuse a malformed address in one line (before anything is planned or written)."""
    _distributed()
    if address.startswith("local:"):
        n = address.split(":", 1)[1]
        if not n.isdigit() or not 1 <= int(n) <= 64:
            raise UsageError(f"--scheduler {address!r}: local:N takes a number of workers from 1 to 64")
    elif "://" not in address:
        raise UsageError(f"--scheduler {address!r} is not a scheduler address such as tcp://HOST:8786 or local:2")


def connect(address: str):
    """``(client, cluster or None)``; an unreachable scheduler, or one without suitable workers, is one line."""
    check_address(address)
    distributed = _distributed()
    if address.startswith("local:"):
        cluster = distributed.LocalCluster(
            n_workers=int(address.split(":", 1)[1]),
            threads_per_worker=1,
            processes=True,
            resources={RESOURCE: 1},
            dashboard_address=None,
            silence_logs=50,
        )
        return distributed.Client(cluster), cluster
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {str(exc).splitlines()[0]}") from None
    try:
        _check_workers(client)
    except UsageError:
        client.close()
        raise
    return client, None


def _check_workers(client) -> None:
    workers = client.scheduler_info().get("workers", {})
    if not any(RESOURCE in (w.get("resources") or {}) for w in workers.values()):
        raise UsageError(
            f"no Dask worker of {client.scheduler.address} offers the resource {RESOURCE}=1; start "
            f"workers with: dask worker {client.scheduler.address} --nthreads 1 --resources {RESOURCE}=1"
        )


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
    from distributed import Queue, Variable

    from ..cli import load_plugins
    from .machine import environment

    load_plugins()  # backends registered by BENCH_PLUGINS, as in the runner and its workers
    cells = [CellSpec.from_json(s) for s in specs]
    done = set(Variable(done_name).get(timeout=30) or ())
    left = [s for s in cells if s.id not in done]
    machine = platform.node()
    answer: dict[str, Any] = {
        "group": group,
        "machine": machine,
        "skipped": len(cells) - len(left),
        "shipped": [],
        "files": {},
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
                    queue.put({**rec, "run": run_name, "machine": machine})
                    shipped.add(cell_id)

        def watch() -> None:
            while not stop.wait(SHIP_EVERY):
                ship()

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
        answer["files"] = {
            str(p.relative_to(folder.path)): p.read_bytes()
            for p in [*folder.path.glob("bench-*.json"), *(folder.path / "logs").glob("*.log")]
        }
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
    records written here as they arrive."""
    distributed = _distributed()
    client, cluster = connection
    tag = uuid.uuid4().hex[:8]
    received: dict[str, str] = {}  # cell id -> machine
    repeated: list[str] = []
    states: dict[str, dict] = {}
    machines: dict[str, dict] = {}
    try:
        queue = distributed.Queue(f"bench-records-{tag}", client=client)
        done = distributed.Variable(f"bench-done-{tag}", client=client)
        done.set([])
        plain = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        plain["out"] = None
        futures = {}
        for group, specs in slices(todo, len(client.scheduler_info().get("workers", {}))).items():
            futures[
                client.submit(
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
            ] = group
        console.print(
            f"{len(futures)} worker groups on {client.scheduler.address} "
            f"({len(client.scheduler_info().get('workers', {}))} workers)",
            markup=False,
        )

        def drain(wait: float) -> None:
            try:
                batch = queue.get(timeout=wait, batch=True)
            except TimeoutError:
                return
            for rec in batch or []:
                cell_id = rec.get("cell")
                if cell_id in received:
                    repeated.append(cell_id)
                    console.print(
                        f"note: {cell_id} was measured again on {rec.get('machine')}; the first record is kept",
                        markup=False,
                    )
                    continue
                results.save(run_folder.path, cell_id, rec)
                received[cell_id] = rec.get("machine")
            if batch:
                done.set(sorted(received))

        pending = set(futures)
        while pending:
            drain(0.5)
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                group = futures[future]
                try:
                    answer = future.result()
                except Exception as exc:  # noqa: BLE001 - a group Dask gave up on: its cells stay unrecorded
                    console.print(
                        f"warning: worker group {group} failed on the cluster: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}",
                        markup=False,
                    )
                    continue
                drain(0.1)
                _keep_files(run_folder, answer)
                console.print(
                    f"worker group {group} ended on {answer['machine']} ({len(answer['shipped'])} cells, "
                    f"{len(received)} of {len(todo)} recorded)",
                    markup=False,
                )
                if answer.get("state"):
                    states[f"{answer['machine']}/{group}"] = answer["state"]
                machines[answer["machine"]] = answer["env"]
            time.sleep(0.05)
        time.sleep(0.2)
        drain(0.5)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    _record_missing(config, run_folder, todo, received, machine_name, retried, console)
    per_machine: dict[str, int] = {}
    for machine in received.values():
        per_machine[machine] = per_machine.get(machine, 0) + 1
    run_folder.write_env(
        {},
        lambda m: console.print(f"warning: {m}", markup=False),
        machines=machines,
        cluster={
            "scheduler": config.scheduler,
            "cells_per_machine": per_machine,
            "received": len(received),
            "repeated": len(repeated),
        },
    )
    return states


def _keep_files(run_folder: RunFolder, answer: dict[str, Any]) -> None:
    """A group's logs and pytest-benchmark JSON, named by machine, beside the local ones."""
    for name, data in (answer.get("files") or {}).items():
        path = Path(name)
        target = free_name(run_folder.path / path.parent, f"{answer['machine']}-{path.stem}", path.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        with results.writing(target):
            target.write_bytes(data)


def _record_missing(config, run_folder, todo, received, machine_name, retried, console) -> None:
    """A cell no worker recorded (its group failed for good) is ``not_run``, retried once by --resume."""
    good, _ = results.scan(run_folder.path)
    missing = [s for s in todo if s.id not in received and (s.id not in good or s.id in retried)]
    if not missing:
        return
    supervisor = Supervisor(config, run_folder, machine_name, note=lambda m: console.print(m, markup=False))
    for spec in missing:
        supervisor.record_failure(spec, "not_run", "its worker group did not finish on the cluster", retried)
