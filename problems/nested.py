"""What GradBench's nested-derivative evals (``particle``, ``saddle``) share.

Both minimise with GradBench's gradient descent (its ``multivariate_argmin``,
the same in every tool of its own): a step ``x - eta g`` is taken when it lowers
the cost, else ``eta`` is halved; after ten accepted steps in a row ``eta``
doubles; the search stops when the gradient's norm or the step's length is at
most 1e-5. ``eta`` starts at 1e-5. The cost itself calls another derivative:
an order names the mode of each, outer first (GradBench's function names):
``rr`` reverse over reverse, ``ff`` forward over forward, ``fr`` a forward
outer derivative over a reverse inner one, ``rf`` the converse. Every
derivative is the backend's ``gradient_in`` in that mode; the NumPy backend's
is the hand-derived exact one, the reference the others are checked against.

The loops branch on values, as GradBench's do: they run eagerly, outside any
compiler, in every variant (a whole-function compiler cannot trace a loop whose
trip count depends on the values it differentiates in reverse mode).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backends.base import Differentiable

from .base import NESTED_KINDS, Problem, Size

#: the four orders, GradBench's function names: outer mode, then inner (r reverse, f forward)
ORDERS = NESTED_KINDS
MODE = {"r": "reverse", "f": "forward"}
TOLERANCE = 1e-5  #: the stopping threshold on the gradient's norm and on a step's length
FIRST_RATE = 1e-5  #: eta at the start of every search
STREAK = 10  #: accepted steps in a row before eta doubles
TINY_RATE = 0.2  #: the first eta at the size ``tiny``


def modes(order: str) -> tuple[str, str]:
    """``("reverse", "forward")`` for ``"rf"``: the outer derivative's mode, then the inner one's."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose from {', '.join(ORDERS)}")
    return MODE[order[0]], MODE[order[1]]


def norm(xp, v):
    return xp.sqrt(xp.sum(v * v))


def argmin(xp, f: Callable, g: Callable, x, rate: float = FIRST_RATE):
    """GradBench's gradient descent from ``x`` (its first ``eta``: ``rate``): the point it stops at."""
    fx, gx, eta, streak = f(x), g(x), rate, 0
    while True:
        if bool(norm(xp, gx) <= TOLERANCE):
            return x
        if streak == STREAK:
            eta, streak = 2 * eta, 0
            continue
        x_new = x - eta * gx
        if bool(norm(xp, x - x_new) <= TOLERANCE):
            return x
        fx_new = f(x_new)
        if bool(fx_new < fx):
            x, fx, gx, streak = x_new, fx_new, g(x_new), streak + 1
        else:
            eta, streak = eta / 2, 0


def argmax(xp, f: Callable, g: Callable, x, rate: float = FIRST_RATE):
    return argmin(xp, lambda x: -f(x), lambda x: -g(x), x, rate)


def _no_loss(xp, params, data):
    raise NotImplementedError("a nested-derivative eval has no loss of its own: its kinds are rr, ff, fr, rf")


class NestedProblem(Problem):
    """A GradBench eval of nested derivatives: one workload, four orders, a fixed known answer.

    ``params`` is the starting point (GradBench's input), ``data`` the eval's constants;
    ``solve_in(backend, order, size)`` returns ``run(params, data) -> the eval's output (an array)``.
    GradBench's workload is one named size; ``tiny`` is the same computation from a start
    where every search takes a first ``eta`` of :data:`TINY_RATE` (tens of steps where
    GradBench's take a hundred and more): the size ``check`` uses, quick on every backend.
    """

    size_unit = "parameters"
    default_sizes = ()  # nothing in the default run
    max_n = 1
    hessian_limit = 0
    loss = Differentiable(_no_loss)  # its kinds are the orders: nothing asks for a loss
    #: GradBench's answer for its workload (every order), float64
    answer: np.ndarray

    def kinds(self, inst=None):
        return ORDERS

    def solve_in(self, backend, order: str, size: Size) -> Callable:
        raise NotImplementedError

    def rate(self, size: Size) -> float:
        """The first ``eta`` of every search at this size: GradBench's, except at ``tiny``."""
        return TINY_RATE if size.label == "tiny" else FIRST_RATE

    def reference(self, inst, params=None) -> np.ndarray:
        """The exact answer from ``params`` (default: the instance's): the same searches with the
        hand-derived derivatives, in float64 NumPy."""
        import backends

        run = self.solve_in(backends.get("numpy"), "rr", inst.sized)
        return np.asarray(run(inst.params if params is None else params, inst.data), dtype=np.float64)

    def make_data(self, rng, size: Size):
        return {}
