"""Each cell's history over many runs of one machine: an injected step is found at its run with
its size inside the interval, ten unchanged runs raise no step, machines are never mixed, and bad
input is one clear line.

Every run here is a synthetic run folder of cell records whose raw rounds are drawn around a known
median (as in tests/test_verdicts.py), dated through env.json's ``finished``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import results, uncertainty
from bench.__main__ import main as bench_main
from bench.cells import Cell, CellSpec
from bench.history import model, steps, write_history
from bench.report.load import load_run
from bench.stats import Interval

LABELS = {"numpy": ("numpy", "eager"), "jax+jit": ("jax", "jit"), "torch": ("torch", "eager")}
BASE = {"numpy": 1.0e-3, "jax+jit": 0.5e-3, "torch": 0.52e-3}


def spec(label: str, threads: int = 1) -> CellSpec:
    backend, variant = LABELS[label]
    return CellSpec(Cell("linear_regression", "small", backend, variant, "float64", "gradient"), 1000, "cpu", threads)


def write_cell(run: Path, s: CellSpec, processes: list[list[float]], machine: str, others: float = 0.0) -> None:
    rec = results.record(**s.columns(), status="ok", machine=machine, run=run.name, first_call=0.01)
    rec[uncertainty.SAMPLES] = [
        uncertainty.entry(times, 100 + k, k + 1, others, 0.0) for k, times in enumerate(processes)
    ]
    rec.update(uncertainty.summary(uncertainty.entries(rec)))
    results.save(run, s.id, rec)


def make_series(
    root: Path,
    seed: int,
    factors: list[float],
    machine: str = "box",
    label_factor: str = "jax+jit",
    day: int = 1,
    busy: tuple[int, ...] = (),
) -> list[Path]:
    """One run folder per factor: every label timed around its base median (drifting 2% between
    runs and processes); ``label_factor``'s median times the run's factor. Run i finishes on day+i."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, factor in enumerate(factors):
        run = root / f"{machine}-run{i:02d}"
        run.mkdir(parents=True)
        for label, median in BASE.items():
            level = median * (factor if label == label_factor else 1.0) * math.exp(rng.normal(0.0, 0.02))
            procs = [level * math.exp(rng.normal(0.0, 0.02)) for _ in range(2)]
            times = [list(m * np.exp(rng.normal(0.0, 0.03, 40))) for m in procs]
            write_cell(run, spec(label), times, machine, others=0.6 if i in busy else 0.0)
        env = {
            "machine": machine,
            "finished": f"2026-11-{day + i:02d}T12:00:00+0000",
            "versions": {"jax": "0.10.2" if factor != factors[0] else "0.10.1", "numpy": "2.4.6"},
            "git_commit": f"{i:07d}abcdef",
        }
        (run / "env.json").write_text(json.dumps(env))
        paths.append(run)
    return paths


def history_of(paths: list[Path]) -> model.History:
    return model.build([load_run(p) for p in paths])


def test_an_injected_20_percent_step_is_found_at_its_run_with_the_interval_holding_it(tmp_path):
    paths = make_series(tmp_path, seed=3, factors=[1.0] * 5 + [1.2] * 5)
    history = history_of(list(reversed(paths)))  # given in any order: put in date order
    found = history.steps
    assert len(found) == 1
    step = found[0]
    assert step.series.cell["label"] == "jax+jit" and step.found.verdict == "slower"
    timeline = history.timelines["box"]
    assert [r.path for r in timeline.runs] == paths
    assert step.at == 5 and timeline.runs[step.at].path.name == "box-run05"
    assert step.found.change.contains(1.2) and step.found.change.lo > 1
    assert step.found.runs_before == 5 and step.found.runs_after == 5


def test_a_step_where_the_host_changed_under_the_machines_name_says_so(tmp_path):
    paths = make_series(tmp_path, seed=4, factors=[1.0] * 4 + [1.2] * 4)
    for i, run in enumerate(paths):  # the host of the last four runs passes over memory 2.5x slower
        env = json.loads((run / "env.json").read_text())
        speed = {"loop": 1.5e-4, "stream": 2e-4 * (2.5 if i >= 4 else 1.0)}
        (run / "env.json").write_text(json.dumps({**env, "speed": speed}))
    history = history_of(paths)
    timeline = history.timelines["box"]
    said = "machine speed x2.5 slower on NumPy's pass over 8 MB"
    assert timeline.changes(4) == ["jax 0.10.1 → 0.10.2", said]
    assert said not in timeline.changes(5) and said not in timeline.changes(3)
    from bench.history.page import changes_at

    assert said in changes_at(history, history.steps[0])


def test_an_injected_improvement_is_faster():
    drop = [Interval(v, v / 1.06, v * 1.06) for v in [1.0, 1.01, 0.99, 1.0, 0.8, 0.81, 0.79, 0.8]]
    (found,) = steps.find_steps(drop)
    assert found.at == 4 and found.verdict == "faster" and found.change.contains(0.8)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ten_unchanged_runs_raise_no_step(tmp_path, seed):
    history = history_of(make_series(tmp_path, seed=seed, factors=[1.0] * 10))
    assert len(history.series) == 3 and all(sum(s.stable) == 10 for s in history.series)
    assert history.steps == []


def test_an_a_a_series_of_intervals_raises_almost_no_step():
    """Many A/A series at the noise the intervals state: no step (the family-wise rate is at most 5%)."""
    rng = np.random.default_rng(7)
    raised = 0
    for _ in range(300):
        points = []
        for _ in range(10):
            v = math.exp(rng.normal(0.0, 0.03))
            points.append(Interval(v, v * math.exp(-0.06), v * math.exp(0.06)))
        raised += bool(steps.find_steps(points))
    assert raised <= 3


def test_a_single_odd_run_or_a_change_in_the_last_run_is_no_step():
    flat = [1.0, 1.01, 0.99, 1.0, 1.5, 1.0, 0.99, 1.01, 1.0, 1.0]
    assert steps.find_steps([Interval(v, v / 1.05, v * 1.05) for v in flat]) == []
    last = [1.0, 1.01, 0.99, 1.0, 1.0, 0.99, 1.01, 1.0, 1.0, 1.5]
    assert steps.find_steps([Interval(v, v / 1.05, v * 1.05) for v in last]) == []


def test_a_run_measured_on_a_busy_machine_takes_no_part(tmp_path):
    # the 20% step's new level seen only in runs measured while other processes took the CPU: those medians
    # are drawn but left out of the step search, so nothing is called
    history = history_of(make_series(tmp_path, seed=3, factors=[1.0] * 7 + [1.2] * 3, busy=(7, 8, 9)))
    assert history.steps == []
    assert all(s.stable == [True] * 7 + [False] * 3 for s in history.series)


def test_two_machines_are_never_one_series(tmp_path):
    # the same cells, interleaved in date; the second machine is 20% slower throughout: no step
    a = make_series(tmp_path, seed=1, factors=[1.0] * 5, machine="alpha", day=1)
    b = make_series(tmp_path, seed=2, factors=[1.2] * 5, machine="beta", day=2)
    history = history_of([p for pair in zip(a, b) for p in pair])
    assert set(history.timelines) == {"alpha", "beta"}
    assert [r.path for r in history.timelines["alpha"].runs] == a
    assert {s.machine for s in history.series} == {"alpha", "beta"} and len(history.series) == 6
    assert all(len(s.points) == 5 for s in history.series)
    assert history.steps == []


def test_the_command_writes_the_pages_and_says_the_step(tmp_path, capsys):
    paths = make_series(tmp_path / "results", seed=3, factors=[1.0] * 5 + [1.2] * 5)
    out = tmp_path / "hist"
    code = bench_main(["history", *map(str, paths), "--out", str(out), "--formats", "png", "--worst", "1"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "1 step(s), 1 slower, 0 faster" in printed
    assert "jax 0.10.1 → 0.10.2" in printed and "box-run05" in printed
    page = (out / "report.md").read_text()
    assert "Regressions and improvements" in page and "jax 0.10.1 → 0.10.2" in page
    charts = sorted(p.name for p in (out / "charts").glob("*.png"))
    assert charts == ["history-box.png", "history-step-1-box-linear_regression-small-gradient-jax-jit.png"]
    assert "data:image/png;base64" in (out / "index.html").read_text()


def test_the_default_output_is_left_out_when_given_again(tmp_path):
    paths = make_series(tmp_path / "results", seed=4, factors=[1.0] * 4)
    _, out = write_history(paths, formats=("png",), worst=0)
    assert out == tmp_path / "results" / "history"
    warnings: list[str] = []
    history, _ = write_history([out, *paths], formats=("png",), worst=0, warn=warnings.append)  # `results/*`
    assert warnings == []
    assert len(history.timelines["box"].runs) == 4


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], "no run folder given"),
        (["ONE"], "a history needs two or more run folders with timings, got 1"),
        (["ONE", "missing"], "does not exist"),
        (["ONE", "EMPTY"], "got 1 (no results in"),
        (["ONE", "OTHER"], "no machine has two runs"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, expected):
    (one,) = make_series(tmp_path, seed=5, factors=[1.0])
    (other,) = make_series(tmp_path, seed=6, factors=[1.0], machine="other")
    (tmp_path / "empty").mkdir()
    names = {"ONE": str(one), "OTHER": str(other), "EMPTY": str(tmp_path / "empty"), "missing": str(tmp_path / "no")}
    code = bench_main(["history", *(names[a] for a in argv), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert "Traceback" not in err
