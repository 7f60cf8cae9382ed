"""``env.json``: where a run's numbers come from, as one typed, versioned document.

The runner writes it (:mod:`bench.runner.machine` gathers the machine, the run
folder merges one invocation into the next); the report, the history and the
version comparison read it, through :meth:`Environment.from_json` only.

Format history (the ``schema`` key):

* none: the first format (``results/reference`` has it): the same keys, no ``schema``
  (before it, ``machine`` could be an object naming the machine);
* ``bench.env/2``: ``schema`` added; every key typed as below, a value of the wrong
  type read as missing.

:meth:`Environment.from_json` takes any of them (:func:`upgrade`), and any JSON value
(a damaged file reads as an empty environment, never a traceback).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "bench.env/2"
#: the lists an invocation adds to, never replaces (several invocations fill one folder)
UNIONS = ("threads", "devices", "dtypes", "backends")
#: keys left out of the JSON when they hold nothing (only some runs have them)
OPTIONAL = ("repeat_pending", "machines", "cluster", "rounds", "processes", "speed")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _items(value: Any, kind: type | tuple[type, ...] = (str, int, float)) -> tuple:
    return tuple(v for v in value if isinstance(v, kind) and not isinstance(v, bool)) if isinstance(value, list) else ()


def _mapping(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


@dataclass(frozen=True)
class MachineState:
    """The machine around one worker group (:class:`bench.runner.machine.Watch`), and the runner's
    verdict on it: one sentence when something competed with the measurement, else None."""

    seconds: float | None = None
    load_before: float | None = None
    load_after: float | None = None
    others_cpu_share: float | None = None
    steal_share: float | None = None
    cpus: int | None = None
    governor: str | None = None
    verdict: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: Any) -> MachineState:
        doc = _mapping(doc)
        numbers = ("seconds", "load_before", "load_after", "others_cpu_share", "steal_share")
        return cls(
            **{name: _number(doc.get(name)) for name in numbers},
            cpus=_int(doc.get("cpus")),
            governor=_text(doc.get("governor")),
            verdict=_text(doc.get("verdict")),
        )


@dataclass(frozen=True)
class Command:
    """One invocation that wrote into the run folder."""

    command: str
    started: str | None = None


@dataclass(frozen=True)
class Environment:
    """One run folder's ``env.json``."""

    machine: str | None = None
    hostname: str | None = None
    cpu: str | None = None
    gpu: str | None = None
    cores: int | None = None
    cpus_allowed: int | None = None
    platform: str | None = None
    python: str | None = None
    harness_version: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    threads: tuple[int, ...] = ()
    devices: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    timeout: float | None = None
    min_rounds: int | None = None
    max_time: float | None = None
    repeat: str | None = None
    #: how many processes measure each cell the repeat chooses (``--processes``)
    processes: int | None = None
    wait_policy: str | None = None
    #: the machine's speed, the fastest reading over the run (:func:`bench.runner.machine.machine_speed`):
    #: seconds per probe, ``loop``, ``matmul`` and ``stream``
    speed: dict[str, float] = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None
    commands: tuple[Command, ...] = ()
    finished: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    machine_state: dict[str, MachineState] = field(default_factory=dict)
    #: cells a resumed ``--repeat`` run still has to measure again (None: no repeat pending)
    repeat_pending: tuple[str, ...] | None = None
    #: a cluster run: each machine's own environment, and what the client received
    machines: dict[str, Environment] = field(default_factory=dict)
    cluster: dict[str, Any] | None = None
    #: a folder merged from the rounds of ``python -m bench versions``: the round folders
    rounds: tuple[str, ...] | None = None
    schema: str = SCHEMA

    @property
    def name(self) -> str | None:
        """The machine's name: the run's ``--tag``, else its host name."""
        return self.machine or self.hostname

    @property
    def verdicts(self) -> list[str]:
        """The runner's sentences on the worker groups whose machine was not quiet, sorted, once each."""
        return sorted({s.verdict for s in self.machine_state.values() if s.verdict})

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": self.schema}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "schema" or (f.name in OPTIONAL and not value and value != ()):
                continue
            if f.name == "commands":
                value = [dataclasses.asdict(c) for c in value]
            elif f.name == "machine_state":
                value = {k: s.to_json() for k, s in value.items()}
            elif f.name == "machines":
                value = {k: e.to_json() for k, e in value.items()}
            doc[f.name] = list(value) if isinstance(value, tuple) else value
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Environment:
        """Any ``env.json`` (:func:`upgrade`d first); a value of the wrong type reads as missing."""
        doc = upgrade(doc)
        texts = ("machine", "hostname", "cpu", "gpu", "platform", "python", "harness_version", "repeat", "wait_policy")
        commands = [c for c in doc.get("commands") or () if isinstance(c, dict) and isinstance(c.get("command"), str)]
        pending, rounds = doc.get("repeat_pending"), doc.get("rounds")
        return cls(
            **{name: _text(doc.get(name)) for name in texts},  # type: ignore[arg-type]
            git_commit=_text(doc.get("git_commit")),
            finished=_text(doc.get("finished")),
            cores=_int(doc.get("cores")),
            cpus_allowed=_int(doc.get("cpus_allowed")),
            versions={k: str(v) for k, v in _mapping(doc.get("versions")).items() if isinstance(v, (str, int, float))},
            threads=_items(doc.get("threads"), int),
            devices=_items(doc.get("devices"), str),
            dtypes=_items(doc.get("dtypes"), str),
            backends=_items(doc.get("backends"), str),
            timeout=_number(doc.get("timeout")),
            min_rounds=_int(doc.get("min_rounds")),
            processes=_int(doc.get("processes")),
            max_time=_number(doc.get("max_time")),
            speed={k: float(v) for k, v in _mapping(doc.get("speed")).items() if 0 < (_number(v) or 0) < math.inf},
            git_dirty=_flag(doc.get("git_dirty")),
            commands=tuple(Command(c["command"], _text(c.get("started"))) for c in commands),
            statuses={k: v for k, v in _mapping(doc.get("statuses")).items() if _int(v) is not None},
            machine_state={k: MachineState.from_json(v) for k, v in _mapping(doc.get("machine_state")).items()},
            repeat_pending=_items(pending, str) if isinstance(pending, list) else None,
            machines={k: cls.from_json(v) for k, v in _mapping(doc.get("machines")).items()},
            cluster=doc["cluster"] if isinstance(doc.get("cluster"), dict) else None,
            rounds=_items(rounds, str) if isinstance(rounds, list) else None,
        )

    def merge(self, new: Environment, command: str | None = None, started: str | None = None) -> Environment:
        """This folder's environment with a new invocation's: its values win, versions and machine states
        are added to, the measured lists united, its command (if any) appended."""
        given = {
            f.name: getattr(new, f.name)
            for f in dataclasses.fields(new)
            if getattr(new, f.name) not in (None, {}, ()) and f.name not in ("schema", "commands")
        }
        given["versions"] = {**self.versions, **new.versions}
        given["machine_state"] = {**self.machine_state, **new.machine_state}
        given["speed"] = {  # the machine at its fastest over the invocations: one reading can meet a slow moment
            k: min(v for v in (self.speed.get(k), new.speed.get(k)) if v is not None)
            for k in {**self.speed, **new.speed}
        }
        for name in UNIONS:
            given[name] = tuple(sorted(set(getattr(self, name)) | set(getattr(new, name)), key=str))
        given["commands"] = self.commands + new.commands + ((Command(command, started),) if command else ())
        return dataclasses.replace(self, **given)


def upgrade(doc: Any) -> Mapping[str, Any]:
    """An ``env.json`` of any format as the current one's keys (not yet typed): the first format has the
    current keys without ``schema``; anything but a JSON object is an empty environment."""
    if not isinstance(doc, dict):
        return {}
    doc = {**doc, "schema": SCHEMA}
    if isinstance(doc.get("machine"), dict):  # before the first format: the machine as an object
        named = doc["machine"]
        doc["machine"] = named.get("name") or named.get("hostname") or named.get("node")
    return doc
