"""``python -m bench run``: planning, bad input (one line, exit 2, nothing lost), kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import results
from bench.__main__ import main
from bench.runner.config import DEFAULT_KINDS

from . import support
from .support import FAULT_PLUGINS, REPO

ENV = {**os.environ, **FAULT_PLUGINS}
LR = ["--problem", "linear_regression"]


def run_cli(capsys, *args):
    code = main(["run", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


# -- planning -------------------------------------------------------------------------------


def test_list_names_every_cell_with_readable_ids(capsys):
    code, out, _ = run_cli(capsys, *LR, "--backend", "numpy", "--backend", "article", "--size", "article", "--list")
    assert code == 0
    ids = [line for line in out.splitlines() if line.startswith("linear_regression-")]
    assert "linear_regression-article-numpy-float64-gradient-cpu-t" in ids[1]
    kinds = {i.split("-")[4] for i in ids}
    assert kinds == set(DEFAULT_KINDS) == {"objective", "gradient", "hessian", "hvp", "solve"}
    code, out, _ = run_cli(capsys, *LR, "--backend", "numpy", "--size", "article", "--kind", "jvp,vjp", "--list")
    assert code == 0 and {line.split("-")[4] for line in out.splitlines() if line.startswith("linear_")} == {
        "jvp",
        "vjp",
    }  # the model's derivatives when asked for
    article = [i for i in ids if "-article-article-" in i]
    assert len(article) == 1 and "-solve-" in article[0]


def test_integer_sizes_and_modes(capsys):
    code, out, _ = run_cli(
        capsys,
        *LR,
        "--backend",
        "numpy",
        "--size",
        "500",
        "--kind",
        "gradient",
        "--mode",
        "eager",
        "--dtype",
        "float32",
        "--list",
    )
    assert code == 0
    assert "linear_regression-500-numpy-float32-gradient-cpu-t" in out


# -- bad input ----------------------------------------------------------------------------------

BAD = {
    "backend": (["--backend", "nope"], "unknown backend 'nope'; choose from numpy"),
    "problem": (["--problem", "nope"], "unknown problem 'nope'; choose from"),
    "size-name": ([*LR, "--size", "huge"], "unknown size 'huge'; use a positive integer or one of"),
    "size-zero": ([*LR, "--size", "0"], "must be a positive integer"),
    "size-negative": ([*LR, "--size=-5"], "must be a positive integer"),
    "size-not-integer": ([*LR, "--size", "2.5"], "unknown size '2.5'; use a positive integer"),
    "size-over-limit": ([*LR, "--size", str(10**12)], "larger than the limit"),
    "size-memory": ([*LR, "--size", "100000", "--max-memory", "1MB"], "GiB of memory (estimate), more than"),
    "dtype": (
        [*LR, "--dtype", "float16"],
        "unknown dtype 'float16'; did you mean 'float64'? choose from float64, float32",
    ),
    "mode": ([*LR, "--mode", "fast"], "unknown mode 'fast'; choose from eager, compiled, witness, autograd"),
    "kind": ([*LR, "--kind", "laplacian"], "unknown kind 'laplacian'; choose from objective"),
    "device": ([*LR, "--device", "tpu"], "unknown device 'tpu'; choose from cpu, gpu"),
    "threads": ([*LR, "--threads", "0"], "--threads 0 is out of range"),
    "timeout": ([*LR, "--timeout", "0"], "--timeout 0 must be a positive"),
}


@pytest.fixture
def earlier_run(tmp_path):
    """A run folder holding one finished cell."""
    run = tmp_path / "run"
    rec = results.record(
        cell="c1",
        problem="linear_regression",
        size="small",
        n=1000,
        backend="numpy",
        mode="eager",
        label="numpy",
        dtype="float64",
        device="cpu",
        threads=1,
        kind="gradient",
        status="ok",
        median=1e-3,
        run="run",
    )
    results.save(run, "c1", rec)
    results.write_json(run / "plan.json", {"cells": []})
    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("bad", list(BAD), ids=list(BAD))
def test_bad_input_is_one_line_exit_2_and_loses_nothing(capsys, earlier_run, bad):
    args, expected = BAD[bad]
    before = snapshot(earlier_run)
    code, _, err = run_cli(capsys, *args, "--out", earlier_run, "--resume")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert expected in lines[0]
    assert snapshot(earlier_run) == before


def test_output_folder_that_cannot_be_written(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, *LR, "--backend", "numpy", "--out", blocker / "run")
    assert code == 2
    assert err.startswith("error: cannot write to output folder") and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_output_folder_that_is_a_file(capsys, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    code, _, err = run_cli(capsys, *LR, "--backend", "numpy", "--out", target)
    assert code == 2 and "is not a folder" in err
    assert target.read_text() == "keep me"


def test_earlier_results_are_not_overwritten_without_resume(capsys, earlier_run):
    before = snapshot(earlier_run)
    code, _, err = run_cli(capsys, *LR, "--backend", "numpy", "--out", earlier_run)
    assert code == 2 and "--resume" in err
    assert snapshot(earlier_run) == before


# -- kill and resume --------------------------------------------------------------------------------

SLOW_RUN = [*support.SLOW_RUN, "--timeout", "60"]  # a hung cell ends well within the test's own limits


def _wait_for(predicate, limit=120.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_run_resumes_without_losing_or_repeating_cells(tmp_path, sig):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench", "run", *SLOW_RUN, "--out", str(out)]
    runner = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=support.sigint_as_a_terminal,
    )
    cells = out / results.CELLS
    try:
        assert _wait_for(lambda: len(list(cells.glob("*.json"))) >= 2), "the run never finished two cells"
        marker = next((out / ".running").glob("*.json"))
        worker_pid = json.loads(marker.read_text())["pid"]
        os.kill(runner.pid, sig)
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert _wait_for(lambda: not _pid_alive(worker_pid), 30), "the worker outlived its runner"
    if sig == signal.SIGINT:
        assert runner.returncode == 130
        assert "--resume" in runner.stdout.read()

    first = {p.name: p.read_bytes() for p in cells.glob("*.json")}
    planned = [s["id"] for s in json.loads((out / "plan.json").read_text())["cells"]]
    assert 2 <= len(first) < len(planned) == 5  # the 5 default kinds
    for data in first.values():  # every finished cell is whole and readable
        assert json.loads(data)["status"] == "ok"

    proc = subprocess.run(
        [*cmd, "--resume"], cwd=REPO, env=ENV, capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(first)} of 5 cells already done" in proc.stdout
    after = {p.name: p.read_bytes() for p in cells.glob("*.json")}
    assert sorted(after) == sorted(f"{i}.json" for i in planned)
    for name, data in first.items():  # not redone: byte for byte the record written before the kill
        assert after[name] == data
    frame = results.load(out)
    assert len(frame) == 5 and set(frame["status"]) == {"ok"}
    assert (out / results.CSV).is_file()


# -- threads --------------------------------------------------------------------------------------


def test_one_thread_setting_sizes_every_pool():
    from bench.runner import pools

    env = pools.pool_variables(1, base={"XLA_FLAGS": "--xla_foo=1"})
    for name in pools.POOL_VARIABLES:
        assert env[name] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"] and "--xla_foo=1" in env["XLA_FLAGS"]
    env = pools.pool_variables(2, base={})
    assert env["OMP_NUM_THREADS"] == "2" and "multi_thread_eigen" not in env["XLA_FLAGS"]


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8, 16])
def test_cluster_slices_cut_groups_into_whole_problems_only_when_workers_would_idle(workers):
    from bench.cells import Cell, CellSpec
    from bench.runner.plan import groups, slices

    specs = [
        CellSpec(Cell(problem, "small", backend, variant, "float64", kind), 10, "cpu", 1)
        for backend, variant in (("numpy", "hand"), ("jax", "jit"))
        for problem in ("finite_difference", "quadratic", "linear_regression", "kmeans", "newton")
        for kind in ("objective", "gradient")
    ]
    tasks = slices(specs, workers)
    assert sorted(s.id for chunk in tasks.values() for s in chunk) == sorted(s.id for s in specs)  # each cell once
    for chunk in tasks.values():
        assert len({s.group for s in chunk}) == 1  # one backend process
        for problem in {s.cell.problem for s in chunk}:  # whole problems: all of a problem's cells in one slice
            assert sum(s.cell.problem == problem for s in chunk) == 2  # its two kinds
    expected = len(groups(specs)) * min(5, max(1, -(-workers // 2)))
    assert len(tasks) == expected  # as many tasks as keep every worker busy, never more than the problems
    if workers <= 2:
        assert tasks == groups(specs)  # no more processes than a local run
