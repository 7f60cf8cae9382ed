"""Verdicts that survive a rerun: raw rounds per process, intervals with the variation between
processes, unstable cells labelled, the fastest said only beyond the noise, ``--compare`` as a
gate, incomplete runs said first, and threads in every cell identity.

Every run here is a synthetic run folder of cell records whose raw rounds are drawn with a
known difference, so that each statistic is checked against the truth it should find."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from bench import results, uncertainty, verdicts
from bench.__main__ import main as bench_main
from bench.cells import Cell, CellSpec
from bench.report import EXIT_SLOWER, comparison, load
from bench.runner.repeat import add_repeat
from bench.stats import ratio_interval, verdict

LABELS = {"numpy": ("numpy", "eager"), "jax+jit": ("jax", "jit"), "torch": ("torch", "eager")}


def spec(label: str, kind: str = "gradient", size: str = "small", threads: int = 1) -> CellSpec:
    backend, variant = LABELS[label]
    s = CellSpec(Cell("linear_regression", size, backend, variant, "float64", kind), 1000, "cpu", threads)
    assert s.cell.label == label
    return s


def rounds(rng, median: float, n: int = 60, noise: float = 0.03) -> list[float]:
    return list(median * np.exp(rng.normal(0.0, noise, n)))


def write_cell(
    run: Path,
    s: CellSpec,
    processes: list[list[float]],
    others: float = 0.0,
    status: str = "ok",
    probe: float | None = None,
) -> dict:
    """One record whose statistics come from ``processes`` (one list of round times each)."""
    rec = results.record(**s.columns(), status=status, machine="box", run=run.name, first_call=0.01)
    if status == "ok":
        rec[uncertainty.SAMPLES] = [
            uncertainty.entry(times, 100 + k, k + 1, others, 0.0, probe) for k, times in enumerate(processes)
        ]
        rec.update(uncertainty.summary(uncertainty.entries(rec)))
    results.save(run, s.id, rec)
    return rec


def make(run: Path, medians: dict[tuple, float], seed: int, processes: int = 2, **kw) -> Path:
    """A run folder: every (label, kind, threads) of ``medians`` timed in ``processes`` processes."""
    rng = np.random.default_rng(seed)
    run.mkdir(parents=True, exist_ok=True)
    for (label, kind, threads), median in medians.items():
        drift = [median * math.exp(rng.normal(0.0, 0.02)) for _ in range(processes)]  # between processes
        write_cell(run, spec(label, kind, threads=threads), [rounds(rng, m) for m in drift], **kw)
    (run / "env.json").write_text(json.dumps({"machine": "box", "cpu": "Synthetic", "cores": 2}))
    return run


BASE = {("numpy", "gradient", 1): 1.0e-3, ("jax+jit", "gradient", 1): 0.5e-3, ("torch", "gradient", 1): 0.52e-3}


# --- the statistics -------------------------------------------------------------------


def test_raw_rounds_and_their_process_are_kept_and_pooled(tmp_path):
    rng = np.random.default_rng(0)
    run = tmp_path / "r"
    rec = write_cell(run, spec("numpy"), [rounds(rng, 1e-3, 40), rounds(rng, 1.1e-3, 30)])
    stored = json.loads(results.cell_path(run, spec("numpy").id).read_text())
    assert [e["pass"] for e in stored["samples"]] == [1, 2] and len(stored["samples"][1]["times"]) == 30
    assert rec["rounds"] == 70 and rec["processes"] == 2
    medians = [np.median(e["times"]) for e in stored["samples"]]
    assert rec["median"] == pytest.approx(np.median(medians))
    frame = results.load(run, write_csv=False)
    row = frame.iloc[0]
    assert row["processes"] == 2 and row["ci_lo"] < row["median"] < row["ci_hi"]


def test_malformed_samples_in_a_received_record_are_ignored_not_trusted():
    rec = {"samples": [{"times": [1e-3, "x"]}, {"times": [-1.0]}, "junk", {"times": []}, {"times": [2e-3] * 8}]}
    assert len(uncertainty.entries(rec)) == 1


def test_the_interval_widens_with_the_variation_between_processes(tmp_path):
    rng = np.random.default_rng(1)
    same = {"status": "ok", "samples": [uncertainty.entry(rounds(rng, 1e-3), 1, k, 0, 0) for k in (1, 2)]}
    apart = {
        "status": "ok",
        "samples": [uncertainty.entry(rounds(rng, m), 1, k, 0, 0) for k, m in ((1, 1e-3), (2, 1.3e-3))],
    }
    narrow, wide = uncertainty.interval(same, 0.01), uncertainty.interval(apart, 0.01)
    assert wide.relative_halfwidth() > 2 * narrow.relative_halfwidth()
    # a single process gets the run's between-process noise as a floor, never the rounds' alone
    one = {"status": "ok", "samples": [uncertainty.entry(rounds(rng, 1e-3, 400), 1, 1, 0, 0)]}
    assert uncertainty.interval(one, 0.05).relative_halfwidth() >= 1.96 * 0.05


def test_processes_that_disagree_make_a_cell_unstable():
    rng = np.random.default_rng(2)
    rec = {"samples": [uncertainty.entry(rounds(rng, m), 1, k, 0, 0) for k, m in ((1, 47e-6), (2, 24e-3))]}
    assert "disagree" in uncertainty.stability(rec)


def test_the_between_process_noise_is_estimated_from_the_cells_measured_twice():
    rng = np.random.default_rng(3)
    recs = []
    for i in range(200):
        m = 1e-3 * np.exp(rng.normal(0, 0.04, 2))  # true between-process sd 0.04 on a log scale
        recs.append(
            {
                "status": "ok",
                "cell": str(i),
                "samples": [uncertainty.entry(rounds(rng, x, 200, 0.01), 1, k, 0, 0) for k, x in enumerate(m)],
            }
        )
    assert uncertainty.between_noise(recs) == pytest.approx(0.04, rel=0.25)


def test_each_backend_gets_its_own_between_process_noise():
    rng = np.random.default_rng(5)
    recs = []
    for backend, sd, count in (("numpy", 0.01, 60), ("jax", 0.08, 60), ("torch", 0.05, 3)):
        for i in range(count):
            m = 1e-3 * np.exp(rng.normal(0, sd, 2))
            procs = [uncertainty.entry(rounds(rng, x, 200, 0.005), 1, k, 0, 0) for k, x in enumerate(m)]
            recs.append({"status": "ok", "cell": f"{backend}{i}", "backend": backend, "samples": procs})
    noise = uncertainty.between_by_backend(recs)
    assert noise["numpy"] == pytest.approx(0.01, rel=0.35)
    assert noise["jax"] == pytest.approx(0.08, rel=0.35)
    assert noise["torch"] == noise[None]  # too few cells measured twice: the run's figure
    # a cell measured once is as uncertain as its backend's processes are
    once = {"status": "ok", "cell": "x", "samples": [uncertainty.entry(rounds(rng, 1e-3, 200, 0.005), 1, 1, 0, 0)]}
    stated = uncertainty.annotate([*recs, {**once, "backend": "numpy"}, {**once, "cell": "y", "backend": "jax"}])
    width = {c: math.log(stated[c]["ci_hi"] / stated[c]["ci_lo"]) for c in ("x", "y")}
    assert width["y"] > 4 * width["x"]


def test_a_failed_repeat_keeps_the_measurement_and_labels_the_cell(tmp_path):
    rng = np.random.default_rng(4)
    run = tmp_path / "r"
    earlier = write_cell(run, spec("numpy"), [rounds(rng, 1e-3)])
    merged = add_repeat(earlier, {"status": "crashed", "reason": "killed"}, 2)
    assert merged["median"] == earlier["median"] and merged["status"] == "ok"
    assert "repeat" in uncertainty.stability(merged) and "crashed" in uncertainty.stability(merged)


# --- verdicts inside a run ------------------------------------------------------------


def test_a_tie_is_never_called_a_win(tmp_path):
    frame = results.load(make(tmp_path / "r", BASE, seed=5), write_csv=False)
    table = verdicts.fastest(frame)
    row = table.iloc[0]
    assert row["fastest"] in ("jax+jit", "torch") and row["outcome"] == "tie"  # 4% apart: under the 10% minimum
    assert "tie with" in verdicts.phrase(row.to_dict())


def test_a_clear_win_is_called_with_its_interval(tmp_path):
    medians = {**BASE, ("torch", "gradient", 1): 0.8e-3}
    table = verdicts.fastest(results.load(make(tmp_path / "r", medians, seed=6), write_csv=False))
    row = table.iloc[0].to_dict()
    assert row["fastest"] == "jax+jit" and row["outcome"] == "ahead" and row["margin_lo"] > 1.1
    assert row["margin"] == pytest.approx(1.6, rel=0.1)
    assert (
        verdicts.phrase(row) == f"x{row['margin']:.2f} ({row['margin_lo']:.2f}-{row['margin_hi']:.2f}) ahead of torch"
    )


def test_rows_that_differ_only_in_thread_count_are_apart(tmp_path):
    medians = {**BASE, ("numpy", "gradient", 2): 0.6e-3, ("jax+jit", "gradient", 2): 0.3e-3}
    run = make(tmp_path / "r", medians, seed=7)
    table = verdicts.fastest(results.load(run, write_csv=False))
    assert sorted(table["threads"].tolist()) == [1, 2]
    frame = load.combine([load.load_run(run)])
    assert {"numpy · 1 threads", "numpy · 2 threads"} <= set(frame["series"])


def test_an_incomplete_run_is_said_first_and_crowns_no_winner(tmp_path):
    run = make(tmp_path / "r", {("numpy", "gradient", 1): 1e-3, ("torch", "gradient", 1): 2e-3}, seed=8)
    planned = [spec(label) for label in ("numpy", "jax+jit", "torch")]  # jax+jit planned, never timed
    (run / "plan.json").write_text(json.dumps({"cells": [s.to_json() for s in planned]}))
    out = tmp_path / "out"
    assert bench_main(["report", str(run), "--out", str(out), "--only", "times"]) == 0
    page = (out / "report.md").read_text()
    glance = page.split("## At a glance", 1)[1]
    assert glance.lstrip().startswith("- **Incomplete run:** 1 of 3 planned cells have no record")
    missing = [{**c, "run": "r"} for c in load.load_run(run).planned if c["label"] == "jax+jit"]
    context_row = verdicts.fastest(results.load(run, write_csv=False), missing)
    assert context_row.iloc[0]["outcome"] == "unknown" and "planned" in context_row.iloc[0]["why"]
    assert "cannot tell" in page


# --- --compare as a gate --------------------------------------------------------------


def test_an_aa_comparison_calls_nothing_changed(tmp_path):
    medians = {
        (label, kind, 1): m * f
        for (label, _, _), m in BASE.items()
        for kind, f in (("gradient", 1), ("objective", 0.4))
    }
    before = make(tmp_path / "a", medians, seed=9)
    after = make(tmp_path / "b", medians, seed=10)
    table = comparison.compare(load.combine([load.load_run(after)]), load.combine([load.load_run(before)]))
    assert len(table) == 6 and set(table["verdict"]) <= {"same"}


def test_compare_calls_a_slower_cell_and_the_gate_exits_non_zero(tmp_path, capsys):
    before = make(tmp_path / "a", BASE, seed=11)
    after = make(tmp_path / "b", {**BASE, ("torch", "gradient", 1): BASE[("torch", "gradient", 1)] * 1.25}, seed=12)
    args = ["report", str(after), "--compare", str(before), "--out", str(tmp_path / "o"), "--only", "compare"]
    assert bench_main([*args, "--fail-on-slower", "10"]) == EXIT_SLOWER
    printed = capsys.readouterr().out
    assert (
        "1 slower, 0 faster, 2 no difference" in printed and "slower: linear_regression small gradient torch" in printed
    )
    assert "--fail-on-slower 10%: 1 cell(s) fail" in printed
    assert bench_main([*args, "--fail-on-slower", "30"]) == 0  # 25% slower passes a 30% gate
    assert bench_main(args) == 0  # no gate asked for: the report is written, the summary printed


def test_a_cell_measured_on_a_busy_machine_is_never_called_changed(tmp_path):
    before = make(tmp_path / "a", BASE, seed=13)
    after = make(tmp_path / "b", {k: v * 1.4 for k, v in BASE.items()}, seed=14, others=0.5)  # one core busy
    table = comparison.compare(load.combine([load.load_run(after)]), load.combine([load.load_run(before)]))
    assert set(table["verdict"]) == {"unknown"} and table["why"].str.startswith("measured while").all()


def test_a_run_timed_in_a_slow_stretch_is_judged_against_the_machine_at_its_best_in_either(tmp_path, capsys):
    """An A/A pair where the second run fell wholly in a slow stretch of the virtual machine (its speed
    probe twice the first's, every cell 1.6x): each run alone looks at its best, but compared on one
    machine, no cell is called slower; each says the machine ran slow. Runs of two machines keep their own."""
    from bench.selftest import aa_figures

    a = make(tmp_path / "a", BASE, seed=21, probe=1e-4)
    b = make(tmp_path / "b", {k: v * 1.6 for k, v in BASE.items()}, seed=22, probe=2e-4)
    assert load.shared_probe_floor([a, b]) == 1e-4
    assert aa_figures(a, b)["called_changed"] == 0
    args = ["report", str(b), "--compare", str(a), "--out", str(tmp_path / "o"), "--only", "compare"]
    assert bench_main([*args, "--fail-on-slower", "10"]) == 0
    printed = capsys.readouterr().out
    assert "0 slower, 0 faster" in printed and "3 cannot tell" in printed, printed
    table = comparison.compare(load.combine([load.load_run(b, None, 1e-4)]), load.combine([load.load_run(a)]))
    assert table["why"].str.contains("the machine ran x2 slower").all()
    # another machine: its probes say nothing about this one's, and the change is called
    (b / "env.json").write_text(json.dumps({"machine": "other", "cpu": "Synthetic", "cores": 2}))
    assert load.shared_probe_floor([a, b]) is None
    assert aa_figures(a, b)["called_changed"] == 3


def test_a_change_the_machines_own_speed_can_explain_is_not_called(tmp_path):
    """The baseline timed every cell while the machine ran x1.2 slower than at its best (under the slow
    stretch's x1.25, so no cell is labelled slow), the rerun at its best, and every cell came out 18%
    faster: the speed probe explains it, and no cell is called faster. A 40% change is called still."""
    a = make(tmp_path / "a", BASE, seed=41, probe=1.2e-4)
    b = make(tmp_path / "b", {k: v * 0.82 for k, v in BASE.items()}, seed=42, probe=1.0e-4)
    floor = load.shared_probe_floor([a, b])
    now, before = load.combine([load.load_run(b, None, floor)]), load.combine([load.load_run(a, None, floor)])
    assert before["slow"].tolist() == [1.2] * 3 and now["slow"].tolist() == [1.0] * 3
    table = comparison.compare(now, before)
    assert set(table["verdict"]) == {"unknown"}, table[["label", "change", "verdict"]]
    assert table["why"].str.startswith("the machine ran x1.2 faster while this run timed the cell").all()
    # the same probes in both runs: the 18% is the code's, and it is called
    c = make(tmp_path / "c", BASE, seed=41, probe=1.0e-4)
    assert set(comparison.compare(now, load.combine([load.load_run(c, None, floor)]))["verdict"]) == {"faster"}
    # a change larger than the machine's can explain is called in spite of it
    d = make(tmp_path / "d", {k: v * 0.6 for k, v in BASE.items()}, seed=43, probe=1.0e-4)
    assert set(comparison.compare(load.combine([load.load_run(d, None, floor)]), before)["verdict"]) == {"faster"}


def _speed(run: Path, **speed: float) -> None:
    env = json.loads((run / "env.json").read_text())
    (run / "env.json").write_text(json.dumps({**env, "speed": speed}))


def test_a_rerun_on_a_slower_host_of_the_same_name_calls_no_cell_changed(tmp_path, capsys):
    """The speed probe ran as fast, so no cell is labelled slow, but every cell is 2.5x slower: the
    host changed under the same machine and CPU name. The runs' speed readings tell, and no cell is
    called changed; within the factor, the readings say nothing and the change is called."""
    from bench.selftest import aa_figures, lines

    a = make(tmp_path / "a", BASE, seed=31, probe=1e-4)
    b = make(tmp_path / "b", {k: v * 2.5 for k, v in BASE.items()}, seed=32, probe=1e-4)
    assert aa_figures(a, b)["called_changed"] == 3  # no reading: the three cells are called slower
    _speed(a, loop=1.5e-4, matmul=4.4e-4, stream=2.0e-4)
    _speed(b, loop=1.4e-4, matmul=4.6e-4, stream=5.5e-4)  # memory 2.75x slower, the Python loop no slower
    figures = aa_figures(a, b)
    assert figures["called_changed"] == 0 and figures["cannot_tell"] == 3
    assert "NumPy's pass over 8 MB" in figures["machine_changed"] and "x2.8 slower" in figures["machine_changed"]
    assert lines(figures)[0].startswith("  between the two runs the machine ran x2.8 slower")
    assert figures["cannot_tell_why"] == [[figures["machine_changed"], 3]]  # why, counted
    assert lines(figures)[-1].startswith("  most cells cannot be told apart on this machine now (3 of 3)")
    args = ["report", str(b), "--compare", str(a), "--out", str(tmp_path / "o"), "--only", "compare"]
    assert bench_main([*args, "--fail-on-slower", "10"]) == 0
    assert "0 slower, 0 faster, 0 no difference these runs can see, 3 cannot tell" in capsys.readouterr().out
    env_a, env_b = load.load_run(a).env, load.load_run(b).env
    (changed,) = comparison.env_changes(env_a, env_b)  # only the reading beyond the factor is listed
    assert (changed.item, changed.before, changed.now) == ("speed.stream", "0.2 ms", "0.55 ms")
    assert comparison.not_comparable([changed])
    _speed(b, loop=1.4e-4, matmul=4.6e-4, stream=2.9e-4)  # 1.45x: within the factor, the change is called
    assert comparison.speed_change(load.load_run(a).env, load.load_run(b).env) is None
    assert aa_figures(a, b)["called_changed"] == 3
    _speed(b, loop=3e-4, matmul=4.6e-4, stream=2.0e-4)  # the Python loop 2x: the speed probe's to judge, not this
    assert comparison.speed_change(load.load_run(a).env, load.load_run(b).env) is None


def test_the_machine_speed_is_read_at_both_ends_of_a_run_and_the_faster_kept():
    from bench.environment import Environment
    from bench.runner.machine import machine_speed

    speed = machine_speed(repeats=2)
    assert set(speed) == {"loop", "matmul", "stream"} and all(0 < v < 1 for v in speed.values())
    assert set(comparison.SPEED_COMPARED) < set(speed)
    start = Environment(speed={"loop": 2e-4, "matmul": 4e-4, "stream": 1e-3})
    merged = start.merge(Environment(speed={"loop": 1.5e-4, "matmul": 5e-4, "stream": 1e-3}))
    assert merged.speed == {"loop": 1.5e-4, "matmul": 4e-4, "stream": 1e-3}
    doc = {**merged.to_json(), "speed": {"loop": 1.5e-4, "matmul": "fast", "stream": -1, "x": float("inf")}}
    assert Environment.from_json(doc).speed == {"loop": 1.5e-4}  # received values of the wrong kind are dropped
    assert "speed" not in Environment().to_json()


def test_bad_gate_values_are_one_line_errors(tmp_path, capsys):
    run = make(tmp_path / "a", BASE, seed=15)
    assert bench_main(["report", str(run), "--fail-on-slower", "10"]) == 2
    assert "--fail-on-slower needs --compare" in capsys.readouterr().err
    assert bench_main(["report", str(run), "--compare", str(run), "--min-effect", "ten"]) == 2
    assert "--min-effect 'ten' is not a number" in capsys.readouterr().err


def test_power_a_ten_percent_slowdown_is_called_in_most_cells():
    """Synthetic cells 10% slower, two processes each, as the runner measures them: called slower
    in at least 90% of 200 trials with a 12% slowdown, every time with 25%; never a 3% drift."""
    rng = np.random.default_rng(16)

    def call(factor: float) -> str:
        def rec(m):
            drift = [m * math.exp(rng.normal(0, 0.01)) for _ in range(2)]
            return {
                "status": "ok",
                "samples": [uncertainty.entry(rounds(rng, x, 100, 0.02), 1, k, 0, 0) for k, x in enumerate(drift)],
            }

        a, b = rec(1e-3), rec(1e-3 * factor)
        ratio = uncertainty.interval(b, 0.01), uncertainty.interval(a, 0.01)
        from bench.stats import ratio_interval, verdict

        return verdict(ratio_interval(*ratio))

    assert sum(call(1.12) == "slower" for _ in range(200)) >= 180
    assert all(call(1.25) == "slower" for _ in range(100))
    assert not any(call(1.03) == "slower" for _ in range(100))


# --- the runner keeps the rounds and repeats in a second process ----------------------


def test_the_runner_keeps_every_round_and_repeats_cells_in_a_second_process(tmp_path):
    from tests.support import QUICK, bench_cli

    out = tmp_path / "run"
    args = ["run", "--backend", "numpy", "--problem", "quadratic", "--size", "article", "--kind", "gradient"]
    done = bench_cli(*args, "--kind", "objective", *QUICK, "--repeat", "all", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    good, _ = results.scan(out)
    assert len(good) == 2
    for rec in good.values():
        procs = uncertainty.entries(rec)
        assert [e["pass"] for e in procs] == [1, 2] and procs[0]["pid"] != procs[1]["pid"]
        assert rec["rounds"] == sum(len(e["times"]) for e in procs) and rec["processes"] == 2
    frame = results.load(out, write_csv=False)
    # the statistics use both processes, or the one timed while the machine ran at its best (uncertainty.clean)
    assert frame["processes"].isin([1, 2]).all() and (frame["ci_lo"] < frame["median"]).all()
    assert "Fastest gradient per problem and size" in done.stdout  # the closing summary
    env = json.loads((out / "env.json").read_text())
    assert env["wait_policy"] == "passive" and env["repeat"] == "all"

    again = bench_cli(*args, *QUICK, "--repeat", "none", "--out", str(tmp_path / "once"))
    assert again.returncode == 0
    (rec,) = results.scan(tmp_path / "once")[0].values()
    assert [e["pass"] for e in rec["samples"]] == [1]

    three = bench_cli(*args, *QUICK, "--repeat", "all", "--processes", "3", "--out", str(tmp_path / "three"))
    assert three.returncode == 0, three.stdout + three.stderr
    (rec,) = results.scan(tmp_path / "three")[0].values()
    procs = uncertainty.entries(rec)
    # three processes; a fourth only where all three ran while the machine was slow or busy
    assert [e["pass"] for e in procs][:3] == [1, 2, 3] and len({e["pid"] for e in procs}) == len(procs)
    env = json.loads((tmp_path / "three" / "env.json").read_text())
    assert env["processes"] == 3
    assert {"loop", "matmul", "stream"} == set(env["speed"])  # the machine's speed, read at both ends of the run


def test_more_processes_need_a_repeat_and_a_sensible_count(capsys):
    assert bench_main(["run", "--repeat", "none", "--processes", "3", "--list"]) == 2
    said = capsys.readouterr().err
    assert "--processes 3 measures the cells --repeat chooses, and --repeat none chooses none" in said
    assert bench_main(["run", "--processes", "1", "--list"]) == 2
    assert "--processes 1 is out of range; use 2 to 20" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--processes", "3"], ["--repeat", "all"]])
def test_a_cluster_run_refuses_the_options_it_could_not_honour(option, capsys):
    assert bench_main(["run", "--scheduler", "local:1", *option, "--list"]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and f"{' '.join(option)} has no effect with --scheduler" in said[0]


def test_a_cluster_run_records_that_it_measures_each_cell_once():
    from bench.__main__ import parser
    from bench.runner import config as run_config

    cluster = run_config.from_args(parser().parse_args(["run", "--scheduler", "local:1"]))
    local = run_config.from_args(parser().parse_args(["run"]))
    assert (cluster.repeat, cluster.processes) == ("none", 1)  # what its env.json says
    assert (local.repeat, local.processes) == ("auto", 2)


# --- the machine's self-test -------------------------------------------------------------


def test_selftest_reports_the_aa_figures_of_two_runs(tmp_path, capsys):
    from bench.selftest import aa_figures

    apart = {**BASE, ("torch", "gradient", 1): 0.8e-3}
    a = make(tmp_path / "a", apart, seed=17)
    b = make(tmp_path / "b", {**apart, ("numpy", "gradient", 1): 1.5e-3}, seed=18)
    figures = aa_figures(a, b)
    assert figures["cells"] == 3 and figures["called_changed"] == 1  # the one cell made slower
    assert figures["verdicts_both_runs"] == 1 and figures["verdicts_flipped"] == 0  # jax+jit ahead in both
    assert 0 < figures["coverage"] < 1
    # every cell has an interval of its change; the one made 50% slower does not hold none
    assert figures["change_intervals"] == 3 and figures["change_holds_none"] == pytest.approx(2 / 3)
    assert bench_main(["selftest", "--use", str(a), str(a), "--out", str(tmp_path / "st")]) == 0
    printed = capsys.readouterr().out
    assert "called changed by --compare: 0 (goal 0)" in printed
    assert json.loads((tmp_path / "st" / "selftest.json").read_text())["coverage"] == 1.0


def test_selftest_counts_why_cells_could_not_be_told_apart():
    from bench.fmt import counted as reasons
    from bench.selftest import lines

    slow = "measured while the machine ran x{} slower than at its best (its speed probe)"
    whys = [slow.format(f) for f in ("1.3", "2.7", "1.5")] + ["its 2 processes disagree (medians x1.6 apart)"]
    whys += ["its 2 processes disagree (medians x2.1 apart)", "not timed in both runs", ""]
    assert reasons(whys) == [
        [slow.format("1.3 to x2.7"), 3],  # one reason, its figures' range
        ["its 2 processes disagree (medians x1.6 to x2.1 apart)", 2],
        ["no reason given", 1],
        ["not timed in both runs", 1],
    ]
    figures = {"cells": 10, "called_changed": 0, "cannot_tell": 7, "status_changed": 0, "moved_10pct": 0}
    figures |= {"cannot_tell_why": reasons(whys), "stable": 3, "coverage": 1.0, "resolvable_change": 0.05}
    figures |= {"groups": 1, "verdicts_both_runs": 0, "verdicts_flipped": 0, "fastest_row_changed": 0}
    figures |= {"fastest_framework_changed": 0}
    said = lines(figures)
    assert f"    3 {slow.format('1.3 to x2.7')}" in said and "    1 for other reasons" in said  # the three commonest
    assert said[-1].startswith("  most cells cannot be told apart on this machine now (7 of 10)")
    assert not any("most cells" in line for line in lines({**figures, "cannot_tell": 5}))


def test_selftest_refuses_options_it_chooses_itself(tmp_path, capsys):
    assert bench_main(["selftest", "--out", str(tmp_path / "s"), "--", "--out", "x"]) == 2
    assert "leave --out and --resume out" in capsys.readouterr().err


def test_openmp_threads_sleep_when_idle_unless_told_otherwise(capsys):
    """A spinning OpenMP pool takes the core its descheduled partner needs (torch.compile's kernels:
    30-50 ms a call instead of 0.05 ms while another process used a core): passive by default."""
    from bench.runner import pools

    base = {"OMP_WAIT_POLICY": "ACTIVE", "PATH": "/bin"}
    assert pools.pool_variables(2, base)["OMP_WAIT_POLICY"] == "PASSIVE"
    assert pools.pool_variables(2, base, wait_policy="active")["OMP_WAIT_POLICY"] == "ACTIVE"
    assert pools.pool_variables(2, {"PATH": "/bin"}, wait_policy="inherit").get("OMP_WAIT_POLICY") is None
    assert bench_main(["run", "--wait-policy", "sometimes", "--list"]) == 2
    assert "--wait-policy 'sometimes' is not allowed; use one of passive, active, inherit" in capsys.readouterr().err


def test_auto_repeats_the_contenders_and_cheap_cells_only_within_the_runs_budget(tmp_path, monkeypatch):
    from bench.runner import repeat

    run = make(
        tmp_path / "run", {**BASE, ("numpy", "objective", 1): 1e-4, ("jax+jit", "objective", 1): 2e-5}, 7, processes=1
    )
    for path in run.glob("cells/*.json"):  # each cell took 100 s to build, calibrate and time
        rec = json.loads(path.read_text())
        results.save(run, rec["cell"], {**rec, "cell_time": 100.0})
    specs = [spec(label, kind) for label, kind, _ in [*BASE, ("numpy", "objective", 1), ("jax+jit", "objective", 1)]]
    wanted = {s.id for s in repeat.choose("contenders", run, specs)}
    assert wanted  # jax+jit and torch are within 4% of each other: both contend
    monkeypatch.setattr(repeat, "SHARE", 1.0)
    monkeypatch.setattr(repeat, "RUN_BUDGET", 2000.0)  # 500 s measured, 200 s of contenders: the 3 others fit
    assert len({s.id for s in repeat.choose("auto", run, specs)} - wanted) == 3
    monkeypatch.setattr(repeat, "RUN_BUDGET", 850.0)  # 350 s left, 200 s of contenders: one more cell
    assert len({s.id for s in repeat.choose("auto", run, specs)} - wanted) == 1
    monkeypatch.setattr(repeat, "RUN_BUDGET", 500.0)  # the first pass spent the run's budget: contenders only
    assert {s.id for s in repeat.choose("auto", run, specs)} == wanted
    assert repeat.over_budget(run) is None  # 500 s: within it, nothing to say
    monkeypatch.setattr(repeat, "RUN_BUDGET", 240.0)  # a slower machine: the first pass alone overspent
    said = repeat.over_budget(run)
    assert said.startswith("the first pass took 8 min of cell time, beyond the run's 4-minute budget")


def test_auto_measures_again_first_the_cells_timed_while_the_machine_ran_slow(tmp_path, monkeypatch):
    from bench.runner import repeat

    rng = np.random.default_rng(5)
    run = tmp_path / "run"
    cost = {"objective": 10.0, "gradient": 20.0, "hessian": 50.0}  # seconds each cell took; one row per group
    for kind, seconds in cost.items():
        probe = 2e-4 if kind == "hessian" else 1e-4  # the hessian was timed while the machine ran x2 slower
        rec = write_cell(run, spec("numpy", kind), [rounds(rng, 1e-3)], probe=probe)
        results.save(run, rec["cell"], {**rec, "cell_time": seconds})
    specs = [spec("numpy", kind) for kind in cost]
    assert repeat.choose("contenders", run, specs) == []  # no group has two rows
    stated = results.load(run, write_csv=False).set_index("kind")["stability"]
    assert stated["hessian"].startswith(uncertainty.BUSY_LABEL) and stated.drop("hessian").isna().all()
    monkeypatch.setattr(repeat, "SHARE", 1.0)
    monkeypatch.setattr(repeat, "RUN_BUDGET", 80.0 + 55.0)  # 55 s to spend: the slow cell, though the dearest
    assert [s.cell.kind for s in repeat.choose("auto", run, specs)] == ["hessian"]
    monkeypatch.setattr(repeat, "RUN_BUDGET", 80.0 + 65.0)  # then the cheapest calm cell that still fits
    assert sorted(s.cell.kind for s in repeat.choose("auto", run, specs)) == ["hessian", "objective"]


def test_a_cell_every_process_of_which_ran_slow_is_measured_a_third_time_within_the_budget(tmp_path, monkeypatch):
    from bench.runner import repeat

    rng = np.random.default_rng(6)
    run = tmp_path / "run"
    probes = {"objective": (1e-4, 1e-4), "gradient": (2e-4, 1e-4), "hessian": (2e-4, 1.8e-4)}  # pass 1, pass 2
    for kind, (first, second) in probes.items():
        rec = write_cell(run, spec("numpy", kind), [rounds(rng, 1e-3), rounds(rng, 1e-3)])
        for e, probe in zip(rec["samples"], (first, second)):
            e["probe"] = probe
        results.save(run, rec["cell"], {**rec, "cell_time": 10.0})
    specs = [spec("numpy", kind) for kind in probes]
    monkeypatch.setattr(repeat, "AGAIN_SHARE", 1.0)
    monkeypatch.setattr(repeat, "RUN_BUDGET", 60.0 + 10.0)  # 60 s spent (3 cells, 2 processes each)
    # the gradient found the machine at its best in its second process: only the hessian never did
    assert [s.cell.kind for s in repeat.still_disturbed(run, specs, 3)] == ["hessian"]
    monkeypatch.setattr(repeat, "RUN_BUDGET", 60.0 + 5.0)  # no room left for it
    assert repeat.still_disturbed(run, specs, 3) == []
    monkeypatch.setattr(repeat, "RUN_BUDGET", 1000.0)
    monkeypatch.setattr(repeat, "AGAIN_SHARE", 0.3)  # 9 s: under the hessian's 10 s
    assert repeat.still_disturbed(run, specs, 3) == []


def test_a_cell_timed_while_the_machine_ran_slow_is_labelled_and_widened():
    from bench.runner.worker import speed_probe

    probe = speed_probe()
    assert 0 < probe < 1
    rng = np.random.default_rng(8)

    def cell(name: str, slowness: float) -> dict:
        procs = [uncertainty.entry(rounds(rng, 1e-3), 1, 1, 0.0, 0.0, probe * slowness)]
        return {"status": "ok", "cell": name, "backend": "numpy", "samples": procs}

    recs = [cell("best", 1.0), cell("usual", 1.1), cell("slow", 1.5)]
    assert recs[2]["samples"][0]["probe"] == pytest.approx(probe * 1.5, rel=1e-3)
    stated = uncertainty.annotate(recs)
    assert stated["best"]["stability"] is None and stated["usual"]["stability"] is None
    assert "the machine ran x1.5 slower than at its best (its speed probe)" in stated["slow"]["stability"]
    width = {c: math.log(stated[c]["ci_hi"] / stated[c]["ci_lo"]) for c in stated}
    assert width["slow"] - 2 * math.log(1.5) == pytest.approx(width["usual"], rel=0.3)  # widened by x1.5 each way
    assert width["usual"] == pytest.approx(width["best"], rel=0.3)


def test_the_runs_noise_counts_every_process_those_timed_in_a_slow_stretch_too():
    # on a virtual machine the probe explains only part of a process's speed: a rerun meets the whole variation
    rng = np.random.default_rng(10)
    fast, slow = 6e-5, 1.75 * 6e-5
    recs = [
        {
            "status": "ok",
            "cell": f"c{k}",
            "backend": "numpy",
            "samples": [
                uncertainty.entry(rounds(rng, 1.5e-3), 1, 1, 0.0, 0.0, slow),
                uncertainty.entry(rounds(rng, 1.0e-3), 2, 2, 0.0, 0.0, fast),
            ],
        }
        for k in range(10)
    ]
    spread = math.log(1.5) / math.sqrt(2) / NormalDist().inv_cdf(0.75)  # the normal sigma of such spreads
    assert uncertainty.between_by_backend(recs)["numpy"] == pytest.approx(spread, rel=0.1)
    busy = [{**r, "samples": [{**e, "others_cpu": 0.6} for e in r["samples"]]} for r in recs]
    assert uncertainty.between_by_backend(busy) == {}  # other processes' CPU share: no noise figure from them


def test_the_runs_summary_counts_its_unstable_cells_by_reason(tmp_path):
    """Two cells timed while the machine ran x1.4 and x1.6 slower than at its best (the speed probe), one whose
    two processes disagree x2: the summary says how many ok cells give no verdict, and why, the figures as a range."""
    from bench.runner.summary import unstable_lines

    run = tmp_path / "run"
    run.mkdir()
    write_cell(run, spec("numpy", "objective"), [[1e-3] * 20], probe=1e-4)  # the machine at its best
    write_cell(run, spec("numpy", "gradient"), [[1e-3] * 20], probe=1.4e-4)
    write_cell(run, spec("numpy", "hessian"), [[1e-3] * 20], probe=1.6e-4)
    write_cell(run, spec("numpy", "hvp"), [[1e-3] * 20, [2e-3] * 20], probe=1e-4)
    assert unstable_lines(results.load(run, write_csv=False)) == [
        "  2 ok but unstable (no verdict against another run): measured while the machine ran x1.4 to x1.6 slower "
        "than at its best (its speed probe)",
        "  1 ok but unstable (no verdict against another run): its 2 processes disagree (medians x2 apart)",
    ]


def test_a_noise_figure_from_few_cells_keeps_an_unchanged_cell_from_being_called_changed():
    """Two runs, each with ``n`` cells measured in two processes whose log medians vary by ``sigma``; the cell
    compared was timed in one process in each, so its interval's floor is the run's figure
    (:func:`bench.uncertainty.between_noise`). Unchanged, it is called changed in about 5% of such pairs with
    tens of cells measured twice, and at worst about twice that with one (its spread often small): simulated
    20,000 times, 9.9% at sigma 20%, n 1; 0.1% at sigma 2%. A figure drawn toward DEFAULT_BETWEEN (5%) as
    much as 8 cells weigh (the moderated variance of an empirical-Bayes t-test) called 35% there (57% in log
    space), so a few cells' figure is taken as it is. On a quiet machine a 25% slowdown is still called."""
    rng = np.random.default_rng(11)

    def one(median: float) -> dict:
        return {"status": "ok", "samples": [uncertainty.entry([median] * 20, 1, 1, 0.0, 0.0)]}

    def run_floor(sigma: float, n: int) -> float:
        twice = [
            {"status": "ok", "samples": [uncertainty.entry([m] * 3, 1, k + 1, 0.0, 0.0) for k, m in enumerate(pair)]}
            for pair in 1e-3 * np.exp(rng.normal(0, sigma, (n, 2)))
        ]
        return uncertainty.between_noise(twice)

    def called(sigma: float, n: int, effect: float, pairs: int) -> float:
        calls = 0
        for _ in range(pairs):
            before, now = 1e-3 * np.exp(rng.normal(0, sigma, 2)) * (1.0, 1.0 + effect)
            ratio = ratio_interval(
                uncertainty.interval(one(now), run_floor(sigma, n)),
                uncertainty.interval(one(before), run_floor(sigma, n)),
            )
            calls += verdict(ratio) in ("slower", "faster")
        return calls / pairs

    for sigma in (0.02, 0.20):
        for n in (1, 3, 12):
            assert called(sigma, n, 0.0, 500) <= 0.14, (sigma, n)
    assert called(0.02, 1, 0.25, 200) >= 0.95


def test_a_cell_timed_again_at_the_machines_best_takes_that_process_only():
    rng = np.random.default_rng(9)
    fast, slow = 6e-5, 1.75 * 6e-5  # the two speeds a shared virtual machine was seen to run at
    procs = [
        uncertainty.entry(rounds(rng, 1.5e-3), 1, 1, 0.0, 0.0, slow),  # the first pass, the machine slow
        uncertainty.entry(rounds(rng, 1.0e-3), 2, 2, 0.0, 0.0, fast),  # the repeat, at its best
    ]
    rec = {"status": "ok", "cell": "c", "backend": "numpy", "samples": procs}
    # the run's typical cell: two processes at the machine's best that agree (the run's between-process noise)
    others = [{"status": "ok", "cell": f"d{k}", "backend": "numpy", "samples": [procs[1], procs[1]]} for k in range(3)]
    stated = uncertainty.annotate([rec, *others])["c"]
    assert stated["stability"] is None and stated["processes"] == 1
    assert stated["median"] == pytest.approx(1.0e-3, rel=0.02)
    assert stated["ci_lo"] < 1.0e-3 < stated["ci_hi"] < 1.4e-3


def test_the_runs_summary_states_its_noise_between_processes(tmp_path):
    """Twelve NumPy cells, each measured in two processes whose medians are x1.105 apart: a spread (standard
    deviation of the two log medians) of 0.1/sqrt(2), the typical cell's, is a noise of 0.0707/0.6745 = 10.5%,
    and a cell timed in one process has a 95% interval of exp(1.96 * 0.105) - 1 = 23% or wider. Two JAX cells
    measured twice are too few for a figure of JAX's own (MIN_SPREADS = 8): the line says JAX takes the run's,
    and how many cells every figure rests on."""
    from bench.runner.summary import noise_line

    run = tmp_path / "run"
    run.mkdir()
    for kind in ("objective", "gradient", "hessian", "hvp"):
        for threads in (1, 2, 3):
            write_cell(run, spec("numpy", kind, threads=threads), [[1e-3] * 20, [1e-3 * math.exp(0.1)] * 20])
    line = noise_line(run)
    assert line is not None and line.startswith("noise between worker processes: numpy 10.5%, from 12 cells ")
    assert "; a cell timed in one process takes their spread at the 75% quantile, 10.5%: a 95% interval of ±23%" in line
    for kind in ("objective", "gradient"):
        write_cell(run, spec("jax+jit", kind), [[2e-3] * 20, [2e-3 * math.exp(0.1)] * 20])
    line = noise_line(run)
    assert line is not None
    assert line.startswith("noise between worker processes: numpy 10.5%; jax: the run's 10.5% (under 8 cells each)")
    assert "from 14 cells measured in two or more processes" in line
    few = tmp_path / "few"  # three cells measured twice: one figure for every backend, and it says so
    few.mkdir()
    for label in ("numpy", "jax+jit", "torch"):
        write_cell(few, spec(label), [[1e-3] * 20, [1e-3 * math.exp(0.1)] * 20])
    line = noise_line(few)
    assert line is not None
    assert line.startswith("noise between worker processes: 10.5% (under 8 cells per backend: one figure for all), ")
    assert "from 3 cells measured in two or more processes" in line
    one = tmp_path / "one"
    one.mkdir()
    write_cell(one, spec("numpy"), [[1e-3] * 20, [1e-3 * math.exp(0.1)] * 20])
    assert "from 1 cell measured in two or more processes" in (noise_line(one) or "")
    spread = tmp_path / "spread"  # five cells x1.02 to x1.105 apart: the typical cell's noise (the median,
    spread.mkdir()  # 0.06/sqrt(2)/0.6745 = 6.3%) and the floor of a one-process cell (the 75% quantile's 0.08: 8.4%,
    for k, d in enumerate((0.02, 0.04, 0.06, 0.08, 0.1), 1):  # exp(1.96 * 0.0839) - 1 = 18%) are told apart
        write_cell(spread, spec("numpy", threads=k), [[1e-3] * 20, [1e-3 * math.exp(d)] * 20])
    line = noise_line(spread) or ""
    assert line.startswith("noise between worker processes: 6.3% (under 8 cells per backend: one figure for all), ")
    assert "at the 75% quantile, 8.4%: a 95% interval of ±18% or wider" in line
    alone = tmp_path / "alone"  # every cell in one process: no figure, and the line says what intervals assume
    alone.mkdir()
    write_cell(alone, spec("numpy"), [[1e-3] * 20])
    line = noise_line(alone)
    assert line is not None and line.startswith("noise between worker processes: not measured (no cell was timed ")
    assert f"every interval assumes {uncertainty.DEFAULT_BETWEEN:.0%}, which a noisy machine exceeds" in line
    failed = tmp_path / "failed"  # no ok cell: nothing to say
    failed.mkdir()
    write_cell(failed, spec("numpy"), [], status="crashed")
    assert noise_line(failed) is None
