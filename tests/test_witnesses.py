"""Witnesses (an expert's hand-written code for the headline cells) agree with the hand derivative;
the fused primitives that keep the protocol near them are exact."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import backends
import problems
import witnesses
from bench.cells import WITNESS, Cell, build
from bench.check import TOLERANCES, check_cell, references, rho

from .support import require

HEADLINE = [(p, s, k) for p, s, k in witnesses.CELLS]
CASES = [(b, cell, dtype) for b in witnesses.BACKENDS for cell in HEADLINE for dtype in ("float64", "float32")]


@pytest.mark.parametrize("backend_name,headline,dtype", CASES, ids=[f"{b}-{'-'.join(c)}-{d}" for b, c, d in CASES])
def test_witness_agrees_with_the_hand_derivative(backend_name, headline, dtype):
    require(backend_name)
    problem, size, kind = headline
    cell = Cell(problem, size, backend_name, WITNESS, dtype, kind)
    tolerance = TOLERANCES[(dtype, "hand")]
    if kind == "solve":  # no reference but the hand-derived loop itself: NumPy's solve
        reference = build(Cell(problem, size, "numpy", "hand", dtype, kind))
        expected = reference.to_numpy(reference.call())
        built = build(cell)
        r, _ = rho(built.to_numpy(built.call()), expected)
        assert r <= tolerance, f"{cell.id}: rho {r:.2e} against NumPy's hand-derived solve"
        return
    row = check_cell(cell)
    assert row.ok, row
    hand = [c for c in row.checks if c.reference == "hand"]
    assert hand and hand[0].rho is not None and hand[0].rho <= tolerance
    assert set(references(problem, size, dtype, kind)) >= {"hand"}


def test_covers_exactly_the_headline_cells():
    expected = {
        (p, s, b, d, k)
        for p, s, k in [
            ("logistic_regression", "medium", "gradient"),
            ("xor_net", "article", "solve"),
            ("newton", "medium", "hessian"),
            ("kmeans", "small", "gradient"),
            ("linear_regression", "small", "solve"),
        ]
        for b in ("jax", "torch", "tensorflow")
        for d in ("float64", "float32")
    }
    found = set()
    for problem in problems.all_problems():
        for size in problem.sizes:
            for b in backends.NAMES:
                for d in ("float64", "float32"):
                    for k in problems.KINDS:
                        for variant in (WITNESS, *backends.variants(b)):
                            if witnesses.covers(Cell(problem.name, size, b, variant, d, k)):
                                found.add((problem.name, size, b, d, k))
    assert found == expected


def test_an_uncovered_cell_is_refused_in_one_line():
    with pytest.raises(ValueError, match="^no witness for logistic_regression-small-jax\\+witness-float64-gradient"):
        witnesses.build(Cell("logistic_regression", "small", "jax", WITNESS, "float64", "gradient"), None)


def test_importing_witnesses_imports_no_framework():
    code = (
        "import sys, witnesses; from bench.cells import Cell;"
        "witnesses.covers(Cell('kmeans', 'small', 'torch', 'witness', 'float64', 'gradient'));"
        "loaded = [m for m in ('jax', 'torch', 'tensorflow') if m in sys.modules];"
        "print(','.join(loaded)); sys.exit(1 if loaded else 0)"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False)
    assert proc.returncode == 0, f"frameworks imported: {proc.stdout.strip()} {proc.stderr[-500:]}"


# --- the primitives that keep the protocol near its witnesses -----------------------

EXTREMES = np.array([-800.0, -40.0, -37.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.0, 37.0, 41.0, 800.0])


def test_helpers_take_the_namespaces_fused_primitive_when_it_has_one():
    import types

    from problems.base import logsumexp, sigmoid, softplus

    fused = types.SimpleNamespace(
        sigmoid=lambda z: "sigmoid", softplus=lambda z: "softplus", logsumexp=lambda x, axis=None: ("logsumexp", axis)
    )
    assert (sigmoid(fused, 1.0), softplus(fused, 1.0), logsumexp(fused, 1.0, axis=0)) == (
        "sigmoid",
        "softplus",
        ("logsumexp", 0),
    )
    assert softplus(np, np.array([800.0]))[0] == 800.0  # NumPy has none: the stable formula


@pytest.mark.parametrize("name", backends.NAMES)
def test_primitives_are_exact_on_the_whole_real_line(name):
    from problems.base import logsumexp, sigmoid, softplus

    b = require(name)
    z = b.asarray(EXTREMES, "float64")
    exact_softplus = np.logaddexp(0.0, EXTREMES)
    exact_sigmoid = np.exp(-np.logaddexp(0.0, -EXTREMES))
    assert rho(b.to_numpy(softplus(b.xp, z)), exact_softplus)[0] <= 1e-15
    assert rho(b.to_numpy(sigmoid(b.xp, z)), exact_sigmoid)[0] <= 1e-15
    m = b.asarray(EXTREMES.reshape(1, -1) + np.array([[0.0], [1.0]]), "float64")
    expected = np.logaddexp.reduce(EXTREMES.reshape(1, -1) + np.array([[0.0], [1.0]]), axis=1)
    assert rho(b.to_numpy(logsumexp(b.xp, m, axis=1)), expected)[0] <= 1e-15
    assert rho(b.to_numpy(logsumexp(b.xp, z)), np.logaddexp.reduce(EXTREMES))[0] <= 1e-15
