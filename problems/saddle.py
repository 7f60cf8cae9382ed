"""GradBench's ``saddle``: a saddle point by nested gradient descent.

``f(p1, p2) = (p1_0^2 + p1_1^2) - (p2_0^2 + p2_1^2)``. From GradBench's start
s = (1, 1), the eval finds ``r1 = argmin_p1 max_p2 f(p1, p2)`` and then
``r2 = argmax_p2 f(r1, p2)``, every search GradBench's gradient descent
(:func:`problems.nested.argmin`) started from s, and answers (r1, r2): four
numbers, each 8.246324826140356e-06, which GradBench checks.

The inner maximum is a search of its own inside the outer cost: the inner
derivative (an order's second letter) is ``f``'s gradient in p2, the outer one
(the first letter) is the cost's gradient in p1 taken through the whole inner
search, inner derivatives included. The final ``r2`` search uses the outer mode,
as GradBench's README asks.

Hand derivatives, in NumPy: ``f``'s gradient in p2 is ``-2 p2``; the inner
search's path never depends on p1 (its gradient does not), so the cost's exact
gradient in p1 is ``2 p1``.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .nested import NestedProblem, argmax, argmin, modes

START = np.array([1.0, 1.0])  #: GradBench's start
ANSWER = np.full(4, 8.246324826140356e-06)  #: GradBench's answer from (1, 1): r1 then r2


def f(xp, p1, p2):
    return xp.sum(p1 * p1) - xp.sum(p2 * p2)


def inner_value(xp, p2, data):
    """f as a function of p2, p1 fixed (``data["p1"]``)."""
    return f(xp, data["p1"], p2)


INNER = Differentiable(inner_value, value_and_grad=lambda p2, data: (inner_value(np, p2, data), -2 * p2))


def best(xp, grad_inner, p1, start, rate):
    """``max_p2 f(p1, p2)`` as GradBench's search finds it from ``start``."""
    data = {"p1": p1}
    p2 = argmax(xp, lambda p2: inner_value(xp, p2, data), lambda p2: grad_inner(p2, data), start, rate)
    return inner_value(xp, p2, data)


def outer_value_and_grad(p1, data):
    return best(np, lambda p2, inner: -2 * p2, p1, data["start"], data["rate"]), 2 * p1


class Saddle(NestedProblem):
    name = "saddle"
    description = "GradBench's saddle: min over p1 of max over p2 of a saddle, by nested gradient descent"
    sizes = {"tiny": 1, "s1": 1}
    check_size = "tiny"
    gradbench_sizes = ("s1",)
    answer = ANSWER

    def init_params(self, rng, size, data):
        return (START.copy(),)

    def solve_in(self, backend, order, size):
        outer_mode, inner_mode = modes(order)
        rate = self.rate(size)
        xp, grad_inner = backend.xp, backend.gradient_in(INNER, inner_mode)
        cost = Differentiable(
            lambda xp, p1, data: best(xp, grad_inner, p1, data["start"], data["rate"]),
            value_and_grad=outer_value_and_grad,
        )
        grad_cost, grad_final = backend.gradient_in(cost, outer_mode), backend.gradient_in(INNER, outer_mode)

        def run(params, data):
            (start,) = params
            cost_data = {"start": start, "rate": rate}
            r1 = argmin(xp, lambda p1: cost.value(xp, p1, cost_data), lambda p1: grad_cost(p1, cost_data), start, rate)
            final = {"p1": r1}
            r2 = argmax(xp, lambda p2: inner_value(xp, p2, final), lambda p2: grad_final(p2, final), start, rate)
            return xp.concat([r1, r2])

        return run


PROBLEM = Saddle()
