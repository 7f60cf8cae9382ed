"""What the client of a cluster run accepts from its Dask workers, and nothing else.

Anyone who reaches a Dask scheduler can join it as a worker, and a worker's
answer names cells, machines and files. The client keeps only:

* records of the cells it asked for, each stored as JSON and read back through
  the same check as a record on disk (:func:`bench.results.problem_with`), with
  the schema's columns only and a bounded size; the first record of a cell wins;
* a machine name that is a plain host name (letters, digits, ``.``, ``_``, ``-``);
* the files a worker group writes, under the names it gives them
  (``bench-<group>[-k].json``, ``logs/<group>[-k].log``), each a plain file
  name, of bounded size, written beside the run folder's own (a link at the
  name is replaced, never followed);
* an environment and a machine state that are plain, shallow, bounded JSON.

Everything else is dropped, with one warning line per answer naming the worker
and what was refused; a cell whose record was refused is ``not_run`` at the
end of the run, so ``--resume`` measures it again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import results, safe_io
from ..environment import Environment, MachineState
from .folder import RunFolder
from .supervise import free_name

#: a machine name as a host name is written (the first character a letter or digit)
MACHINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: the longest file name a worker may give (the machine's name and ``-`` are put before it)
MAX_NAME = 120
#: the largest file a worker group may send back (a log or pytest-benchmark's JSON)
MAX_FILE_BYTES = 64 * 2**20
#: the largest record, environment and machine state, as JSON text
MAX_RECORD_CHARS = 64 * 2**10
MAX_ENV_CHARS = 256 * 2**10
#: how deeply an environment or a machine state may nest
MAX_DEPTH = 6
#: refusals listed in one warning line (the rest are counted)
SHOWN = 4


def shown(value: Any, limit: int = 60) -> str:
    """A value a worker sent, as one harmless terminal word: quoted, escaped, cut short; or its type."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "...")
    return f"a {type(value).__name__}"


def machine_problem(name: Any) -> str | None:
    """Why ``name`` is not a machine name a worker may give, or None."""
    if not isinstance(name, str) or not MACHINE.fullmatch(name) or ".." in name:
        return f"machine name {shown(name)} (a host name of letters, digits, '.', '_' and '-' is expected)"
    return None


def file_name_problem(name: Any, expected: re.Pattern[str]) -> str | None:
    """Why ``name`` is not a plain file name matching ``expected``, or None."""
    if not isinstance(name, str) or not name:
        return f"file name {shown(name)}"
    if len(name) > MAX_NAME:
        return f"file name {shown(name)} (longer than {MAX_NAME} characters)"
    if any(c in name for c in "/\\\0") or ".." in name or not name.isprintable():
        return f"file name {shown(name)} (a plain file name is expected)"
    if not expected.fullmatch(name):
        return f"file {shown(name)} (not a file its worker group writes)"
    return None


def json_problem(value: Any, limit: int) -> str | None:
    """Why ``value`` is not plain JSON (objects with text keys, lists, text, numbers) within
    :data:`MAX_DEPTH` levels and ``limit`` characters, or None."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return "an object with keys that are not text"
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
        elif item is not None and not isinstance(item, (str, int, float)):
            return f"holds a {type(item).__name__}"
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        return f"not storable as JSON ({type(exc).__name__})"
    return f"larger than {limit} characters" if size > limit else None


def stored_record(rec: Any, cell_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(the record as it will be stored, None)`` or ``(None, why not)``: the schema's columns only,
    through JSON and back, checked as a record on disk is."""
    if not isinstance(rec, dict):
        return None, "not a cell record"
    kept = {k: results.clean(rec[k]) for k in ("schema", *results.ALL_COLUMNS) if k in rec}
    if not all(v is None or isinstance(v, (str, int, float)) for v in kept.values()):
        return None, "a cell record with values that are not text or numbers"
    try:
        text = json.dumps(kept, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return None, f"not storable as JSON ({type(exc).__name__})"
    if len(text) > MAX_RECORD_CHARS:
        return None, f"a cell record larger than {MAX_RECORD_CHARS} characters"
    stored = json.loads(text)
    why = results.problem_with(stored)
    if why is None and stored["cell"] != cell_id:
        why = f"its cell id {stored['cell']!r} is not {cell_id!r}"
    if why is None:
        why = machine_problem(stored.get("machine"))
    return (None, why) if why else (stored, None)


def _expected_files(group: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The names of pytest-benchmark's JSON and of the logs a worker group writes (see Supervisor)."""
    g = re.escape(group)
    return re.compile(rf"bench-{g}(-\d{{1,4}})*\.json"), re.compile(rf"{g}(-\d{{1,4}})*\.log")


class Intake:
    """The client's side of a cluster run: what the workers sent, checked, and written into ``run_folder``.

    ``asked``: the cells of each submitted group (or slice); ``say``: prints one line.
    """

    def __init__(self, run_folder: RunFolder, asked: dict[str, Iterable[str]], say: Callable[[str], None]):
        self.folder = run_folder
        self.asked = {group: set(ids) for group, ids in asked.items()}
        self.all_asked = set().union(*self.asked.values()) if self.asked else set()
        self.say = say
        self.received: dict[str, str] = {}  #: cell id -> machine
        self.repeated: list[str] = []
        self.refused = 0
        self.refused_cells: set[str] = set()  #: cells asked for whose record was refused
        self.machines: dict[str, Environment] = {}  #: machine -> its environment
        self.states: dict[str, MachineState] = {}  #: machine/group -> the machine's state around the group

    def _warn(self, worker: Any, refused: list[str]) -> None:
        if not refused:
            return
        self.refused += len(refused)
        more = f"; and {len(refused) - SHOWN} more" if len(refused) > SHOWN else ""
        who = f"Dask worker {shown(worker, 80)}" if isinstance(worker, str) else "a Dask worker that gave no address"
        self.say(f"warning: refused from {who}: {'; '.join(refused[:SHOWN])}{more}")

    # -- records, as they arrive ------------------------------------------------------------------
    def take_records(self, batch: Any) -> list[str]:
        """Store the acceptable records of ``batch`` (messages ``{"worker": ..., "record": ...}``);
        returns the ids stored."""
        if not isinstance(batch, (list, tuple)):
            batch = [batch]
        refused: dict[Any, list[str]] = {}
        before = set(self.received)
        for message in batch:
            worker = message.get("worker") if isinstance(message, dict) else None
            why = self._take_record(message.get("record") if isinstance(message, dict) else message)
            if why:
                refused.setdefault(worker if isinstance(worker, str) else None, []).append(why)
        for worker, what in refused.items():
            self._warn(worker, what)
        return sorted(set(self.received) - before)

    def _take_record(self, rec: Any) -> str | None:
        """Why ``rec`` was refused; None when stored, or kept out as a repeat (noted)."""
        cell_id = rec.get("cell") if isinstance(rec, dict) else None
        if not isinstance(cell_id, str) or cell_id not in self.all_asked:
            return f"a record of cell {shown(cell_id)}, which this run did not ask for"
        good, why = stored_record(rec, cell_id)
        if good is None:
            if cell_id not in self.received:
                self.refused_cells.add(cell_id)
            return f"the record of {cell_id} ({why})"
        if cell_id in self.received:
            self.repeated.append(cell_id)
            self.say(f"note: {cell_id} was measured again on {good['machine']}; the first record is kept")
            return None
        good["run"] = self.folder.path.name
        results.save(self.folder.path, cell_id, good)
        self.received[cell_id] = good["machine"]
        self.refused_cells.discard(cell_id)
        return None

    # -- a group's answer, when its task ends -------------------------------------------------------
    def take_answer(self, group: str, answer: Any, worker: Any = None) -> str | None:
        """Keep what is acceptable of a finished group's ``answer``; returns its machine's name, or None
        when the answer is refused whole. ``worker``: the Dask worker that held it, if known."""
        if worker is None and isinstance(answer, dict):
            worker = answer.get("worker")
        if not isinstance(answer, dict):
            self._warn(worker, [f"the answer of worker group {group} ({shown(answer)}, not an answer)"])
            return None
        machine = answer.get("machine")
        why = machine_problem(machine)
        if why:
            self._warn(worker, [f"the answer of worker group {group} ({why})"])
            return None
        assert isinstance(machine, str)  # machine_problem() refuses anything else
        refused: list[str] = []
        env, state = answer.get("env"), answer.get("state")
        why = "not an object" if not isinstance(env, dict) else json_problem(env, MAX_ENV_CHARS)
        if why:
            refused.append(f"the environment of {machine} ({why})")
        else:
            self.machines[machine] = Environment.from_json(env)
        if state is not None:
            why = "not an object" if not isinstance(state, dict) else json_problem(state, MAX_ENV_CHARS)
            if why is None and not isinstance(state.get("verdict"), (str, type(None))):
                why = "its verdict is not text"
            if why:
                refused.append(f"the machine state of {machine} ({why})")
            else:
                self.states[f"{machine}/{group}"] = MachineState.from_json(state)
        benchmark, log = _expected_files(group)
        for kind, folder, expected in (
            ("files", self.folder.path, benchmark),
            ("logs", self.folder.path / "logs", log),
        ):
            files = answer.get(kind) or {}
            if not isinstance(files, dict):
                refused.append(f"its {kind} ({shown(files)}, not a mapping of names to contents)")
                continue
            for name, data in files.items():
                why = file_name_problem(name, expected)
                if why is None and not isinstance(data, bytes):
                    why = f"file {shown(name)} ({shown(data)}, not bytes)"
                if why is None and len(data) > MAX_FILE_BYTES:
                    why = f"file {shown(name)} (larger than {MAX_FILE_BYTES // 2**20} MiB)"
                if why:
                    refused.append(why)
                    continue
                self._keep_file(folder, machine, name, data)
        self._warn(worker, refused)
        return machine

    def _keep_file(self, folder: Path, machine: str, name: str, data: bytes) -> None:
        """A group's file, named by machine, beside the local ones; a link at the name is replaced."""
        with results.writing(folder):
            safe_io.make_dir(folder)
        stem, _, suffix = name.rpartition(".")
        target = free_name(folder, f"{machine}-{stem}", f".{suffix}")
        with results.writing(target):
            safe_io.write_bytes(target, data)
