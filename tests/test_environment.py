"""env.json as one typed document: every format read (the reference run's first format included),
written back with its schema, merged across invocations; a wrong value reads as missing."""

from __future__ import annotations

import json
from pathlib import Path

from bench.environment import SCHEMA, Command, Environment, MachineState, upgrade

#: the env.json of the reference run of 2026-11-29, in the first format (no schema)
REFERENCE = Path(__file__).resolve().parent / "data" / "env-first-format.json"


def test_the_reference_run_in_the_first_format_loads_typed():
    doc = json.loads(REFERENCE.read_text())
    assert "schema" not in doc
    env = Environment.from_json(doc)
    assert env.machine == "vm" and env.cores == 2 and env.threads == (2,)
    assert env.versions["jax"] == doc["versions"]["jax"]
    assert env.commands[0].command == doc["commands"][0]["command"]
    assert set(env.machine_state) == set(doc["machine_state"])
    assert all(isinstance(s, MachineState) and s.verdict is None for s in env.machine_state.values())
    assert env.verdicts == []
    written = env.to_json()
    assert written["schema"] == SCHEMA
    assert Environment.from_json(written) == env
    for key in ("machine", "versions", "threads", "commands", "finished", "statuses", "machine_state"):
        assert written[key] == doc[key], key


def test_a_wrong_value_reads_as_missing_and_anything_but_an_object_as_empty():
    env = Environment.from_json(
        {"cores": "two", "threads": [1, "x", True], "versions": ["jax"], "machine_state": {"g": 3}, "git_dirty": 1}
    )
    assert env.cores is None and env.threads == (1,) and env.versions == {}
    assert env.machine_state == {"g": MachineState()} and env.git_dirty is None
    for doc in (None, [], "env", 3):
        assert Environment.from_json(doc) == Environment()


def test_an_older_machine_object_is_upgraded_to_its_name():
    assert upgrade({"machine": {"hostname": "box"}})["machine"] == "box"
    assert Environment.from_json({"hostname": "box"}).name == "box"


def test_an_invocation_merges_into_the_folder_s_environment():
    first = Environment(
        machine="a",
        versions={"jax": "1"},
        threads=(1,),
        machine_state={"g1": MachineState(verdict="g1: busy")},
        commands=(Command("run 1", "t1"),),
    )
    second = Environment(versions={"torch": "2"}, threads=(2, 1), machine_state={"g2": MachineState()})
    merged = first.merge(second, "run 2", "t2")
    assert merged.machine == "a" and merged.versions == {"jax": "1", "torch": "2"} and merged.threads == (1, 2)
    assert set(merged.machine_state) == {"g1", "g2"} and merged.verdicts == ["g1: busy"]
    assert [c.command for c in merged.commands] == ["run 1", "run 2"]
    assert "repeat_pending" not in merged.to_json() and "cluster" not in merged.to_json()


def _watch(wall: float, busy: float, own: float):
    from bench.runner import machine

    w = machine.Watch()
    w._start = machine._Reading(0.0, 100.0, 0.0, 10.0)
    w._end = machine._Reading(wall, 100.0 + busy, 0.0, 10.0 + own)
    return w


def test_others_share_allows_for_the_kernel_s_clock_ticks(monkeypatch):
    """A 50 ms window of a quiet machine reads one or two 10 ms ticks of 'others' (the machine's and the
    process's CPU times are counted in ticks): no share; a real other process's time still counts."""
    from bench.runner import machine

    monkeypatch.setattr(machine.os, "cpu_count", lambda: 2)
    assert machine.TICK_SLACK >= 0.02
    assert _watch(0.05, busy=0.06, own=0.04).others_share() == 0.0  # two ticks: the counters' rounding
    assert _watch(0.05, busy=0.05, own=0.05).others_share() == 0.0
    busy = _watch(1.0, busy=1.8, own=1.0)  # another process took most of the second CPU
    assert abs(busy.others_share() - (0.8 - machine.TICK_SLACK) / 2) < 1e-9 and busy.others_share() > 0.35
