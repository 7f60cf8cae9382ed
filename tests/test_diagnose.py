"""``python -m bench diagnose overhead|tax``: what the harness itself costs, behind the one front door."""

from __future__ import annotations

import argparse
import json

import pytest

import backends
import bench.__main__
from bench import results
from bench.runner import tax_probe

from .support import REPO


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tax", "--backend", "fortran"], "unknown backend 'fortran'; choose from numpy"),
        (["tax", "--problem", "lse"], "unknown headline problem 'lse'; choose from logistic_regression"),
        (["tax", "--threads", "0"], "--threads takes a positive integer, not 0"),
        (["tax", "--quiet", "2"], "--quiet a share from 0 to 1"),
        (["overhead", "no/such/run"], "no run folder at no/such/run"),
        (["overhead", str(REPO / "results" / "reference"), "--backend", "fortran"], "no finished cell of fortran"),
        (["overhead", str(REPO / "results" / "reference"), "--cells", "0"], "a positive integer, not 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, says, capsys):
    assert bench.__main__.main(["diagnose", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err


@pytest.mark.slow  # a worker process per backend
def test_overhead_times_each_backends_smallest_cells_of_the_run(capsys):
    run = REPO / "results" / "reference"
    assert (
        bench.__main__.main(["diagnose", "overhead", str(run), "--backend", "numpy", "--cells", "2", "--repeat", "3"])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    frame = results.load(run, write_csv=False)
    numpy_ok = frame[(frame["backend"] == "numpy") & (frame["status"] == "ok")]
    expected = {cell for _, g in numpy_ok.groupby("threads") for cell in g.nsmallest(2, "median")["cell"]}
    timed = {line.split()[0] for line in out[1:-1]}
    assert timed == expected
    ratios = [float(line.split()[-1]) for line in out[1:-1]]
    assert all(r > 0 for r in ratios) and out[-1].startswith("largest harness/timeit ratio: ")


def test_tax_worker_times_every_variant_of_a_headline_cell(capsys):
    settings = dict.fromkeys(tax_probe.WORKER_SETTINGS)
    settings |= {"problem": ["linear_regression"], "threads": 1, "dtype": "float64", "seconds": 0.01}
    settings |= {"min_rounds": 3, "max_rounds": 3, "quiet": 1.0, "patience": 1.0, "backend": "numpy"}
    tax_probe.worker(argparse.Namespace(**settings))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["variant"] for r in rows] == list(backends.variants("numpy"))
    assert all(r["problem"] == "linear_regression" and r["quiet"] and r["rounds"] >= 3 for r in rows)
    assert "linear_regression/small/solve" in tax_probe.table(rows)


#: every module that runs as a program of its own, and why it is not a ``python -m bench`` subcommand
PROGRAMS = {
    "bench/__main__.py": "the front door",
    "bench/runner/launch.py": "the one bootstrap the runner starts its processes through",
    "bench/runner/device.py": "a process the run starts to ask a framework for its GPU",
    "bench/runner/pictures.py": "a process the run starts per backend for the article's pictures",
    "bench/runner/overhead.py": "diagnose overhead's worker, started through launch",
    "bench/runner/tax_probe.py": "diagnose tax's worker, started through launch",
    "bench/runner/duel.py": "diagnose duel's server, one per framework, started through launch",
    "bench/gradbench/__main__.py": "GradBench's tool command line (python -m bench gradbench without the bench)",
    "tools/verdict_checks.py": "a maintainer's 15-minute check that reads the tests' slowed backend",
}


def test_every_program_is_the_front_door_or_started_by_the_runner():
    found = {
        str(path.relative_to(REPO))
        for folder in ("backends", "problems", "witnesses", "bench", "tools")
        for path in (REPO / folder).rglob("*.py")
        if '__name__ == "__main__"' in path.read_text()
    }
    assert found == set(PROGRAMS), "a program outside python -m bench: make it a subcommand in bench/__main__.COMMANDS"
