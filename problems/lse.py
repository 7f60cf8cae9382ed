"""GradBench's ``lse``: log-sum-exp with the max trick, and its gradient (softmax).

``lse(x) = a + log(sum_i exp(x_i - a))`` with ``a = max x``, written from
primitives (a maximum, an exponential, a sum, a logarithm), as GradBench asks:
no built-in logsumexp. The shift ``a`` needs no special treatment for the
derivative: its own contribution, ``1 - sum_i softmax_i``, is zero.

Hand derivatives: the gradient is ``p = softmax(x)``; the Hessian is
``diag(p) - p p^T``, so a Hessian-vector product is ``p * v - p (p . v)``. No
dense Hessian: n runs to 1.28M.

Sizes ``n2500`` ... ``n1280000`` are GradBench's ten workloads with its own
input: its eval seeds NumPy's legacy generator with 31337 and draws
``np.random.rand(n)`` for each workload in turn, which :func:`gradbench_uniform`
replays exactly. Every other size (``tiny``, ``small``, ``medium``, ``large``, an
integer) is x uniform in [0, 1) from the run's own seeded generator.

``solve``: gradient descent. log-sum-exp has no minimiser (it decreases as
every x_i goes to -inf), but with a rate of at most 1 (the gradient is
1-Lipschitz) every step lowers it: a loop to time, not an optimisation to finish.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem

#: GradBench's lse workloads, in the order its eval draws them: n = 2,500 x 2^i
GRADBENCH_N = tuple(2_500 * 2**i for i in range(10))
#: the named sizes that are GradBench's workloads -> their index in its order
GRADBENCH_SIZES = {f"n{n}": i for i, n in enumerate(GRADBENCH_N)}
SIZES = {
    "tiny": 200,
    "small": 2_500,
    "medium": 80_000,
    "large": 1_280_000,
    **{label: GRADBENCH_N[i] for label, i in GRADBENCH_SIZES.items()},
}
#: the seed of every GradBench eval that draws from NumPy's legacy generator
GRADBENCH_SEED = 31337


def gradbench_uniform(counts, index: int, seed: int = GRADBENCH_SEED) -> np.ndarray:
    """The draws of workload ``index`` when an eval calls ``np.random.seed(seed)`` once
    and then ``np.random.rand`` for ``counts[0]``, ``counts[1]`` ... numbers in turn.

    ``rand(n, d)`` fills its array in C order from the same stream, so a
    workload of n points in d dimensions is ``gradbench_uniform(...).reshape(n, d)``.
    GradBench's lse, llsq, kmeans and ode evals all draw their inputs this way.
    """
    offset = int(sum(counts[:index]))
    return np.random.RandomState(seed).random_sample(offset + int(counts[index]))[offset:]


def logsumexp(xp, x, axis=None):
    """log(sum(exp(x))) over ``axis`` (all entries: None) with the max trick, from primitives."""
    if axis is None:
        a = xp.max(x)
        return a + xp.log(xp.sum(xp.exp(x - a)))
    a = xp.max(x, axis=axis)
    return a + xp.log(xp.sum(xp.exp(x - xp.expand_dims(a, axis=axis)), axis=axis))


def lse(xp, params, data):
    # from primitives, never the namespace's fused logsumexp (problems.base.logsumexp):
    # GradBench's lse is there to differentiate the max, exp, sum and log themselves
    (x,) = params
    return logsumexp(xp, x)


def _softmax(x):
    e = np.exp(x - np.max(x))
    s = np.sum(e)
    return np.max(x) + np.log(s), e / s


def lse_value_and_grad(params, data):
    (x,) = params
    value, p = _softmax(x)
    return value, (p,)


def lse_hvp(w, v, data):
    _, p = _softmax(w)
    return p * v - p * (p @ v)


class LogSumExp(Problem):
    name = "lse"
    description = "GradBench's log-sum-exp with the max trick; gradient = softmax (n = 2,500 ... 1,280,000)"
    size_unit = "entries"
    sizes = SIZES
    gradbench_sizes = tuple(GRADBENCH_SIZES)
    default_sizes = ("small",)
    check_size = "tiny"  # finite differences: two objectives per entry
    hessian_limit = 0  # n runs to 1.28M: Hessian-vector products only, never a dense Hessian
    loss = Differentiable(lse, value_and_grad=lse_value_and_grad, hvp=lse_hvp)

    def bytes_per_n(self):
        return 8.0 * 6  # x, exp(x - a), the gradient and framework temporaries

    def make_data(self, rng, size):
        return {}

    def init_params(self, rng, size, data):
        if size.label in GRADBENCH_SIZES:
            return (gradbench_uniform(GRADBENCH_N, GRADBENCH_SIZES[size.label]),)
        return (rng.uniform(0.0, 1.0, size.n),)

    def learning_rate(self, size):
        return 1.0

    def iterations(self, size):
        return 20


PROBLEM = LogSumExp()
