"""The ``jacobian`` kind: the dense Jacobian of a problem's vector model, by each backend's forward mode.

A small problem with a hand Jacobian: every backend and variant agrees with it and with central
differences in both dtypes; a 1% error and a Jacobian of the wrong shape fail ``check``. (The
compressed, structured use of the kind is ba's: tests/test_gradbench_ba.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

import problems
from backends.base import Differentiable
from bench import check
from bench.cells import Cell
from problems.base import Problem

from . import skewed_backend  # noqa: F401 - registers the plugin backend


def quadratic_model(xp, params, data):
    (w,) = params
    return xp.stack([w[0] * w[1], xp.sin(w[0]), w[1] * w[1] * w[2], data["a"][0] * w[2]])


def quadratic_jacobian(w, data):
    return np.array(
        [[w[1], w[0], 0.0], [np.cos(w[0]), 0.0, 0.0], [0.0, 2 * w[1] * w[2], w[1] ** 2], [0.0, 0.0, data["a"][0]]],
        dtype=w.dtype,
    )


class DenseJacobian(Problem):
    name = "dense_jacobian_test"
    sizes = {"tiny": 3}
    check_size = "tiny"
    loss = Differentiable(lambda xp, params, data: xp.sum(quadratic_model(xp, params, data)))
    model = Differentiable(quadratic_model, jacobian=quadratic_jacobian)

    def make_data(self, rng, size):
        return {"a": np.array([1.5])}

    def init_params(self, rng, size, data):
        return (np.array([0.3, -1.2, 2.0]),)


@pytest.mark.slow  # torch.compile's first compilation in a process starts a Python process
def test_the_dense_jacobian_kind_on_every_backend(monkeypatch, backend_mode):
    backend, variant = backend_mode
    monkeypatch.setitem(problems._REGISTERED, DenseJacobian.name, DenseJacobian())
    assert "jacobian" in DenseJacobian().kinds()
    for dtype in ("float64", "float32"):
        row = check.check_cell(Cell(DenseJacobian.name, "tiny", backend.name, variant, dtype, "jacobian"))
        assert row.ok and {c.reference for c in row.checks} == {"hand", "finite-difference"}, row


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_dense_jacobian_fails_the_check(monkeypatch, dtype):
    monkeypatch.setitem(problems._REGISTERED, DenseJacobian.name, DenseJacobian())
    assert check.check_cell(Cell(DenseJacobian.name, "tiny", "skewed", "exact", dtype, "jacobian")).ok
    scaled = check.check_cell(Cell(DenseJacobian.name, "tiny", "skewed", "scaled", dtype, "jacobian"))
    assert not scaled.ok and scaled.rel_error == pytest.approx(0.01, rel=1e-3), scaled
    flat = check.check_cell(Cell(DenseJacobian.name, "tiny", "skewed", "reshaped", dtype, "jacobian"))
    assert not flat.ok and "shape (12,)" in (flat.error or ""), flat


def test_the_kind_is_checked_by_default_and_timed_when_named():
    from bench.runner.config import DEFAULT_KINDS

    assert "jacobian" in problems.KINDS and "jacobian" in check.CHECK_KINDS and "jacobian" not in DEFAULT_KINDS
    assert "jacobian" not in problems.get("ode").kinds()  # a model without a hand Jacobian: no such kind
