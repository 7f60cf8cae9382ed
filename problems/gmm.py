"""GradBench's ``gmm``: the log posterior of a Gaussian mixture with a Wishart prior.

Exactly the objective of GradBench's ``evals/gmm/README.md`` (ADBench's GMM with
its three errors fixed). Parameters: ``alpha`` (k), ``mu`` (k, d), ``q`` (k, d)
and ``l`` (k, d(d-1)/2). Component k has the lower-triangular factor Q_k with
diagonal exp(q_k) and ``l_k`` filling the strict lower triangle column by column
(for c in 0..d-1, for r in c+1..d-1); its precision matrix is Q_k^T Q_k. With
``beta_ik = alpha_k + sum_j q_kj - 1/2 ||Q_k (x_i - mu_k)||^2``:

    F = -n d/2 log(2 pi) + sum_i logsumexp_k(beta_ik) - n logsumexp(alpha)
        + k (n' d log(gamma / sqrt 2) - log Gamma_d(n'/2))
        - gamma^2/2 sum_k ||Q_k||_F^2 + m sum_k sum_j q_kj,        n' = d + m + 1

The constant terms are computed once, in NumPy, into ``data["const"]``; gamma
and m are data too (GradBench's defaults: m = 0, gamma = 1). Each logsumexp is
the namespace's fused one where it offers one, else the max trick
(:func:`problems.base.logsumexp`).

Hand derivatives (vectorised NumPy; r_ik = softmax_k(beta_ik), z_ik = Q_k (x_i - mu_k)):

    dF/dalpha_k = sum_i r_ik - n softmax(alpha)_k
    dF/dmu_k    = Q_k^T sum_i r_ik z_ik
    G_k         = -sum_i r_ik z_ik (x_i - mu_k)^T          (dF/dQ_k)
    dF/dq_kj    = sum_i r_ik + G_k[j, j] exp(q_kj) - gamma^2 exp(2 q_kj) + m
    dF/dl_k     = G_k[r, c] (r > c, column by column) - gamma^2 l_k

Sizes: ``d2-k5`` ... ``d64-k100`` are GradBench's 25 workloads (n = 1,000) with
its own input (``numpy.random.default_rng(31337)`` per workload, its order of
draws). The main dimension is n; d and k come from the size's label
(:data:`SHAPES`); ``tiny`` is d = 4, k = 3 (six l entries per component, so a
wrong packing order shows) and every other size, integers included, has
d = 10, k = 5 (:data:`DEFAULT_SHAPE`), with data drawn as GradBench draws it
from the run's seeded generator.

``solve``: gradient ascent on F (the maximum a posteriori fit); the cost it
lowers is -F.
"""

from __future__ import annotations

import math

import numpy as np

from backends.base import Differentiable

from .base import Problem, gradient_descent_step, logsumexp

GRADBENCH_D = (2, 10, 20, 32, 64)
GRADBENCH_K = (5, 10, 25, 50, 100)
GRADBENCH_N = 1_000
GRADBENCH_SEED = 31337
#: (d, k) of each named size; GradBench's workloads are labelled ``d{d}-k{k}``
SHAPES = {"tiny": (4, 3), **{f"d{d}-k{k}": (d, k) for d in GRADBENCH_D for k in GRADBENCH_K}}
SIZES = {
    "tiny": 100,
    "small": 1_000,
    "medium": 10_000,
    "large": 100_000,
    **{label: GRADBENCH_N for label in SHAPES if label != "tiny"},
}
#: (d, k) of every other size (``small``, ``medium``, ``large``, integers)
DEFAULT_SHAPE = (10, 5)
PARAMS = ("alpha", "mu", "q", "l")  #: the parameters, in order (GradBench's keys)
M, GAMMA = 0, 1.0  #: GradBench's default Wishart prior: extra degrees of freedom, precision


def lower_indices(d: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the strict lower triangle, column by column: l's order."""
    pairs = [(r, c) for c in range(d) for r in range(c + 1, d)]
    return np.array([p[0] for p in pairs], dtype=int), np.array([p[1] for p in pairs], dtype=int)


def constant(n: int, d: int, k: int, m: float = M, gamma: float = GAMMA) -> float:
    """The terms of F that depend on no parameter."""
    dof = d + m + 1
    log_gamma_d = 0.25 * d * (d - 1) * math.log(math.pi) + sum(
        math.lgamma(0.5 * dof + 0.5 * (1 - j)) for j in range(1, d + 1)
    )
    return -0.5 * n * d * math.log(2 * math.pi) + k * (dof * d * (math.log(gamma) - 0.5 * math.log(2)) - log_gamma_d)


def make_input(rng: np.random.Generator, n: int, d: int, k: int, m: float = M, gamma: float = GAMMA):
    """Data and parameters drawn in the order of GradBench's ``generate``: x, alpha, mu, q, l."""
    x = rng.normal(size=(n, d))
    alpha = rng.normal(size=k)
    mu = rng.uniform(size=(k, d))
    q = rng.normal(size=(k, d))
    l = rng.normal(size=(k, d * (d - 1) // 2))
    return data_for(x, m, gamma, k), (alpha, mu, q, l)


def factor_index(d: int) -> np.ndarray:
    """Where each entry of Q_k^T (row-major) comes from in ``[0 | exp(q_k) | l_k]``:
    0 above the diagonal of Q_k, 1 + j on it, 1 + d + (l's index) below it."""
    index = np.zeros((d, d))
    index[np.arange(d), np.arange(d)] = 1 + np.arange(d)
    rows, cols = lower_indices(d)
    index[cols, rows] = 1 + d + np.arange(rows.size)  # Q^T[c, r] = Q[r, c]
    return index.ravel()


def data_for(x: np.ndarray, m: float, gamma: float, k: int) -> dict[str, np.ndarray]:
    """The data of one GMM input: the points, the prior, the constant and the factor's index."""
    n, d = x.shape
    return {
        "x": x,
        "m": np.asarray(float(m)),
        "gamma": np.asarray(float(gamma)),
        "const": np.asarray(constant(n, d, k, m, gamma)),
        "factor_index": factor_index(d),
    }


# --- the objective, written once ------------------------------------------------------


def factor_transposed(xp, q, l, diagonal, index):
    """Q_k^T for every k, shape (k, d, d), gathered in one step from ``[0 | exp(q_k) | l_k]``
    by :func:`factor_index` (a data array: data reach every backend as floats)."""
    k, d = q.shape
    packed = xp.concat([xp.zeros_like(q[:, :1]), diagonal, l], axis=1)
    return xp.reshape(xp.take(packed, xp.astype(index, xp.int64), axis=1), (k, d, d))


def log_posterior(xp, params, data):
    alpha, mu, q, l = params
    x = data["x"]
    diagonal = xp.exp(q)
    qt = factor_transposed(xp, q, l, diagonal, data["factor_index"])
    z = xp.matmul(x[None, :, :] - mu[:, None, :], qt)  # (k, n, d): z_ki = Q_k (x_i - mu_k)
    beta = alpha[:, None] + xp.sum(q, axis=1)[:, None] - 0.5 * xp.sum(z * z, axis=2)  # (k, n)
    likelihood = xp.sum(logsumexp(xp, beta, axis=0)) - x.shape[0] * logsumexp(xp, alpha)
    gamma = data["gamma"]
    prior = -0.5 * gamma * gamma * (xp.sum(diagonal * diagonal) + xp.sum(l * l)) + data["m"] * xp.sum(q)
    return data["const"] + likelihood + prior


# --- hand derivatives (NumPy) -----------------------------------------------------------


def log_posterior_value_and_grad(params, data):
    alpha, mu, q, l = params
    x, gamma, m = data["x"], float(data["gamma"]), float(data["m"])
    n, d = x.shape
    diagonal = np.exp(q)
    qt = factor_transposed(np, q, l, diagonal, data["factor_index"])
    diff = x[None, :, :] - mu[:, None, :]  # (k, n, d)
    z = diff @ qt
    beta = alpha[:, None] + q.sum(axis=1)[:, None] - 0.5 * np.sum(z * z, axis=2)
    top = beta.max(axis=0)
    e = np.exp(beta - top)
    total = e.sum(axis=0)
    r = e / total  # (k, n): responsibilities
    a_top = alpha.max()
    a_exp = np.exp(alpha - a_top)
    lse_alpha = a_top + np.log(a_exp.sum())
    frobenius = np.sum(diagonal * diagonal) + np.sum(l * l)
    value = (
        float(data["const"]) + np.sum(top + np.log(total)) - n * lse_alpha - 0.5 * gamma**2 * frobenius + m * q.sum()
    )

    counts = r.sum(axis=1)  # (k,)
    rz = r[:, :, None] * z  # (k, n, d)
    g_alpha = counts - n * a_exp / a_exp.sum()
    g_mu = np.einsum("kcr,kr->kc", qt, rz.sum(axis=1))  # Q_k^T sum_i r_ik z_ik
    g_factor = -np.matmul(rz.transpose(0, 2, 1), diff)  # (k, d, d): dF/dQ_k[r, c]
    g_q = counts[:, None] + np.diagonal(g_factor, axis1=1, axis2=2) * diagonal - gamma**2 * diagonal**2 + m
    rows, cols = lower_indices(d)
    g_l = g_factor[:, rows, cols] - gamma**2 * l
    return value, (g_alpha, g_mu, g_q, g_l)


class GMM(Problem):
    name = "gmm"
    description = "GradBench's Gaussian mixture log posterior with a Wishart prior (d up to 64, k up to 100, n = 1,000)"
    size_unit = "points"
    sizes = SIZES
    gradbench_sizes = tuple(f"d{d}-k{k}" for d in GRADBENCH_D for k in GRADBENCH_K)
    default_sizes = ("small",)
    check_size = "tiny"  # finite differences: two objectives per parameter (45 here)
    max_n = 1_000_000
    loss = Differentiable(log_posterior, value_and_grad=log_posterior_value_and_grad)

    def shape(self, size) -> tuple[int, int]:
        """(d, k) of a size, by its label (:data:`SHAPES`; :data:`DEFAULT_SHAPE` for the rest)."""
        return SHAPES.get(size.label, DEFAULT_SHAPE)

    def bytes_per_n(self):
        d, k = DEFAULT_SHAPE
        return 8.0 * d * k * 8  # (k, n, d) differences, z and their adjoints

    def make_data(self, rng, size):
        d, k = self.shape(size)
        if size.label in SHAPES and size.label != "tiny":
            rng = np.random.default_rng(seed=GRADBENCH_SEED)  # GradBench re-seeds for every workload
        data, params = make_input(rng, size.n, d, k)
        return {**data, **{f"init_{name}": p for name, p in zip(PARAMS, params)}}

    def init_params(self, rng, size, data):
        # drawn with the data, in GradBench's order (x first, then the parameters)
        return tuple(data.pop(f"init_{name}") for name in PARAMS)

    def learning_rate(self, size):
        return 0.1 / size.n

    def iterations(self, size):
        return 20

    def step(self, backend, inst):
        # gradient *ascent* on the log posterior: a descent step on -F
        return gradient_descent_step(backend, self.loss, -self.learning_rate(inst.sized))

    def progress(self, params, data):
        return -float(self.loss.value(np, params, data))


PROBLEM = GMM()
