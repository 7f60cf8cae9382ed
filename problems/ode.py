"""GradBench's ``ode`` (cmpad's ``an_ode``): s Runge-Kutta 4 steps, differentiated.

The ODE ``y_0' = x_0``, ``y_i' = x_i y_{i-1}`` (i > 0) from ``y(0) = 0`` is
integrated over [0, 2] by s classical RK4 steps of size h = 2/s. The model is
the final state y (n outputs); the derivative is that of the RK4 computation
itself, not of the ODE's closed-form solution.

GradBench asks for the gradient of the *last* output y_{n-1}. Each RK4 step
carries information at most four places down the chain, so y_{n-1}, and with
it that gradient, is exactly zero whenever n > 4s: on every one of GradBench's
default workloads. A check against zero cannot tell a right derivative from a
missing one. Our loss is therefore a fixed random weighting of all outputs,
``sum_i w_i y_i`` (w in the data), whose gradient is not zero; the model y gives
jvp and vjp, and GradBench's own gradient is the vjp with the last unit vector
(what ``python -m bench gradbench`` answers).

Hand derivatives, in NumPy: the tangent carried through every stage (jvp) and
the adjoint of the s steps (vjp and the gradient), which stores y at the start
of each step and recomputes its four stages on the way back.

The step sizes are data (``h``, one per step, all 2/s): s is their count, fixed
by the size. Sizes ``n1000-s1`` ... ``n100000-s100`` are GradBench's nine
workloads with its own x (NumPy's legacy generator seeded with 31337,
``rand(n)`` per workload in its order); ``tiny`` has n = 12, s = 3 (the last
output's gradient is not zero there, and the compilers unroll only three
steps); ``small``, ``medium``, ``large`` and integer sizes use s = 10 and x
uniform in [0, 1) from the run's seeded generator.

``solve``: gradient descent on the weighted sum. It has no minimiser (it is
unbounded below); a few small steps are a loop to time, each lowering it.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem
from .lse import gradbench_uniform

T_END = 2.0  #: the integration interval is [0, T_END]
DEFAULT_STEPS = 10  #: s for every size that is not one of GradBench's workloads
#: GradBench's ode workloads (n, s), in the order its eval draws x (sorted by n * s)
GRADBENCH_WORKLOADS = tuple(
    sorted(((n, s) for n in (1_000, 10_000, 100_000) for s in (1, 10, 100)), key=lambda v: v[0] * v[1])
)
GRADBENCH_SIZES = {f"n{n}-s{s}": i for i, (n, s) in enumerate(GRADBENCH_WORKLOADS)}
#: s of each named size; any other size has DEFAULT_STEPS
STEPS = {"tiny": 3, **{label: GRADBENCH_WORKLOADS[i][1] for label, i in GRADBENCH_SIZES.items()}}
SIZES = {
    "tiny": 12,
    "small": 1_000,
    "medium": 10_000,
    "large": 100_000,
    **{label: GRADBENCH_WORKLOADS[i][0] for label, i in GRADBENCH_SIZES.items()},
}


def step_sizes(s: int) -> np.ndarray:
    return np.full(s, T_END / s)


# --- the computation, written once ----------------------------------------------------


def shifted(xp, y):
    """``(1, y_0, ..., y_{n-2})``: what each x_i multiplies on the right-hand side."""
    return xp.concat([xp.ones_like(y[:1]), y[:-1]])


def rhs(xp, x, y):
    return x * shifted(xp, y)


def repeat(xp, n: int, body, state):
    """``state = body(i, state)`` for i = 0 .. n-1. Through the namespace's own loop where
    it offers one (``xp.fori_loop(lower, upper, body, state)``, a capability like the
    primitives of ``backends.base.PRIMITIVES``: a compiler keeps it one loop), else in
    Python, which a tracing compiler unrolls (its compile time then grows faster than n)."""
    loop = getattr(xp, "fori_loop", None)
    if loop is not None:
        return loop(0, n, body, state)
    for i in range(n):
        state = body(i, state)
    return state


def rk4(xp, params, data):
    """y after one RK4 step per entry of ``data["h"]``, from y = 0."""
    (x,) = params
    steps = data["h"]

    def step(i, y):
        h = steps[i]
        k1 = rhs(xp, x, y)
        k2 = rhs(xp, x, y + h / 2 * k1)
        k3 = rhs(xp, x, y + h / 2 * k2)
        k4 = rhs(xp, x, y + h * k3)
        return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return repeat(xp, steps.shape[0], step, xp.zeros_like(x))


def weighted_sum(xp, params, data):
    return xp.sum(data["w"] * rk4(xp, params, data))


# --- hand derivatives (NumPy) ------------------------------------------------------------


def _shifted_tangent(dy):
    """Tangent of :func:`shifted`: ``(0, dy_0, ..., dy_{n-2})``."""
    out = np.zeros_like(dy)
    out[1:] = dy[:-1]
    return out


def _shifted_adjoint(b):
    """Adjoint of the shift: ``out_j = b_{j+1}``, ``out_{n-1} = 0``."""
    out = np.zeros_like(b)
    out[:-1] = b[1:]
    return out


def _stages(x, y, h):
    """The four stage inputs of one RK4 step and its result."""
    k1 = rhs(np, x, y)
    y2 = y + h / 2 * k1
    k2 = rhs(np, x, y2)
    y3 = y + h / 2 * k2
    k3 = rhs(np, x, y3)
    y4 = y + h * k3
    k4 = rhs(np, x, y4)
    return (y, y2, y3, y4), y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def rk4_jvp(params, tangents, data):
    (x,), (dx,) = params, tangents
    y, dy = np.zeros_like(x), np.zeros_like(x)

    def f(y, dy):
        return rhs(np, x, y), dx * shifted(np, y) + x * _shifted_tangent(dy)

    for h in data["h"]:
        k1, d1 = f(y, dy)
        k2, d2 = f(y + h / 2 * k1, dy + h / 2 * d1)
        k3, d3 = f(y + h / 2 * k2, dy + h / 2 * d2)
        k4, d4 = f(y + h * k3, dy + h * d3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        dy = dy + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
    return y, dy


def rk4_vjp(params, u, data):
    """The adjoint of the s RK4 steps: y at each step's start is kept, its stages recomputed."""
    (x,) = params
    starts, y = [], np.zeros_like(x)
    for h in data["h"]:
        starts.append(y)
        _, y = _stages(x, y, h)
    bar_x, bar_y = np.zeros_like(x), np.asarray(u, dtype=np.float64).copy()
    for y0, h in zip(reversed(starts), reversed(data["h"])):
        stage_inputs, _ = _stages(x, y0, h)
        # y_next = y0 + h/6 (k1 + 2 k2 + 2 k3 + k4)
        bar_k = [h / 6 * bar_y, h / 3 * bar_y, h / 3 * bar_y, h / 6 * bar_y]
        bar_y0 = bar_y.copy()
        # stage j: k_j = x * shifted(y_j), with y_j = y0 + c_j h k_{j-1} (c = 1/2, 1/2, 1)
        for j, c in ((3, 1.0), (2, 0.5), (1, 0.5), (0, None)):
            bar_x += bar_k[j] * shifted(np, stage_inputs[j])
            bar_yj = _shifted_adjoint(bar_k[j] * x)
            bar_y0 += bar_yj
            if c is not None:
                bar_k[j - 1] = bar_k[j - 1] + c * h * bar_yj
        bar_y = bar_y0
    return y, (bar_x,)


def weighted_sum_value_and_grad(params, data):
    y, grads = rk4_vjp(params, data["w"], data)
    return float(np.sum(data["w"] * y)), grads


class ODE(Problem):
    name = "ode"
    description = "GradBench's ode: s RK4 steps of a chain ODE, y_i' = x_i y_{i-1}, differentiated through the steps"
    size_unit = "equations"
    sizes = SIZES
    gradbench_sizes = tuple(GRADBENCH_SIZES)
    default_sizes = ("small",)
    check_size = "tiny"  # finite differences: two objectives per entry
    max_n = 1_000_000
    loss = Differentiable(weighted_sum, value_and_grad=weighted_sum_value_and_grad)
    model = Differentiable(rk4, jvp=rk4_jvp, vjp=rk4_vjp)

    def steps(self, size) -> int:
        """s, the number of RK4 steps, of a size (by its label; DEFAULT_STEPS for the rest)."""
        return STEPS.get(size.label, DEFAULT_STEPS)

    def bytes_per_n(self):
        return 8.0 * 12 * DEFAULT_STEPS  # a reverse pass keeps every stage of every step

    def make_data(self, rng, size):
        return {"h": step_sizes(self.steps(size)), "w": rng.standard_normal(size.n)}

    def init_params(self, rng, size, data):
        if size.label in GRADBENCH_SIZES:
            counts = [n for n, _ in GRADBENCH_WORKLOADS]
            return (gradbench_uniform(counts, GRADBENCH_SIZES[size.label]),)
        return (rng.uniform(0.0, 1.0, size.n),)

    def learning_rate(self, size):
        return 0.01

    def iterations(self, size):
        return 20


PROBLEM = ODE()
