"""GradBench's ``particle``: a charged particle steered through the origin, nested derivatives.

Two unit charges sit at (10, 10 - w) and (10, 0); a unit particle starts at
(0, 8) with velocity (0.75, 0) and moves under the force ``-grad_x p(x; w)``,
``p(x; w) = sum_c 1 / |x - c|``. Naive Euler steps of 0.1 run while the next
position stays above the x axis; the crossing is then found by linear
interpolation, ``t_f = -x_1 / xdot_1``, and the cost is ``x_0(t_f)^2``. GradBench's
gradient descent (:func:`problems.nested.argmin`) minimises it over w from
w = 0, GradBench's one workload, whose answer it checks: w = 0.2071918746486116.

The inner derivative is the gradient of p in x, the force reversed (its mode is an
order's second letter); the outer one is the cost's derivative in w through
every Euler step, inner derivatives included (the first letter).

Hand derivatives, in NumPy: ``grad_x p = sum_c -(x - c) / r^3``; the cost's
derivative carries the tangent of (x, xdot) in w through the steps with that
gradient's own tangent, ``sum_c -(I - 3 u u^T) (dx - dc) / r^3`` (u = (x - c)/r,
dc = (0, -1) for the first charge), and through the interpolation.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .nested import NestedProblem, argmin, modes

DT = 0.1  #: Euler's time step
START = np.array([0.0, 8.0])  #: the particle's position at t = 0
VELOCITY = np.array([0.75, 0.0])  #: and its velocity
#: the charges are at BASE + w * SHIFT: (10, 10 - w) and (10, 0)
BASE = np.array([[10.0, 10.0], [10.0, 0.0]])
SHIFT = np.array([[0.0, -1.0], [0.0, 0.0]])
#: ``tiny``: the particle starts lower, already falling: nine Euler steps instead of 355
TINY_START, TINY_VELOCITY = np.array([0.0, 1.0]), np.array([1.5, -1.0])
ANSWER = np.array([0.2071918746486116])  #: GradBench's answer from w = 0 (its particle eval)


def charges(w, data):
    """The two charges' positions, one a row, for w of shape (1,)."""
    return data["base"] + w * data["shift"]


def potential(xp, x, data):
    """``p(x) = sum_c 1 / |x - c|`` for the charges in ``data["charges"]``."""
    d = x - data["charges"]
    return xp.sum(1.0 / xp.sqrt(xp.sum(d * d, axis=1)))


def grad_potential(x, data):
    d = x - data["charges"]
    r = np.sqrt(np.sum(d * d, axis=1))
    return np.sum(-d / r[:, None] ** 3, axis=0)


def potential_value_and_grad(x, data):
    return potential(np, x, data), grad_potential(x, data)


POTENTIAL = Differentiable(potential, value_and_grad=potential_value_and_grad)


def cost(xp, grad_p, w, data):
    """``x_0(t_f)^2`` after Euler's steps under the force ``-grad_p`` (GradBench's ``naive_euler``)."""
    inner = {"charges": charges(w, data)}
    x, xdot = data["start"], data["velocity"]
    while True:
        x_new = x + DT * xdot
        if not bool(x_new[1] > 0):
            break
        xddot = -grad_p(x, inner)
        x, xdot = x_new, xdot + DT * xddot
    t_f = -x[1] / xdot[1]
    crossing = x[0] + t_f * xdot[0]
    return crossing * crossing


def cost_value_and_grad(w, data):
    """The cost and its exact derivative in w: the tangent of (x, xdot) carried through every step."""
    cs = charges(w, data)
    dcs = data["shift"]  # d charges / d w
    x, xdot = data["start"], data["velocity"]
    dx, dxdot = np.zeros(2), np.zeros(2)
    while True:
        x_new = x + DT * xdot
        if not x_new[1] > 0:
            break
        d, dd = x - cs, dx - dcs  # one row per charge
        r = np.sqrt(np.sum(d * d, axis=1))[:, None]
        u = d / r
        # grad p = sum_c -d / r^3; its tangent sum_c -(dd - 3 u (u . dd)) / r^3
        dgrad = np.sum(-(dd - 3 * u * np.sum(u * dd, axis=1, keepdims=True)) / r**3, axis=0)
        xddot, dxddot = -grad_potential(x, {"charges": cs}), -dgrad
        x, dx = x_new, dx + DT * dxdot
        xdot, dxdot = xdot + DT * xddot, dxdot + DT * dxddot
    t_f = -x[1] / xdot[1]
    dt_f = -dx[1] / xdot[1] + x[1] * dxdot[1] / xdot[1] ** 2
    crossing = x[0] + t_f * xdot[0]
    dcrossing = dx[0] + dt_f * xdot[0] + t_f * dxdot[0]
    return crossing * crossing, np.array([2 * crossing * dcrossing])


class Particle(NestedProblem):
    name = "particle"
    description = "GradBench's particle: argmin over w of Euler's path under the charges' force (nested derivatives)"
    sizes = {"tiny": 1, "w0": 1}
    check_size = "tiny"
    gradbench_sizes = ("w0",)
    answer = ANSWER

    def init_params(self, rng, size, data):
        return (np.zeros(1),)  # GradBench's w = 0

    def make_data(self, rng, size):
        start, velocity = (TINY_START, TINY_VELOCITY) if size.label == "tiny" else (START, VELOCITY)
        return {"base": BASE, "shift": SHIFT, "start": start, "velocity": velocity}

    def solve_in(self, backend, order, size):
        outer_mode, inner_mode = modes(order)
        xp, grad_p = backend.xp, backend.gradient_in(POTENTIAL, inner_mode)
        outer = backend.gradient_in(self.cost_for(grad_p), outer_mode)
        rate = self.rate(size)

        def run(params, data):
            (w,) = params
            return argmin(xp, lambda w: cost(xp, grad_p, w, data), lambda w: outer(w, data), w, rate)

        return run

    @staticmethod
    def cost_for(grad_p) -> Differentiable:
        """The cost of w with this force, as a function of w (and its hand derivative)."""
        return Differentiable(lambda xp, w, data: cost(xp, grad_p, w, data), value_and_grad=cost_value_and_grad)


PROBLEM = Particle()
