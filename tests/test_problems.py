"""The article's algorithms: each converges, and reproduces the article's own code
(and its printed results where its code produces them) on every backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backends
import problems
from bench.cells import Cell, build
from bench.check import rho
from problems import finite_difference, newton, quadratic
from problems.base import Size

from .support import require


def solve(backend_name, mode, problem_name, size="article", iterations=None, dtype="float64"):
    """Final parameters (flat) of the problem's solve; ``iterations`` shortens it (eager loops are slow)."""
    built = build(Cell(problem_name, size, backend_name, mode, dtype, "solve"), iterations=iterations)
    return built.to_numpy(built.call()), built.inst


def article(problem_name, iterations=None):
    problem = problems.get(problem_name)
    inst = problem.instance("article")
    if iterations is not None:
        inst.iterations = iterations
    return np.concatenate([np.ravel(p) for p in problem.article_solve(inst)])


# --- reproductions of the article --------------------------------------------------


def test_linear_regression_prints_the_articles_parameters(backend_mode):
    backend, mode = backend_mode
    theta, _ = solve(backend.name, mode, "linear_regression")
    # the article prints: Optimized Parameters: [0.11071521 0.95129619]
    np.testing.assert_allclose(theta, [0.11071521, 0.95129619], atol=5e-9)


@pytest.mark.parametrize("problem_name", ["xor_net", "kmeans", "linear_regression"])
def test_compiled_solve_matches_the_articles_loop(backend, problem_name):
    mode = "compiled" if backend.can_compile else "eager"
    out, _ = solve(backend.name, mode, problem_name)
    r, where = rho(out, article(problem_name))
    assert r < 1e-10, f"rho {r:.2e} at {where}"


@pytest.mark.parametrize("problem_name", ["xor_net", "kmeans"])
def test_eager_solve_matches_the_articles_loop_over_fewer_steps(backend, problem_name):
    out, _ = solve(backend.name, "eager", problem_name, iterations=200)
    r, where = rho(out, article(problem_name, iterations=200))
    assert r < 1e-10, f"rho {r:.2e} at {where}"


def test_xor_network_learns_xor():
    # the article's network and seed: after 10,000 epochs its outputs approach XOR
    problem = problems.get("xor_net")
    inst = problem.instance("article")
    w1, w2 = problem.article_solve(inst)
    out = problem.model.value(np, (w1, w2), inst.data)
    assert problem.loss.value(np, (w1, w2), inst.data) < problem.loss.value(np, inst.params, inst.data)
    assert out.shape == (4, 1) and np.all((out > 0) & (out < 1))


def test_newton_1d_reaches_the_articles_minimum(backend):
    w, steps = newton.newton_1d(backend)
    assert w == pytest.approx(2.0, abs=1e-12)  # the article: "Optimal value of w: 2.0"
    assert steps == 1  # one Newton step is exact on a quadratic


def test_critical_points_are_classified_by_the_hessian(backend):
    cubic = newton.classify_critical_points(backend, *newton.EXAMPLES["x^3-3x^2+2"])
    assert [(r["point"], r["kind"]) for r in cubic] == [([0.0], "maximum"), ([2.0], "minimum")]
    saddle = newton.classify_critical_points(backend, *newton.EXAMPLES["x^2-y^2"])
    assert [(r["point"], r["kind"]) for r in saddle] == [([0.0, 0.0], "saddle")]


def test_learning_rate_sweep_classifies_without_overflow_warnings(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        records = {r["rate"]: r for r in quadratic.lr_sweep(backend)}
    assert records[0.1]["status"] == "converged" and records[0.1]["final_w"] == pytest.approx(2.0, abs=1e-6)
    assert records[0.5]["steps_to_tol"] == 1  # rate 1/L'' is Newton's step
    assert records[0.001]["status"] == "slow" and records[0.01]["status"] == "slow"
    assert records[1.0]["status"] == "diverged"  # oscillates between 0 and 4 forever
    assert records[1.1]["status"] == "diverged" and records[10.0]["status"] == "diverged"
    assert all(np.all(np.isfinite(r["history"])) for r in records.values())


# --- finite differences -------------------------------------------------------------


def test_articles_forward_difference_snippet():
    # The article's code, forward difference of x^2 at 3 with h = 1e-5, gives 6 + h:
    # 6.00001 up to round-off. (The article prints 6.000000000039306, which its
    # forward-difference code cannot produce; that value is what a central
    # difference gives.)
    assert finite_difference.article_forward_difference() == pytest.approx(6.00001, abs=1e-9)
    central = (3.00001**2 - 2.99999**2) / 2e-5
    assert abs(central - 6.0) < 1e-9


def test_step_sweep_shows_truncation_then_round_off():
    records = finite_difference.step_sweep()
    best = finite_difference.best_steps(records)
    for name in ("x^3-3x^2+2", "x^2 sin(x)", "x^2/e^x", "sin(x)^2"):
        h_fwd, err_fwd = best[(name, "forward")]
        h_ctr, err_ctr = best[(name, "central")]
        assert 1e-10 <= h_fwd <= 1e-6, (name, h_fwd)  # near sqrt(eps) ~ 1.5e-8
        assert 1e-8 <= h_ctr <= 1e-3, (name, h_ctr)  # near cbrt(eps) ~ 6e-6
        assert err_ctr < err_fwd
        errors = {r["h"]: r["error"] for r in records if r["function"] == name and r["method"] == "central"}
        assert errors[1e-1] > 10 * err_ctr  # truncation dominates at large h
        assert errors[1e-14] > 10 * err_ctr  # round-off dominates at tiny h


@pytest.mark.parametrize("name", [b for b in backends.NAMES if backends.info(b).has_autodiff])
def test_autodiff_matches_sympy_exactly_where_differences_cannot(name):
    """Every autodiff backend (NumPy's derivatives are the hand ones, checked in the agreement matrix)."""
    backend = require(name)
    records = [r for r in finite_difference.step_sweep(backend=backend) if r["method"] == "autodiff"]
    assert len(records) == len(finite_difference.FUNCTIONS)
    assert max(r["error"] for r in records) < 1e-13


# --- convergence at larger sizes ----------------------------------------------------


@pytest.mark.parametrize("problem_name", [n for n in problems.NAMES if "solve" in problems.get(n).kinds()])
def test_solve_decreases_the_loss_and_backends_agree(problem_name, backend_mode):
    backend, mode = backend_mode
    problem = problems.get(problem_name)
    out, inst = solve(backend.name, mode, problem_name, size="small")
    reference, _ = solve("numpy", "eager", problem_name, size="small")
    from problems.base import unflatten

    before = problem.progress(inst.params, inst.data)
    after = problem.progress(unflatten(np, out, inst.shapes), inst.data)
    assert np.isfinite(after) and after < before
    r, where = rho(out, reference)
    assert r < 1e-8, f"{backend.name} {mode}: rho {r:.2e} against numpy at {where}"


def test_newton_converges_quadratically():
    problem = problems.get("newton")
    out, inst = solve("numpy", "eager", "newton", size="small")
    from problems.base import unflatten

    _, (g,) = problem.loss.value_and_grad(unflatten(np, out, inst.shapes), inst.data)
    assert np.linalg.norm(g) < 1e-10


def test_sizes_accept_names_and_integers_and_refuse_nonsense():
    problem = problems.get("logistic_regression")
    assert problem.resolve_size("small") == Size("small", 1000)
    assert problem.resolve_size(250) == Size("250", 250)
    assert problem.instance(250).data["x"].shape[0] == 250
    for bad in ("0", "-5", "1.5", "lots", str(problem.max_n + 1)):
        with pytest.raises(problems.SizeError):
            problem.resolve_size(bad)


def test_the_articles_data_is_chosen_by_the_size_name_not_by_its_value():
    lr = problems.get("linear_regression")
    article, three = lr.instance("article"), lr.instance(3)
    assert article.article and not three.article
    np.testing.assert_array_equal(article.data["y"], [1.0, 2.0, 3.0])
    assert three.data["x"].shape[0] == 3 and not np.array_equal(three.data["y"], [1.0, 2.0, 3.0])
    assert (article.iterations, three.iterations) == (1000, 100)
    xor = problems.get("xor_net")
    assert xor.instance("article").data["x"].shape == (4, 2)
    assert xor.instance(2).data["x"].shape == (128, 2)
