"""GradBench's ``llsq``: a linear least-squares objective (cmpad's ``llsq_obj``).

    y(x) = 1/2 sum_i (s_i - sum_j x_j t_i^j)^2,   t_i = -1 + 2i/(n-1),   s_i = sign(t_i)

with n points and m = 128 coefficients x. In matrix form ``y = 1/2 ||s - V x||^2``
with the Vandermonde matrix ``V_ij = t_i^j``, which the loss builds from t on
every call (as GradBench's tools do), so the objective's time includes it.

Hand derivatives: gradient ``-V^T r`` with ``r = s - V x``, Hessian ``V^T V``;
the model is the fitted polynomial ``V x`` (jvp ``V t``, vjp ``V^T u``).

Sizes ``n16`` ... ``n16392`` are GradBench's eleven workloads (its list, 8196 and
16392 included) with its own x: NumPy's legacy generator seeded with 31337,
``rand(128)`` per workload in turn. Other sizes draw x uniform in [0, 1) from
the run's seeded generator. t and s depend on n only.

``solve``: gradient descent with the rate ``1 / ||V||_F^2`` (at most the inverse
of the gradient's Lipschitz constant, so every step lowers y). A Newton step
would solve it at once in exact arithmetic, but V^T V of 128 monomials is
numerically singular.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem
from .lse import gradbench_uniform

M = 128  #: coefficients, GradBench's default m
#: GradBench's llsq workloads (its default list), in the order its eval draws them
GRADBENCH_N = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196, 16392)
GRADBENCH_SIZES = {f"n{n}": i for i, n in enumerate(GRADBENCH_N)}
SIZES = {
    "tiny": 64,
    "small": 1_024,
    "medium": 16_392,
    "large": 100_000,
    **{label: GRADBENCH_N[i] for label, i in GRADBENCH_SIZES.items()},
}


def grid(n: int, m: int = M) -> dict[str, np.ndarray]:
    """t, s = sign(t) as GradBench defines them for n points, and the exponents 0 .. m-1."""
    t = -1.0 + (np.arange(n) * 2.0) / (n - 1) if n > 1 else np.array([-1.0])
    return {"t": t, "s": np.sign(t), "powers": np.arange(m, dtype=np.float64)}


def vandermonde(xp, data):
    """``V_ij = t_i^j`` for the exponents j in ``data["powers"]`` (0 .. m-1), by products:
    columns [0, 2^r) times t^(2^r) are columns [2^r, 2^(r+1)), so log2(m) steps of one
    multiplication per entry, as GradBench's running product ``mul *= t`` (no ``pow``)."""
    m = data["powers"].shape[0]
    t = data["t"][:, None]
    v, power = xp.ones_like(t), t
    while v.shape[1] < m:
        v = xp.concat([v, v * power], axis=1)
        power = power * power
    return v[:, :m]


def objective(xp, params, data):
    (x,) = params
    r = data["s"] - xp.matmul(vandermonde(xp, data), x)
    return 0.5 * xp.sum(r * r)


def _v(data):
    return vandermonde(np, data)


def objective_value_and_grad(params, data):
    (x,) = params
    v = _v(data)
    r = data["s"] - v @ x
    return 0.5 * (r @ r), (-(v.T @ r),)


def objective_hessian(w, data):
    v = _v(data)
    return v.T @ v


def objective_hvp(w, u, data):
    v = _v(data)
    return v.T @ (v @ u)


def polynomial(xp, params, data):
    (x,) = params
    return xp.matmul(vandermonde(xp, data), x)


def polynomial_jvp(params, tangents, data):
    v = _v(data)
    return v @ params[0], v @ tangents[0]


def polynomial_vjp(params, u, data):
    v = _v(data)
    return v @ params[0], (v.T @ u,)


class LinearLeastSquares(Problem):
    name = "llsq"
    description = "GradBench's linear least squares: 128 polynomial coefficients fit to sign(t) at n points"
    size_unit = "points"
    sizes = SIZES
    gradbench_sizes = tuple(GRADBENCH_SIZES)
    default_sizes = ("small",)
    check_size = "tiny"  # finite differences: two objectives per coefficient (128)
    max_n = 1_000_000
    loss = Differentiable(
        objective, value_and_grad=objective_value_and_grad, hessian=objective_hessian, hvp=objective_hvp
    )
    model = Differentiable(polynomial, jvp=polynomial_jvp, vjp=polynomial_vjp)

    def bytes_per_n(self):
        return 8.0 * M * 4  # V and the framework's temporaries of its size

    def make_data(self, rng, size):
        return grid(size.n)

    def init_params(self, rng, size, data):
        if size.label in GRADBENCH_SIZES:
            return (gradbench_uniform([M] * len(GRADBENCH_N), GRADBENCH_SIZES[size.label]),)
        return (rng.uniform(0.0, 1.0, M),)

    def learning_rate(self, size):
        return 1.0 / float(np.sum(_v(grid(size.n)) ** 2))

    def iterations(self, size):
        return 20


PROBLEM = LinearLeastSquares()
