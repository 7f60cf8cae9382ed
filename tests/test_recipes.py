"""CONTRIBUTING.md's three recipes, each followed by a test: a problem, a backend (tests/toy_plugin.py) and a chart."""

from __future__ import annotations

import pytest

from bench import results
from bench.report import charts as report_charts
from bench.report import sections as report_sections
from bench.report import write_report
from bench.report.sections import Section

from .support import QUICK, bench_cli

PLUGINS = {"BENCH_PLUGINS": "tests.toy_plugin"}


def bench(*args):
    return bench_cli(*args, env=PLUGINS, timeout=600)


def test_recipe_problem_joins_the_agreement_check_on_every_backend():
    proc = bench(
        "check",
        "--problem",
        "toy_quartic",
        "--backend",
        "numpy",
        "--backend",
        "jax",
        "--kind",
        "objective",
        "--kind",
        "gradient",
        "--kind",
        "hessian",
        "--dtype",
        "float64",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "toy_quartic" in proc.stdout and "jax+jit" in proc.stdout and " 0 failed" in proc.stdout


def test_recipe_backend_agrees_where_it_has_derivatives():
    proc = bench(
        "check",
        "--backend",
        "complexstep",
        "--problem",
        "toy_quartic",
        "--problem",
        "quadratic",
        "--kind",
        "objective",
        "--kind",
        "gradient",
        "--dtype",
        "float64",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("complexstep") >= 4


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "run"
    proc = bench(
        "run",
        "--problem",
        "toy_quartic",
        "--backend",
        "numpy",
        "--backend",
        "complexstep",
        "--kind",
        "objective,gradient,solve",
        *QUICK,
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_recipe_problem_and_backend_are_timed(toy_run):
    frame = results.load(toy_run)
    assert set(frame["backend"]) == {"numpy", "complexstep"} and set(frame["status"]) == {"ok"}
    assert len(frame) == 6


def test_recipe_chart_is_drawn_and_shown(toy_run, tmp_path, monkeypatch):
    line = Section("rounds", "Rounds", "How long each row was timed.", "tests.toy_chart")
    monkeypatch.setattr(report_sections, "SECTIONS", report_sections.SECTIONS + (line,))
    assert report_charts.groups()[-1] == "rounds"
    out = write_report([toy_run], out=tmp_path / "report", formats=("png",), dpi=40)
    assert (out / "charts" / "rounds-per-label.png").stat().st_size > 0
    assert "Rounds per row label" in (out / "report.md").read_text()
    assert "rounds-per-label" in (out / "index.html").read_text()
