"""GradBench's workloads as problems, and the checks that catch what GradBench's miss.

GradBench accepts an output when every number is within |x - y| / max(1, |x| + |y|)
<= 1e-4 of its reference. An lse gradient's entries are about 1/n, so at n =
1,280,000 a gradient 1% off (or all zero) passes; ode's requested gradient (of the
last output) is exactly zero on its default workloads, so a tool that answers
zeros passes. The agreement check (bench/check.py) must fail both.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import problems
from bench import check
from bench.cells import Cell, build
from problems import gmm, kmeans, lse, ode
from problems.base import flatten

from .support import require

GRADBENCH_RULE = 1e-4  #: GradBench's tolerance on rho
BIG = "n1280000"  #: GradBench's largest lse workload


def hand_references(problem_name, size, dtype, kind):
    """``check.references`` where finite differences over every entry are out of reach
    (two objectives per entry: 2.56 million at n = 1,280,000): the hand derivative only."""
    inst = problems.get(problem_name).instance(size)
    assert kind == "gradient" and dtype == "float64"
    _, grads = inst.problem.loss.value_and_grad(inst.params, inst.data)
    return {"hand": flatten(grads)}


def scaled(verb, factor):
    """A backend's ``value_and_grad`` verb whose gradients come out multiplied by ``factor``."""

    def make(f):
        value_and_grad = verb(f)

        def wrong(params, data):
            value, grads = value_and_grad(params, data)
            return value, tuple(g * factor for g in grads)

        return wrong

    return make


# --- lse: a 1% error (and a zero gradient) at n = 1,280,000 ------------------------------------


@pytest.fixture
def big_lse_cell(monkeypatch):
    require("jax", "jit")
    monkeypatch.setattr(check, "references", hand_references)
    return Cell("lse", BIG, "jax", "jit", "float64", "gradient")


def test_the_right_lse_gradient_passes_at_1_28_million(big_lse_cell):
    row = check.check_cell(big_lse_cell)
    assert row.ok, row
    assert [c.reference for c in row.checks] == ["hand"]


@pytest.mark.parametrize("factor", [1.01, 0.0], ids=["one-percent-off", "zero"])
def test_a_wrong_lse_gradient_fails_the_check_where_gradbench_passes_it(big_lse_cell, monkeypatch, factor):
    backend = require("jax", "jit")
    monkeypatch.setattr(backend, "value_and_grad", scaled(backend.value_and_grad, factor))
    row = check.check_cell(big_lse_cell)
    assert not row.ok and row.reference == "hand"
    assert row.rho > 100 * check.TOLERANCES[("float64", "hand")]
    assert row.rho <= GRADBENCH_RULE  # GradBench's own rule would have accepted this gradient


def test_directional_differences_catch_the_one_percent_error_without_the_hand_code(big_lse_cell, monkeypatch):
    """Independent of the hand derivative: d/dt lse(x + t v) by central differences, for
    v = ones (exactly 1: lse(x + t) = lse(x) + t) and a random v."""
    backend = require("jax", "jit")
    inst = problems.get("lse").instance(BIG)
    (x,) = inst.params

    def value(w):
        return float(lse.lse(np, (w,), {}))

    directions = [np.ones_like(x), np.random.default_rng(3).standard_normal(x.size)]
    differences = [check._central_directional(value, x, v) for v in directions]
    assert differences[0] == pytest.approx(1.0, abs=1e-8)

    def directional_rho(built):
        g = built.to_numpy(built.call())
        return max(check.rho(g @ v, fd)[0] for v, fd in zip(directions, differences))

    tolerance = check.TOLERANCES[("float64", "finite-difference")]
    assert directional_rho(build(big_lse_cell)) <= tolerance
    monkeypatch.setattr(backend, "value_and_grad", scaled(backend.value_and_grad, 1.01))
    assert directional_rho(build(big_lse_cell)) > 100 * tolerance


# --- ode: GradBench's zero gradient, and ours ---------------------------------------------------


def test_gradbenchs_ode_gradient_is_exactly_zero_on_its_workloads_but_ours_is_not():
    """y_{n-1} after s RK4 steps is zero for n > 4s: so is its gradient, whatever a tool computes."""
    problem = problems.get("ode")
    inst = problem.instance("n1000-s1")
    last = np.zeros(inst.n)
    last[-1] = 1.0
    _, (g,) = ode.rk4_vjp(inst.params, last, inst.data)
    assert not np.any(g)  # a tool answering zeros passes GradBench's check here
    _, (ours,) = problem.loss.value_and_grad(inst.params, inst.data)
    assert np.count_nonzero(ours) >= 4 and np.max(np.abs(ours)) > 0.1


@pytest.mark.parametrize("kind", ["gradient", "vjp"])
def test_a_zero_ode_derivative_fails_the_check(monkeypatch, kind):
    backend = require("jax")
    if kind == "gradient":
        monkeypatch.setattr(backend, "value_and_grad", scaled(backend.value_and_grad, 0.0))
    else:
        vjp = backend.vjp

        def zero_vjp(f):
            inner = vjp(f)

            def zero(x, u, data):
                y, g = inner(x, u, data)
                return y, tuple(0 * gi for gi in g)

            return zero

        monkeypatch.setattr(backend, "vjp", zero_vjp)
    row = check.check_cell(Cell("ode", "tiny", "jax", "eager", "float64", kind))
    assert not row.ok
    assert {c.reference for c in row.checks if not c.ok} == {"hand", "finite-difference"}


def test_the_ode_check_runs_on_an_output_whose_gradient_is_not_zero(backend):
    """The agreement check's ode reference is nowhere zero, and every backend matches it;
    at the check size (n = 12 <= 4s) even GradBench's last output has a full gradient."""
    refs = check.references("ode", "tiny", "float64", "gradient")
    assert np.all(refs["hand"] != 0)
    assert check.rho(refs["hand"], refs["finite-difference"])[0] <= check.TOLERANCES[("float64", "finite-difference")]
    row = check.check_cell(Cell("ode", "tiny", backend.name, "eager", "float64", "gradient"))
    assert row.ok, row

    inst = problems.get("ode").instance("tiny")
    last = np.zeros(inst.n)
    last[-1] = 1.0
    _, (expected,) = ode.rk4_vjp(inst.params, last, inst.data)
    assert np.all(expected != 0)

    def convert(tree):
        return {k: backend.asarray(v, "float64") for k, v in tree.items()}

    params = tuple(backend.asarray(p, "float64") for p in inst.params)
    _, (g,) = backend.vjp(problems.get("ode").model)(params, backend.asarray(last, "float64"), convert(inst.data))
    assert check.rho(backend.to_numpy(g), expected)[0] <= check.TOLERANCES[("float64", "hand")]


# --- gmm: the objective is GradBench's ----------------------------------------------------------


def naive_log_posterior(x, alpha, mu, q, l, m, gamma):
    """evals/gmm/README.md transcribed directly: Q_k filled entry by entry, Gaussian
    densities with precision Q_k^T Q_k, the Wishart density of each precision matrix."""
    n, d = x.shape
    k = alpha.size
    phi = np.exp(alpha) / np.sum(np.exp(alpha))
    precisions = []
    for c in range(k):
        factor, entry = np.zeros((d, d)), 0
        for j in range(d):
            factor[j, j] = math.exp(q[c, j])
            for i in range(j + 1, d):
                factor[i, j] = l[c, entry]
                entry += 1
        precisions.append(factor.T @ factor)
    log_likelihood = 0.0
    for i in range(n):
        density = 0.0
        for c in range(k):
            r = x[i] - mu[c]
            density += (
                phi[c]
                * math.exp(-0.5 * r @ precisions[c] @ r)
                / math.sqrt((2 * math.pi) ** d / np.linalg.det(precisions[c]))
            )
        log_likelihood += math.log(density)
    dof, v = d + m + 1, np.eye(d) / gamma**2
    log_gamma_d = 0.25 * d * (d - 1) * math.log(math.pi) + sum(
        math.lgamma(dof / 2 + (1 - j) / 2) for j in range(1, d + 1)
    )
    log_prior = sum(
        (dof - d - 1) / 2 * math.log(np.linalg.det(p))
        - np.trace(np.linalg.inv(v) @ p) / 2
        - dof * d / 2 * math.log(2)
        - dof / 2 * math.log(np.linalg.det(v))
        - log_gamma_d
        for p in precisions
    )
    return log_likelihood + log_prior


@pytest.mark.parametrize("m, gamma", [(0, 1.0), (2, 0.7)])
def test_gmm_objective_is_gradbenchs_definition(m, gamma):
    data, params = gmm.make_input(np.random.default_rng(5), 10, 4, 3, m=m, gamma=gamma)
    params = (
        params[0],
        params[1],
        0.3 * params[2],
        0.5 * params[3],
    )  # moderate precisions: no underflow in the naive form
    ours = float(gmm.log_posterior(np, params, data))
    assert ours == pytest.approx(naive_log_posterior(data["x"], *params, m, gamma), rel=1e-10)
    value, _ = gmm.log_posterior_value_and_grad(params, data)
    assert value == pytest.approx(ours, rel=1e-13)


# --- inputs: GradBench's own numbers, chosen by the size's label --------------------------------


def gradbench_draws(*shapes):
    """What GradBench's lse, llsq, kmeans and ode evals draw: one seed, then rand() per workload."""
    legacy = np.random.RandomState(31337)
    return [legacy.rand(*shape) for shape in shapes]


def test_named_sizes_reproduce_gradbenchs_inputs():
    first, second = gradbench_draws((2500,), (5000,))
    np.testing.assert_array_equal(problems.get("lse").instance("n2500").params[0], first)
    np.testing.assert_array_equal(problems.get("lse").instance("n5000").params[0], second)

    first, second = gradbench_draws((128,), (128,))
    np.testing.assert_array_equal(problems.get("llsq").instance("n32").params[0], second)
    t = problems.get("llsq").instance("n16").data["t"]
    np.testing.assert_array_equal(t, [-1 + i * 2 / 15 for i in range(16)])

    a, b, c = gradbench_draws((1000,), (1000,), (10000,))  # (n, s) sorted by n s: (1000, 1), (1000, 10), (10000, 1)
    ode_problem = problems.get("ode")
    for label, x, s in (("n1000-s1", a, 1), ("n1000-s10", b, 10), ("n10000-s1", c, 1)):
        inst = ode_problem.instance(label)
        np.testing.assert_array_equal(inst.params[0], x)
        assert inst.data["h"].size == s and np.all(inst.data["h"] == 2.0 / s)

    a, b = gradbench_draws((1000, 8), (1000, 16))  # (k, n, d) sorted by k n d: (10, 1000, 8), (10, 1000, 16)
    inst = problems.get("kmeans").instance("k10-n1000-d16")
    np.testing.assert_array_equal(inst.data["x"], b)
    np.testing.assert_array_equal(inst.params[0], b[-10:])

    rng = np.random.default_rng(seed=31337)  # GradBench's gmm generate(), in its loop form
    x = [rng.normal(size=2) for _ in range(1000)]
    alpha, mu = rng.normal(size=5), [rng.uniform(size=2) for _ in range(5)]
    q, l = [rng.normal(size=2) for _ in range(5)], [rng.normal(size=1) for _ in range(5)]
    inst = problems.get("gmm").instance("d2-k5")
    np.testing.assert_array_equal(inst.data["x"], np.array(x))
    for ours, theirs in zip(inst.params, (alpha, mu, q, l)):
        np.testing.assert_array_equal(ours, np.array(theirs))


def test_the_data_is_chosen_by_the_size_label_not_by_its_value():
    lse_problem = problems.get("lse")
    assert not np.array_equal(lse_problem.instance(2500).params[0], lse_problem.instance("n2500").params[0])
    g = problems.get("gmm")
    assert g.instance(1000).params[1].shape == (5, 10)  # the documented default shape, d = 10, k = 5
    assert g.instance("d2-k5").params[1].shape == (5, 2) and g.instance("d64-k100").n == 1000
    assert g.instance("tiny").params[3].shape == (3, 6)
    o = problems.get("ode")
    assert o.instance(1000).data["h"].size == ode.DEFAULT_STEPS and o.instance("n1000-s100").data["h"].size == 100
    k = problems.get("kmeans")
    assert k.instance(1000).params[0].shape == (8, 2) and k.instance("k1000-n10000-d16").params[0].shape == (1000, 16)


def test_check_and_default_sizes_stay_small():
    for name in ("lse", "llsq", "gmm", "ode"):
        problem = problems.get(name)
        assert problem.instance(problem.check_size).n_params <= 200, name
        assert problem.default_sizes == ("small",)
        assert problem.resolve_size("small").n <= 2_500


# --- k-means: GradBench's cost and dir through the backends ----------------------------------------


def test_kmeans_cost_and_direction_are_gradbenchs(backend):
    inst = problems.get("kmeans").instance("k10-n1000-d8")
    x, (mu,) = inst.data["x"], inst.params
    nearest = np.argmin(((x[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2), axis=1)
    brute_cost = float(np.sum((x - mu[nearest]) ** 2))
    means = np.stack([x[nearest == j].mean(axis=0) for j in range(mu.shape[0])])

    params, data = (backend.asarray(mu, "float64"),), {"x": backend.asarray(x, "float64")}
    cost = backend.to_numpy(kmeans.nearest_cost(backend.xp, params, data))
    direction = backend.to_numpy(problems.get("kmeans").direction(backend, mu.shape)(params, data))
    assert check.rho(cost, brute_cost)[0] <= 1e-12
    assert check.rho(direction, mu - means)[0] <= 1e-12
