"""GradBench's nested-derivative evals, particle and saddle: the verb they need, the reference, the checks.

The reference (NumPy's hand derivatives through GradBench's searches) meets GradBench's fixed answers;
``gradient_in`` keeps nested derivatives apart on every backend in all four orders; ``check`` and the
eval driver fail a 1% error in one order's output; the tool serves every order.
"""

from __future__ import annotations

import numpy as np
import pytest

import backends
import problems
from backends.base import Differentiable
from bench import check
from bench.cells import Cell
from bench.gradbench import evals
from bench.gradbench.tool import FUNCTIONS, MODULES, Tool
from problems import particle, saddle
from problems.nested import ORDERS, modes

from .support import require

AUTODIFF = ("jax", "torch", "tensorflow")


def _default_variant(name: str) -> str:
    info = backends.info(name)
    return info.variant("compiled" if info.can_compile else "eager").name


# --- the reference --------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", [particle.PROBLEM, saddle.PROBLEM], ids=["particle", "saddle"])
def test_the_reference_meets_gradbench_fixed_answer(problem):
    inst = problem.instance(problem.gradbench_sizes[0])
    out = problem.reference(inst)
    assert out.shape == problem.answer.shape
    np.testing.assert_allclose(out, problem.answer, rtol=1e-12, atol=0)


def test_particle_hand_derivatives_match_central_differences():
    inst = particle.PROBLEM.instance("w0")
    h = 1e-6
    for w in (0.0, 0.2, 1.0):
        value, (g,) = particle.cost_value_and_grad(np.array([w]), inst.data)
        up = particle.cost_value_and_grad(np.array([w + h]), inst.data)[0]
        down = particle.cost_value_and_grad(np.array([w - h]), inst.data)[0]
        assert g == pytest.approx((up - down) / (2 * h), rel=1e-5)
    data = {"charges": particle.charges(np.array([0.3]), inst.data)}
    x = np.array([1.0, 5.0])
    _, grad = particle.potential_value_and_grad(x, data)
    fd = [
        (particle.potential(np, x + e * h, data) - particle.potential(np, x - e * h, data)) / (2 * h) for e in np.eye(2)
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_orders_name_outer_then_inner_mode():
    assert [modes(o) for o in ORDERS] == [
        ("reverse", "reverse"),
        ("forward", "forward"),
        ("forward", "reverse"),
        ("reverse", "forward"),
    ]
    with pytest.raises(ValueError, match="unknown order 'rx'; choose from rr, ff, fr, rf"):
        modes("rx")


# --- the verb ----------------------------------------------------------------------------------------


def _inner(xp, y, data):  # x * y summed: its gradient in y is x, whichever x an outer derivative traces
    return xp.sum(data["x"] * y)


def _outer_with(grad_y):
    # f(x) = sum(x * grad_y(x + y)) at y = 1: grad_y is x, so f = sum(x * x), f' = 2x. A derivative
    # that confuses the inner perturbation with the outer one (Siskind and Pearlmutter's bug) adds x.
    def value(xp, x, data):
        return xp.sum(x * grad_y(data["y"], {"x": x}))

    return Differentiable(value, value_and_grad=lambda x, data: (float(np.sum(x * x)), 2 * x))


@pytest.mark.parametrize("name", ["numpy", *AUTODIFF])
@pytest.mark.parametrize("order", ORDERS)
def test_gradient_in_keeps_nested_derivatives_apart(name, order):
    require(name)
    b = backends.get(name, _default_variant(name))
    outer_mode, inner_mode = modes(order)
    inner = b.gradient_in(Differentiable(_inner, value_and_grad=lambda y, data: (0.0, data["x"])), inner_mode)
    outer = b.gradient_in(_outer_with(inner), outer_mode)
    x = np.array([0.5, -2.0])
    got = b.to_numpy(outer(b.asarray(x, "float64"), {"y": b.asarray(np.ones(2), "float64")}))
    np.testing.assert_allclose(got, 2 * x, rtol=1e-14)


@pytest.mark.parametrize("name", ["numpy", *AUTODIFF])
def test_gradient_in_refuses_an_unknown_mode(name):
    require(name)
    with pytest.raises(ValueError, match="unknown derivative mode 'sideways'; choose from forward, reverse"):
        backends.get(name).gradient_in(Differentiable(_inner), "sideways")


# --- check ------------------------------------------------------------------------------------------


def test_check_covers_every_order_on_every_backend_in_float64():
    # checked by default (python -m bench check), beside the problems with a loss, a gradient and a solve
    assert set(problems.NESTED_NAMES) == {"particle", "saddle"} <= set(problems.BUILT_IN) - set(problems.NAMES)
    cells = check.cells(list(backends.NAMES), ["particle", "saddle"], ["float64", "float32"])
    found = {(c.problem, c.backend, c.kind) for c in cells}
    assert found == {(p, b, k) for p in ("particle", "saddle") for b in backends.NAMES for k in ORDERS}
    assert {c.dtype for c in cells} == {"float64"} and {c.size for c in cells} == {"tiny"}
    assert all(c.variant == _default_variant(c.backend) for c in cells)


@pytest.mark.parametrize("name", AUTODIFF)
def test_every_framework_agrees_with_the_reference_on_saddle(name):
    require(name)
    for order in ("rr", "ff"):
        row = check.check_cell(Cell("saddle", "tiny", name, _default_variant(name), "float64", order))
        assert row.ok, row
        assert row.rel_error < 1e-12


def test_check_compares_with_gradbench_answer_at_its_workload():
    row = check.check_cell(Cell("saddle", "s1", "numpy", "hand", "float64", "rr"))
    assert row.ok and {c.reference for c in row.checks} == {"hand", "gradbench"}


def test_a_one_percent_error_in_one_order_fails_check(monkeypatch):
    problem = saddle.PROBLEM
    original = type(problem).solve_in

    def skewed(self, backend, order, size):
        run = original(self, backend, order, size)
        return (lambda params, data: run(params, data) * 1.01) if order == "fr" else run

    monkeypatch.setattr(type(problem), "solve_in", skewed)
    rows = {k: check.check_cell(Cell("saddle", "tiny", "numpy", "hand", "float64", k)) for k in ORDERS}
    assert [k for k, row in rows.items() if not row.ok] == ["fr"]
    assert rows["fr"].rel_error == pytest.approx(0.01, rel=1e-6)


# --- the tool and the eval driver -------------------------------------------------------------------------


def test_the_tool_serves_every_order_and_the_driver_validates_them():
    assert {"particle", "saddle"} <= set(MODULES) and FUNCTIONS["particle"] == FUNCTIONS["saddle"] == ORDERS
    tool = Tool(backends.get("numpy"))
    for module, size in (("particle", "w0"), ("saddle", "s1")):
        input = evals.workload(module, size)
        assert input == ({"w": 0.0} if module == "particle" else {"start": [1.0, 1.0]})  # GradBench's
        expect = evals.expected(module, "rr", input)
        assert np.ravel(expect).tolist() == problems.get(module).answer.tolist()
        reply = tool.evaluate(module, "ff", {**input, "min_runs": 1, "min_seconds": 0})
        assert reply["success"], reply
        assert not evals.mismatches(expect, reply["output"]) and not evals.nested_mismatches(expect, reply["output"])


def test_the_driver_fails_a_one_percent_error_gradbench_rule_lets_pass():
    answer = saddle.ANSWER.tolist()
    wrong = [a * 1.01 for a in answer]
    assert evals.mismatches(answer, wrong) == []  # GradBench's rule: within 1e-4 of an answer of 8e-6
    assert evals.nested_mismatches(answer, wrong)
    assert evals.nested_mismatches(particle.ANSWER[0], particle.ANSWER[0] * 1.01)


def test_another_start_is_checked_against_the_reference():
    expect = evals.expected("particle", "rr", {"w": 0.1})  # the searches with hand derivatives from w = 0.1
    assert expect != particle.ANSWER[0] and expect == pytest.approx(particle.ANSWER[0], abs=1e-5)


@pytest.mark.parametrize(
    "module, input, message",
    [
        ("particle", {"w": "zero"}, "particle's w is a finite number"),
        ("particle", {"w": True}, "particle's w is a finite number"),
        ("saddle", {"start": [1.0]}, "saddle's start is a list of two finite numbers"),
        ("saddle", {"start": [1.0, float("nan")]}, "saddle's start is a list of two finite numbers"),
    ],
)
def test_bad_input_is_one_line(module, input, message):
    reply = Tool(backends.get("numpy")).evaluate(module, "rr", input)
    assert reply == {"success": False, "error": message}


def test_the_runner_times_every_order_when_the_eval_is_named():
    from bench.runner.config import RunConfig
    from bench.runner.plan import make_plan

    specs = make_plan(RunConfig(backend=("numpy",), problem=("particle", "saddle"), size=("gradbench",)), [])
    cells = {(s.cell.problem, s.cell.size, s.cell.kind) for s in specs}
    assert cells == {(p, size, k) for p, size in (("particle", "w0"), ("saddle", "s1")) for k in ORDERS}
    default = make_plan(RunConfig(backend=("numpy",)), [])
    assert not {s.cell.kind for s in default} & set(ORDERS)  # the default run is unchanged
