"""The agreement check catches what it claims to catch, and the report says what was never checked.

* derivatives: a 1% error in either dtype at every size, a gradient of the right values in the
  wrong shape, a float32 cell computed in float64, a backend without autodiff whose derivative
  is not the hand one (plugin ``tests.skewed_backend``);
* solves: a loop that runs 10% fewer iterations (in ``check``) or a tenth of them (in ``run``)
  (plugin ``tests.short_solve_backend``);
* a derivative that raises while it is built fails its own cell in one line, and the rest is checked;
* the report counts and marks the timed rows no passing check covers.
"""

from __future__ import annotations

import pytest

import problems
from bench import agreement_file, check, results, solves
from bench.cells import Cell

from . import short_solve_backend, skewed_backend  # noqa: F401 - registers the plugin backends
from .support import QUICK, bench_cli

PLUGINS = {"BENCH_PLUGINS": "tests.skewed_backend,tests.short_solve_backend"}

# --- derivatives: a table of injected faults ------------------------------------------------------

#: (variant of the skewed backend, problem, size, dtype, kind, what the failure must say)
FAULTS = [
    ("scaled", "lse", "small", "float32", "gradient", None),
    ("scaled", "lse", "small", "float64", "gradient", None),
    ("scaled", "lse", "large", "float32", "gradient", None),
    ("scaled", "lse", "large", "float64", "gradient", None),
    ("scaled", "logistic_regression", "small", "float32", "hessian", None),
    ("scaled", "xor_net", "small", "float32", "vjp", None),
    ("scaled", "llsq", "tiny", "float32", "jvp", None),
    ("scaled", "quadratic", "small", "float32", "hvp", None),
    ("reshaped", "linear_regression", "small", "float64", "gradient", "shape (1, 10) where (10,) was expected"),
    ("reshaped", "xor_net", "small", "float32", "vjp", "shape (1, "),
    ("reshaped", "newton", "small", "float64", "hessian", "shape (121,) where (11, 11) was expected"),
    ("reshaped", "lse", "tiny", "float64", "hvp", "shape (1, 200) where (200,) was expected"),
    ("wide", "logistic_regression", "small", "float32", "gradient", "float64 result in a float32 cell"),
    ("wide", "lse", "small", "float32", "objective", "float64 result in a float32 cell"),
]


def fault_id(fault) -> str:
    return "-".join(fault[:5])


@pytest.mark.parametrize("fault", FAULTS, ids=fault_id)
def test_each_injected_derivative_fault_is_caught(fault):
    variant, problem, size, dtype, kind, says = fault
    row = check.check_cell(Cell(problem, size, "skewed", variant, dtype, kind))
    assert not row.ok, row
    if says is None:  # a 1% error: caught by its value, against the hand derivative (the backend has no autodiff)
        hand = next(c for c in row.checks if c.reference == "hand")
        assert not hand.ok and hand.rel_error == pytest.approx(0.01, rel=1e-3)
        assert hand.rel_error > 5 * hand.tolerance
    else:
        assert says in row.error, row.error


def test_adbench_rho_alone_missed_a_one_percent_error_in_float32():
    """The reproduction: ADBench's rho, absolute for entries below 1, is far below any float32 tolerance."""
    row = check.check_cell(Cell("lse", "small", "skewed", "scaled", "float32", "gradient"))
    assert all(c.rho < 1e-4 for c in row.checks)
    assert not row.ok


@pytest.mark.parametrize(
    "cell",
    [
        Cell("lse", "large", "skewed", "exact", "float32", "gradient"),
        Cell("linear_regression", "small", "skewed", "exact", "float64", "gradient"),
        Cell("newton", "small", "skewed", "exact", "float32", "hessian"),
        Cell("xor_net", "small", "skewed", "exact", "float32", "vjp"),
    ],
    ids=lambda c: c.id,
)
def test_the_same_backend_without_a_fault_passes(cell):
    row = check.check_cell(cell)
    assert row.ok, row
    assert "hand" in {c.reference for c in row.checks}


def test_finite_differences_stop_at_the_limit_and_the_hand_reference_stays():
    inst = problems.get("lse").instance("large")
    assert inst.n_params > check.FD_LIMIT
    assert set(check.references("lse", "large", "float64", "gradient")) == {"hand"}


# --- a derivative that raises while it is built ---------------------------------------------------


def test_a_hessian_that_raises_while_built_fails_its_cell_in_one_line_and_the_rest_is_checked():
    proc = bench_cli(
        "check",
        "--backend",
        "skewed",
        "--mode",
        "broken",
        "--problem",
        "newton",
        "--kind",
        "gradient",
        "--kind",
        "hessian",
        "--dtype",
        "float64",
        env=PLUGINS,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    failing = [line for line in proc.stdout.splitlines() if "FAIL" in line]
    assert len(failing) == 1
    assert "hessian" in failing[0] and "skewed+broken" in failing[0]
    assert "RuntimeError: injected failure while building the Hessian" in failing[0]
    assert "2 checks: 1 passed, 1 failed" in proc.stdout


# --- solves ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("problem", [n for n in problems.NAMES if "solve" in problems.get(n).kinds()])
def test_a_solve_one_tenth_short_fails_the_check(problem, dtype):
    size = problems.get(problem).check_size
    short = check.check_cell(Cell(problem, size, "shortsolve", "short", dtype, "solve"))
    assert not short.ok, short
    assert short.reference.startswith("numpy solve")
    honest = check.check_cell(Cell(problem, size, "numpy", "eager", dtype, "solve"))
    assert honest.ok, honest
    assert honest.iterations == short.iterations


def test_the_check_runs_a_converged_solve_for_fewer_iterations():
    """Newton's method has converged long before its 8 steps: a 7-step loop ends at the same point, so the
    check runs it where the algorithm still moves, and says for how many steps."""
    m = solves.check_iterations("newton", "small", "float64")
    assert m < problems.get("newton").instance("small").iterations
    row = check.check_cell(Cell("newton", "small", "shortsolve", "short", "float64", "solve"))
    assert row.iterations == m and not row.ok


# --- the run: fingerprints against NumPy's solve, and the report's unchecked rows ------------------


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("short") / "run"
    proc = bench_cli(
        "run",
        "--backend",
        "numpy",
        "--backend",
        "shortsolve",
        "--problem",
        "linear_regression",
        "--size",
        "article",
        "--kind",
        "objective",
        "--kind",
        "solve",
        "--out",
        out,
        *QUICK,
        env=PLUGINS,
    )
    assert (out / results.CSV).is_file(), proc.stdout + proc.stderr
    return out, proc


def test_run_marks_a_short_solve_wrong_and_never_ranks_it(short_run):
    out, proc = short_run
    frame = results.load(out, write_csv=False)
    solve = frame[frame["kind"] == "solve"].set_index("label")
    assert solve.loc["numpy", "status"] == "ok" and solve.loc["numpy", "final_norm"] > 0
    for label in ("shortsolve", "shortsolve+tenth"):
        assert solve.loc[label, "status"] == "wrong", solve.loc[label].to_dict()
        assert "disagrees with NumPy's" in solve.loc[label, "reason"]
        assert solve[["median"]].loc[label].isna().all()  # a wrong answer is never timed
    assert "wrong: solve disagrees with NumPy's" in proc.stdout
    _, solve_table = proc.stdout.split("Fastest solve", 1)  # the closing summary's solve table
    solve_table = solve_table.split("cells:", 1)[0]
    assert "linear_regression" in solve_table and "shortsolve" not in solve_table


def test_report_counts_and_marks_timed_rows_no_check_covers(short_run):
    out, _ = short_run
    proc = bench_cli("report", out, "--only", "agreement", env=PLUGINS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    md = (out / "report" / "report.md").read_text()
    # timed: numpy objective and solve, shortsolve and shortsolve+tenth objective (their solves are wrong)
    assert "Not checked: **4 of 4 timed rows**" in md
    assert "ok · not checked: no agreement.json in this run" in md

    rows = [
        check.check_cell(Cell("linear_regression", "small", "numpy", "eager", "float64", k)) for k in check.CHECK_KINDS
    ]
    agreement_file.write(out / "agreement.json", rows)
    proc = bench_cli("report", out, "--only", "agreement", env=PLUGINS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    md = (out / "report" / "report.md").read_text()
    assert "Not checked: **2 of 4 timed rows**" in md  # the shortsolve rows: no check of theirs
    assert "the agreement check has no row for this row label, dtype and kind: 2" in md
