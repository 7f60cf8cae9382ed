"""Every cell of the agreement matrix: objective and each derivative kind of every
problem, on every backend, eager and compiled, float64 and float32, against the
hand-derived, finite-difference and SymPy references (see bench/check.py)."""

from __future__ import annotations

import pytest

import backends
import problems
from bench import check

from .support import require

CELLS = check.cells(backends.NAMES, problems.NAMES, backends.DTYPES, backends.MODES, check.CHECK_KINDS)


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_agrees_with_references(cell):
    require(cell.backend)
    row = check.check_cell(cell)
    detail = ", ".join(f"{c.reference}: rho={c.rho:.2e} (tol {c.tolerance:.0e})" for c in row.checks)
    assert row.ok, f"{cell.id}: {row.error or ''} {detail}"


def test_every_problem_checks_its_derivatives_against_two_references():
    """The matrix must not pass by comparing with nothing: each derivative row of an
    autodiff backend has both the hand and the finite-difference reference."""
    for problem_name in problems.NAMES:
        kind = "gradient" if "gradient" in problems.get(problem_name).kinds() else "jacobian"  # ht: its only derivative
        cell = next(c for c in CELLS if c.problem == problem_name and c.backend == "numpy" and c.kind == kind)
        refs = check.references(cell.problem, cell.size, cell.dtype, cell.kind)
        assert {"hand", "finite-difference"} <= set(refs), problem_name


def test_a_wrong_derivative_fails_the_check(monkeypatch):
    """Break the hand gradient of one problem: the NumPy row must fail against finite differences."""
    problem = problems.get("linear_regression")
    loss = problem.loss

    def wrong(params, data):
        value, (g,) = loss.value_and_grad(params, data)
        return value, (g * 1.001,)

    from dataclasses import replace

    monkeypatch.setattr(type(problem), "loss", replace(loss, value_and_grad=wrong))
    check.references.cache_clear()
    try:
        row = check.check_cell(check.Cell("linear_regression", "small", "numpy", "eager", "float64", "gradient"))
    finally:
        check.references.cache_clear()
    assert not row.ok
    assert row.reference == "finite-difference"


def test_rho_metric():
    import numpy as np

    assert check.rho(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == (0.0, 0)
    r, where = check.rho(np.array([0.0, 10.0]), np.array([0.0, 11.0]))
    assert where == 1 and abs(r - 1 / 21) < 1e-15
    assert check.rho(np.array([np.nan]), np.array([1.0]))[0] == float("inf")
