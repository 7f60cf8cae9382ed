"""Fault injection: a test-only backend segfaults, hangs, raises, returns NaN and diverges.

Every outcome must be recorded with its status and reason, and the run must go
on to the next cell. The ``fault`` backend (tests/fault_backend.py) fails in a
different way for each kind of linear regression at the article's size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import results
from bench.runner.command import EXIT_CELLS_NOT_OK
from tests.fault_backend import FAULTS

from .support import FAULT_PLUGINS, bench_cli


def bench_run(*args, timeout=300):
    return bench_cli("run", *args, env=FAULT_PLUGINS, timeout=timeout)


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "run"
    proc = bench_run(
        "--backend",
        "fault",
        "--backend",
        "numpy",
        "--problem",
        "linear_regression",
        "--size",
        "article",
        "--kind",
        ",".join(FAULTS),
        "--threads",
        "1",
        "--timeout",
        "5",
        "--max-time",
        "0.01",
        "--min-rounds",
        "2",
        "--out",
        out,
    )
    assert proc.returncode == EXIT_CELLS_NOT_OK, proc.stdout + proc.stderr  # the run ends, saying not all is ok
    frame = results.load(out)
    return out, frame, proc


def row(frame, backend, kind):
    rows = frame[(frame["backend"] == backend) & (frame["kind"] == kind)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.mark.parametrize("kind", list(FAULTS))
def test_each_fault_is_recorded_with_its_status(fault_run, kind):
    _, frame, _ = fault_run
    r = row(frame, "fault", kind)
    assert r["status"] == FAULTS[kind]
    if FAULTS[kind] == "ok":
        assert r["median"] > 0 and r["rounds"] >= 2
    else:
        assert isinstance(r["reason"], str) and r["reason"]
        # a cell that did not end well never contributes a timing
        assert all(r[c] != r[c] for c in ("median", "iqr", "min", "mean"))


def test_reasons_say_what_happened(fault_run):
    _, frame, _ = fault_run
    assert "SIGSEGV" in row(frame, "fault", "jvp")["reason"]
    assert "SIGKILL" in row(frame, "fault", "vjp")["reason"]
    assert "injected failure" in row(frame, "fault", "hessian")["reason"]
    assert "5 s" in row(frame, "fault", "hvp")["reason"]
    assert "NaN" in row(frame, "fault", "gradient")["reason"]
    assert "loss went from" in row(frame, "fault", "solve")["reason"]


def test_the_run_goes_on_after_each_fault(fault_run):
    out, frame, _ = fault_run
    # every planned cell has a record: the crash, hang and kill did not stop the run
    plan = json.loads((out / "plan.json").read_text())["cells"]
    assert sorted(frame["cell"]) == sorted(s["id"] for s in plan)
    assert set(frame.loc[frame["backend"] == "numpy", "status"]) == {"ok"}


def test_threads_reach_the_worker(fault_run):
    _, frame, _ = fault_run
    r = row(frame, "fault", "objective")
    assert r["threads"] == 1
    assert "cpus=1" in r["version"] and "omp=1" in r["version"]


def test_memory_and_first_call_are_recorded(fault_run):
    out, frame, _ = fault_run
    r = row(frame, "numpy", "gradient")
    assert r["peak_mem_mb"] >= r["base_mem_mb"] > 0
    assert "cell_mem_mb" not in json.loads((out / "cells" / f"{r['cell']}.json").read_text())  # peak minus base
    assert r["first_call"] > 0


def test_pytest_benchmark_json_is_readable_by_compare(fault_run):
    out, _, _ = fault_run
    files = sorted(out.glob("bench-fault*.json")) + sorted(out.glob("bench-numpy*.json"))
    assert files
    data = json.loads(files[-1].read_text())
    assert data["bench"]["threads"] == 1 and data["benchmarks"]
    assert all("first_call" in b["extra_info"] for b in data["benchmarks"])
    cli = Path(sys.executable).with_name("pytest-benchmark")
    proc = subprocess.run(
        [str(cli), "compare", *map(str, files)], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "test_cell[" in proc.stdout


def test_console_names_each_failure(fault_run):
    _, _, proc = fault_run
    for status in ("timeout", "crashed", "nan", "diverged", "error"):
        assert status in proc.stdout


def test_gpu_absent_is_said_clearly(tmp_path):
    out = tmp_path / "gpu"
    proc = bench_run(
        "--backend",
        "numpy",
        "--problem",
        "linear_regression",
        "--size",
        "article",
        "--kind",
        "objective",
        "--device",
        "gpu",
        "--out",
        out,
    )
    assert proc.returncode == 2, proc.stderr  # asked before any cell runs (bench.runner.device)
    assert not out.exists()
    assert "CPU only" in proc.stderr
