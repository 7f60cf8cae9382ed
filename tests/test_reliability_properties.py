"""Property-based attacks on the runner (Hypothesis): generated damage to a run folder, generated values
for every numeric flag. The invariants: no traceback; a refusal is one line with nothing written; no
finished record lost, rewritten or counted twice; no cell silently dropped or added."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import results
from bench.__main__ import main
from bench.runner.command import EXIT_CELLS_NOT_OK

from .test_reliability import N_SMALL, SMALL, bench_run, snapshot

SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("BENCH_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = bench_run(*SMALL, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def call(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


# -- generated damage ------------------------------------------------------------------------------------

TARGETS = ("record", "record", "record", "plan.json", "env.json", "results.csv")
DAMAGE = ("truncate", "garbage", "empty", "wrong-shape", "wrong-type", "duplicate", "folder", "delete")


@st.composite
def damages(draw):
    n = draw(st.integers(1, 3))
    return [
        (
            draw(st.sampled_from(TARGETS)),
            draw(st.sampled_from(DAMAGE)),
            draw(st.integers(0, 7)),
            draw(st.floats(0.0, 1.0)),
            draw(st.binary(min_size=1, max_size=40)),
        )
        for _ in range(n)
    ]


def apply(run: Path, target: str, damage: str, pick: int, cut: float, noise: bytes) -> Path | None:
    """Damage one file; returns the record it hit (None for the other files)."""
    cells = sorted((run / results.CELLS).glob("*.json"))
    path = cells[pick % len(cells)] if target == "record" and cells else run / target
    if not path.exists() or path.is_dir():
        return None
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: int(len(data) * cut)])
    elif damage == "garbage":
        path.write_bytes(noise)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "wrong-shape":
        path.write_text(json.dumps(["a list", 1, None]) if cut < 0.5 else json.dumps({"cells": "no"}))
    elif damage == "wrong-type":
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if isinstance(doc, dict) and doc:
            key = sorted(doc)[pick % len(doc)]
            doc[key] = [1, 2] if cut < 0.5 else 3.5
            path.write_text(json.dumps(doc))
    elif damage == "duplicate":
        if cells:
            path.write_bytes(cells[(pick + 1) % len(cells)].read_bytes())
    elif damage == "folder":
        path.unlink()
        path.mkdir()
    elif damage == "delete":
        path.unlink()
    return path if target == "record" else None


@SETTINGS
@given(damages())
def test_generated_damage_never_loses_or_invents_a_cell(finished, plan):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(finished, run)
        planned = {s["id"] for s in json.loads((run / "plan.json").read_text())["cells"]}
        originals = {p.name: p.read_bytes() for p in (run / results.CELLS).glob("*.json")}
        plan_before = (run / "plan.json").read_bytes()
        hit = {p.name for p in (apply(run, *step) for step in plan) if p is not None}
        plan_damaged = not (run / "plan.json").is_file() or (run / "plan.json").read_bytes() != plan_before
        cells = run / results.CELLS
        # a "damage" that leaves a valid record (a time of 3.5 s) is no damage: that record must stay as it is
        broken = {name for name in hit if results.read_record(cells / name)[0] is None}
        originals.update({name: (cells / name).read_bytes() for name in hit - broken})
        present = {name for name in broken if (cells / name).exists()}  # damaged in place (not deleted)
        before = snapshot(run)

        code, out, err = call("run", "--resume", "--out", run)

        assert "Traceback" not in out + err
        assert code in (0, 2, EXIT_CELLS_NOT_OK), out + err
        if code == 2:  # refused: one line, nothing written
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            assert snapshot(run) == before
            return
        after = {p.name: p.read_bytes() for p in (run / results.CELLS).glob("*.json")}
        # no finished record lost or rewritten
        for name, data in originals.items():
            if name not in broken:
                assert after.get(name) == data, f"{name} was lost or rewritten"
        # no cell silently added, none dropped: exactly the planned cells have one valid record each
        good, bad = results.scan(run)
        assert not bad
        frame = results.load(run)
        assert frame["cell"].is_unique
        if plan_damaged and planned - set(good):
            # plan and records both damaged: the cells no record proves are unknown, and the run says so
            assert set(good) < planned and {f"{c}.json" for c in planned - set(good)} <= broken
            assert "rebuilt" in out
        else:
            assert set(good) == planned, set(good) ^ planned
            assert len(frame) == N_SMALL
        # a damaged record was kept out of the way, not deleted
        damaged = run / results.CELLS / ".damaged"
        for name in present:
            assert damaged.is_dir() and any(p.name.startswith(name) for p in damaged.iterdir()), name


# -- generated numbers ---------------------------------------------------------------------------------------

NUMERIC_FLAGS = ("--timeout", "--max-time", "--slow-budget", "--min-rounds", "--max-memory")
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "1e400",
            "-0",
            "0",
            "",
            " ",
            "1e-400",
            "0x10",
            "1_000",
            "5GB",
            "nanGB",
            "infMB",
            "-3MB",
            "2.5",
            "abc",
        ]
    ),
    st.text(max_size=8),
)


@SETTINGS
@given(st.sampled_from(NUMERIC_FLAGS), values)
def test_generated_numbers_are_accepted_or_refused_in_one_line_before_anything_is_written(finished, flag, value):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(finished, run)
        before = snapshot(run)
        records = {k: v for k, v in before.items() if k.startswith("cells/")}
        code, out, err = call("run", "--resume", "--out", run, f"{flag}={value}")
        assert "Traceback" not in out + err
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and flag in lines[0], err
            assert snapshot(run) == before
        else:  # accepted: every cell was already done; nothing measured again, nothing lost
            assert code == 0, out + err
            after = snapshot(run)
            assert {k: v for k, v in after.items() if k.startswith("cells/")} == records


@SETTINGS
@given(st.sampled_from(("--threads", "--size")), values)
def test_generated_plan_numbers_are_accepted_or_refused_in_one_line(flag, value):
    code, out, err = call("run", "--list", "--backend", "numpy", "--problem", "quadratic", f"{flag}={value}")
    assert "Traceback" not in out + err
    assert code in (0, 2)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    else:
        assert out.strip().endswith("cells")
