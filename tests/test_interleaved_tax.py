"""The protocol tax timed in interleaved rounds: a witness and its backend's best protocol rows alternate
round by round (bench.runner.interleave), so that a drift of the machine hits both alike and their ratio
cancels it; the tax and its interval then come from the per-round ratios (bench.tax.paired_taxes)."""

from __future__ import annotations

import json
import math
import random

import pytest

from bench import results, stats
from bench.cells import WITNESS, Cell, CellSpec
from bench.runner import interleave
from bench.runner.repeat import add_repeat
from bench.tax import PAIRED, paired_taxes, protocol_tax

from .support import bench_cli

#: a machine at its best, then 1.8 times slower (a neighbour on the host), then back, each stretch 25 rounds
SPEEDS = ([1.0] * 25 + [1.8] * 25) * 2


def _timings(true_ratio: float, seed: int = 0) -> tuple[list[float], list[float], list[list[float]]]:
    """A witness (100 us) and a row ``true_ratio`` times slower on the drifting machine: the row's rounds
    timed after all the witness's (apart), and both in the same rounds (interleaved)."""
    rng = random.Random(seed)
    noise = [rng.lognormvariate(0, 0.02) for _ in range(4 * len(SPEEDS))]
    calm, slow = [1.0] * 50, [1.8] * 50  # timed apart: the witness met the calm stretches, the row the slow ones
    witness_apart = [1e-4 * s * noise[i] for i, s in enumerate(calm)]
    row_apart = [1e-4 * true_ratio * s * noise[100 + i] for i, s in enumerate(slow)]
    rounds = [[1e-4 * s * noise[200 + i], 1e-4 * true_ratio * s * noise[300 + i]] for i, s in enumerate(SPEEDS)]
    return witness_apart, row_apart, rounds


def test_interleaved_rounds_cancel_a_drift_that_moves_two_medians_timed_apart():
    witness, row, rounds = _timings(1.05)
    apart = stats.median_interval(row).value / stats.median_interval(witness).value
    assert not 0.9 < apart < 1.2  # timed apart, the drift is the verdict (x1.9 here)
    tax = stats.paired_ratio([[r / w for w, r in rounds]])
    assert tax.contains(1.05) and tax.relative_halfwidth() < 0.06  # the floor between processes: 0.039


def test_a_paired_ratio_holds_every_process_own_median_and_needs_rounds():
    one = [1.0 + 0.001 * i for i in range(-10, 11)]
    two = [1.2 + 0.001 * i for i in range(-10, 11)]
    both = stats.paired_ratio([one, two])
    assert both.lo <= 1.0 and both.hi >= 1.2  # two processes that disagree: the interval spans them
    tight = stats.paired_ratio([[1.0] * 500])  # one process, rounds that agree: the floor between processes
    half = stats.z_value(stats.CONFIDENCE) * stats.PAIRED_BETWEEN
    assert tight.lo == pytest.approx(math.exp(-half)) and tight.hi == pytest.approx(math.exp(half))
    assert not stats.paired_ratio([[1.0, 1.1]]).bounded  # too few rounds: no interval
    assert not stats.paired_ratio([]).bounded


def test_rounds_alternate_every_call_in_a_fresh_order():
    seen: list[str] = []
    calls = [lambda name=name: seen.append(name) for name in "abc"]
    rounds = interleave.paired(calls, seconds=0.0, min_rounds=30, max_rounds=40)
    assert len(rounds) == 30 and all(len(r) == 3 and min(r) > 0 for r in rounds)
    assert sorted(seen) == sorted("abc" * 30)
    firsts = {seen[3 * i] for i in range(30)}
    assert firsts == set("abc")  # no call always goes first (nor, then, always after another)
    capped = interleave.paired(calls, seconds=10.0, min_rounds=2, max_rounds=5)
    assert len(capped) == 5  # the cap ends the rounds before the seconds do


class _Built:
    def __init__(self):
        self.calls = 0

    def call(self):
        self.calls += 1


def _spec(variant: str, dtype: str = "float64", problem: str = "kmeans") -> CellSpec:
    return CellSpec(Cell(problem, "small", "torch", variant, dtype, "gradient"), 1000, "cpu", 2)


def test_a_worker_keeps_the_rows_a_witness_will_need_and_pairs_it_with_the_best_and_its_own_mode():
    plan = [_spec(v) for v in ("eager", "autograd", "compile", WITNESS)] + [_spec("autograd", problem="lse")]
    pairs = interleave.Pairs(plan, slow_budget=10.0, seed=0, pass_no=1)
    built = {spec.id: _Built() for spec in plan}
    medians = {"torch": 2.9e-4, "torch+autograd": 2e-4, "torch+compile": 4e-4}
    for spec in plan[:3] + plan[4:]:
        pairs.after(spec, built[spec.id], {"median": medians[spec.cell.label]})
    assert [s.cell.label for s, _, _ in pairs.kept[interleave.key(plan[0])]] == list(medians)
    assert len(pairs.kept) == 1  # lse has no witness in this plan: nothing kept for it
    witness: dict = {"median": 2.5e-4}
    pairs.after(plan[3], built[plan[3].id], witness)
    (entry,) = witness[PAIRED]
    # the witness first, then the rows within 1.5x of the fastest by median (autograd, then eager torch), then
    # the fastest of the witness's own mode (compile, 2x the fastest)
    assert entry["cells"] == [plan[3].id, plan[1].id, plan[0].id, plan[2].id]
    assert len(entry["rounds"]) >= interleave.MIN_ROUNDS and all(len(r) == 4 for r in entry["rounds"])
    assert all(built[s.id].calls == len(entry["rounds"]) for s in plan[:4])
    assert built[plan[4].id].calls == 0
    assert not pairs.kept  # let go once paired


def test_rows_after_their_witness_are_not_kept_and_a_witness_that_fails_lets_its_rows_go():
    plan = [_spec("compile"), _spec(WITNESS), _spec("autograd")]  # a resumed run's order: one row after
    pairs = interleave.Pairs(plan, slow_budget=10.0, seed=0, pass_no=1)
    pairs.after(plan[0], _Built(), {"median": 2e-4})
    pairs.after(plan[2], _Built(), {"median": 1e-4})
    assert [s.id for s, _, _ in pairs.kept[interleave.key(plan[0])]] == [plan[0].id]
    assert [s.id for s, _, _ in pairs.finish(plan[1])] == [plan[0].id]  # the witness's cell ended, not ok
    assert not pairs.kept


def test_a_row_that_fails_in_the_interleaved_rounds_costs_the_tax_its_rounds_not_the_witness():
    class Failing(_Built):
        def call(self):
            raise RuntimeError("out of memory")

    plan = [_spec("compile"), _spec(WITNESS)]
    pairs = interleave.Pairs(plan, slow_budget=10.0, seed=0, pass_no=1)
    pairs.after(plan[0], Failing(), {"median": 2e-4})
    witness = {"median": 2e-4, "status": "ok"}
    pairs.after(plan[1], _Built(), witness)
    assert PAIRED not in witness and witness["status"] == "ok" and not pairs.kept


def _rec(cell: str, label: str, variant: str, median: float, **extra) -> dict:
    return results.record(
        cell=cell,
        problem="kmeans",
        size="small",
        n=1000,
        n_params=20,
        backend="torch",
        mode="eager" if variant in ("eager", "autograd") else "compiled",
        label=label,
        variant=variant,
        dtype="float64",
        device="cpu",
        threads=2,
        kind="gradient",
        status="ok",
        median=median,
        iqr=median * 0.02,
        min=median * 0.95,
        mean=median,
        stddev=median * 0.02,
        rounds=100,
        first_call=0.1,
        peak_mem_mb=100.0,
        version="2",
        machine="m",
        run="r",
        **extra,
    )


def test_the_tax_comes_from_the_interleaved_rounds_where_the_run_has_them(tmp_path):
    """The witness timed apart at 320 us (a slow stretch) against the row's 213 us reads x0.67, "witness not
    the expert's best"; their interleaved rounds say x0.99, and that is the tax, with its interval."""
    folder = tmp_path / "run"
    _, _, rounds = _timings(0.99)
    row, witness = (
        "kmeans-small-torch+compile-float64-gradient-cpu-t2",
        "kmeans-small-torch+witness-float64-gradient-cpu-t2",
    )
    results.save(folder, row, _rec(row, "torch+compile", "compile", 2.13e-4))
    paired = [{"pass": 1, "pid": 1, "cells": [witness, row], "rounds": rounds}]
    results.save(folder, witness, _rec(witness, "torch+witness", WITNESS, 3.2e-4) | {PAIRED: paired})
    tax = protocol_tax(results.load(folder, write_csv=False)).iloc[0]
    assert bool(tax["interleaved"])
    assert tax["tax"] == pytest.approx(stats.paired_ratio([[r / w for w, r in rounds]]).value)
    assert tax["tax_lo"] <= 0.99 <= tax["tax_hi"] and tax["call"] == "within"
    # without the rounds the same two medians give the drift's verdict
    results.save(folder, witness, _rec(witness, "torch+witness", WITNESS, 3.2e-4))
    apart = protocol_tax(results.load(folder, write_csv=False)).iloc[0]
    assert not apart["interleaved"] and apart["tax"] == pytest.approx(2.13 / 3.2)


ROW, WIT = "kmeans-small-torch+compile-float64-gradient-cpu-t2", "kmeans-small-torch+witness-float64-gradient-cpu-t2"
GOOD = [[1e-4, 1.02e-4]] * 20


def _pair_records(paired, row: dict | None = None, witness: dict | None = None) -> list[dict]:
    return [
        _rec(ROW, "torch+compile", "compile", 2e-4) | (row or {}),
        _rec(WIT, "torch+witness", WITNESS, 2e-4) | {PAIRED: paired} | (witness or {}),
    ]


def test_well_formed_rounds_give_the_rows_tax():
    assert paired_taxes(_pair_records([{"cells": [WIT, ROW], "rounds": GOOD}]))[ROW].value == pytest.approx(1.02)


@pytest.mark.parametrize(
    "paired",
    [
        "rounds",
        [{"cells": [WIT, ROW], "rounds": [[1e-4, "fast"]] * 20}],
        [{"cells": [WIT], "rounds": None}],
        [{"cells": [1, 2], "rounds": GOOD}],
        [{"cells": [WIT, ROW], "rounds": [[0.0, 1e-4], [-1.0, 1e-4], [math.inf, 1e-4]] * 10}],
        [{"cells": [WIT, ROW], "rounds": [[10**400, 1e-4]] * 20}],  # no float: never an OverflowError
        [{"cells": [ROW, WIT], "rounds": GOOD}],  # a witness's rounds name it first
        [{"cells": [WIT, ROW, ROW], "rounds": [[1e-4, 1e-4, 1e-4]] * 20}],  # one row twice
    ],
    ids=["not-a-list", "text", "no-rounds", "ids-not-text", "not-positive", "huge-int", "not-first", "twice"],
)
def test_malformed_interleaved_rounds_give_no_tax(paired):
    assert paired_taxes(_pair_records(paired)) == {}


@pytest.mark.parametrize(
    "row,witness",
    [
        ({"problem": "lse"}, {}),  # a row of another cell
        ({"threads": 1}, {}),
        ({"status": "error"}, {}),
        ({"variant": WITNESS, "label": "torch+witness"}, {}),  # a witness is no protocol row
        ({}, {"variant": "compile", "label": "torch+compile"}),  # only a witness's record holds rounds
        ({}, {"status": "nan"}),
    ],
)
def test_rounds_count_only_between_a_witness_and_an_ok_row_of_its_own_cell(row, witness):
    assert paired_taxes(_pair_records([{"cells": [WIT, ROW], "rounds": GOOD}], row, witness)) == {}


def test_a_repeat_adds_its_interleaved_rounds_to_the_witness():
    first = {"pass": 1, "cells": [WIT, ROW], "rounds": [[1e-4, 1e-4]] * 10}
    second = {"pass": 2, "cells": [WIT, ROW], "rounds": [[1e-4, 1.1e-4]] * 10}
    row, earlier = _pair_records([first], witness={"samples": [{"pass": 1, "pid": 1, "times": [1e-4] * 10}]})
    later = {"status": "ok", "samples": [{"pass": 2, "pid": 2, "times": [1e-4] * 10}], PAIRED: [second]}
    merged = add_repeat(earlier, later, 2)
    assert merged[PAIRED] == [first, second]
    both = paired_taxes([row, merged])[ROW]
    assert both.lo <= 1.0 and both.hi >= 1.1  # two processes that disagree: the interval holds both
    assert add_repeat(earlier | {PAIRED: 7}, later, 2)[PAIRED] == [second]  # a malformed earlier entry is dropped


def test_a_run_times_each_witness_interleaved_with_its_best_rows(tmp_path):
    """A real run (JAX's k-means gradient): the witness's record holds the interleaved rounds, and the
    summary's tax is theirs."""
    out = tmp_path / "run"
    args = ["run", "--backend", "jax", "--problem", "kmeans", "--size", "small", "--kind", "gradient"]
    proc = bench_cli(*args, "--repeat", "none", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads((out / "cells" / "kmeans-small-jax+witness-float64-gradient-cpu-t2.json").read_text())
    (entry,) = rec[PAIRED]
    assert entry["cells"] == [rec["cell"], "kmeans-small-jax+jit-float64-gradient-cpu-t2"]
    assert len(entry["rounds"]) >= interleave.MIN_ROUNDS
    tax = protocol_tax(results.load(out, write_csv=False)).iloc[0]
    assert bool(tax["interleaved"]) and tax["tax_lo"] <= tax["tax"] <= tax["tax_hi"]
    assert "interleaved rounds" in proc.stdout


def test_the_best_row_against_the_witness_is_the_fastest_in_their_interleaved_rounds(tmp_path):
    """Timed apart, the eager row's median (190 us) beats the compiled row's (213 us); in the rounds that
    alternate both with the witness the eager row is x1.2 the witness and the compiled one x0.99: the tax is
    the compiled row's."""
    folder = tmp_path / "run"
    ids = {v: f"kmeans-small-torch+{v}-float64-gradient-cpu-t2" for v in ("compile", "autograd", "witness")}
    results.save(folder, ids["compile"], _rec(ids["compile"], "torch+compile", "compile", 2.13e-4))
    results.save(folder, ids["autograd"], _rec(ids["autograd"], "torch+autograd", "func", 1.9e-4))
    _, _, fast = _timings(0.99)
    _, _, slow = _timings(1.2, seed=1)
    rounds = [[w, s * w / w2, c] for (w, c), (w2, s) in zip(fast, slow)]  # witness, autograd, compile
    paired = [{"pass": 1, "pid": 1, "cells": [ids["witness"], ids["autograd"], ids["compile"]], "rounds": rounds}]
    results.save(folder, ids["witness"], _rec(ids["witness"], "torch+witness", WITNESS, 2.1e-4) | {PAIRED: paired})
    frame = results.load(folder, write_csv=False)
    tax = protocol_tax(frame).iloc[0]
    assert tax["best"] == "torch+compile" and tax["tax"] == pytest.approx(0.99, rel=0.02)
    autograd = frame[frame["label"] == "torch+autograd"].iloc[0]
    assert autograd["paired_tax"] == pytest.approx(1.2, rel=0.03)
