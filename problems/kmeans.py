"""k-means: the article's Lloyd iteration as a Newton step on the k-means cost.

With the assignments fixed, the cost J(mu) = sum_ij A_ij ||x_i - mu_j||^2 has
gradient 2 (n_j mu_j - sum_{i in C_j} x_i) and a diagonal Hessian 2 n_j, so one
Newton step ``mu_j - grad_j / hess_j`` is exactly the article's centroid update
(the mean of cluster j). Here the gradient comes from the backend and the
diagonal of the Hessian from one Hessian-vector product with a vector of ones
(exact because this Hessian is diagonal). An empty cluster keeps its centroid,
as in the article.

This is also GradBench's ``kmeans`` eval: its ``cost`` is
sum_i min_j ||C_j - P_i||^2 (:func:`nearest_cost`) and its ``dir`` is the
gradient divided elementwise by the Hessian diagonal, the direction of the
Newton step above (:meth:`KMeans.direction`, which the Lloyd step and
``python -m bench gradbench`` share).

Distances are expanded as ``||mu_j||^2 - 2 x_i . mu_j`` (plus ``||x_i||^2``):
an (n, k) matrix from one matrix product, never an (n, k, d) array.

``article`` size: the article's ``np.random.seed(0)``, 100 points in 2-D, k = 3
centroids drawn from the data, 100 iterations. Other sizes: points around k
centres in 2-D (k = 8). Sizes ``k10-n1000-d8`` ... ``k1000-n10000-d16`` are
GradBench's twelve workloads with its own input (NumPy's legacy generator
seeded with 31337, ``rand(n, d)`` per workload in its order, centroids = the
last k points); their k and d come from the label (:data:`SHAPES`).
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem, as_flat
from .lse import gradbench_uniform

K = {100: 3}
#: GradBench's kmeans workloads (k, n, d), in the order its eval draws them (sorted by k n d)
GRADBENCH_WORKLOADS = tuple(
    sorted(
        ((k, n, d) for k in (10, 100, 1_000) for n in (1_000, 10_000) for d in (8, 16)),
        key=lambda v: v[0] * v[1] * v[2],
    )
)
GRADBENCH_SIZES = {f"k{k}-n{n}-d{d}": i for i, (k, n, d) in enumerate(GRADBENCH_WORKLOADS)}
#: (k, d) of GradBench's named sizes; the main dimension is the number of points n
SHAPES = {label: (GRADBENCH_WORKLOADS[i][0], GRADBENCH_WORKLOADS[i][2]) for label, i in GRADBENCH_SIZES.items()}
SIZES = {
    "article": 100,
    "small": 1_000,
    "medium": 100_000,
    "large": 1_000_000,
    **{label: GRADBENCH_WORKLOADS[i][1] for label, i in GRADBENCH_SIZES.items()},
}


def clusters(n: int) -> int:
    return K.get(n, 8)


def cost(xp, params, data):
    """sum_ij A_ij ||x_i - mu_j||^2 for a fixed one-hot assignment A (n, k), expanded as
    sum_i ||x_i||^2 - 2 sum_j mu_j . s_j + sum_j n_j ||mu_j||^2 with the cluster sums
    s = A^T x and sizes n_j: one (k, n) x (n, d) product, none of them depends on mu."""
    (mu,) = params
    x, a = data["x"], data["assign"]
    sums = xp.matmul(xp.matrix_transpose(a), x)
    counts = xp.sum(a, axis=0)
    return xp.sum(x * x) - 2 * xp.sum(mu * sums) + xp.sum(counts[:, None] * (mu * mu))


def cost_value_and_grad(params, data):
    (mu,) = params
    x, a = data["x"], data["assign"]
    counts = a.sum(axis=0)
    sums = a.T @ x
    diff = x - a @ mu
    return np.sum(diff * diff), (2 * (counts[:, None] * mu - sums),)


def cost_hessian(w, data):
    a = data["assign"]
    k = a.shape[1]
    d = w.size // k
    return np.diag(np.repeat(2 * a.sum(axis=0), d))


def cost_hvp(w, v, data):
    a = data["assign"]
    k = a.shape[1]
    return np.repeat(2 * a.sum(axis=0), v.size // k) * v


def distances(xp, x, mu):
    """||x_i - mu_j||^2 - ||x_i||^2, shape (n, k): what the nearest centroid minimises."""
    return xp.sum(mu * mu, axis=1)[None, :] - 2 * xp.matmul(x, xp.matrix_transpose(mu))


def assign(xp, x, mu):
    """One-hot nearest-centroid assignment, shape (n, k), in x's dtype."""
    labels = xp.argmin(distances(xp, x, mu), axis=1)
    k = mu.shape[0]
    return xp.astype(labels[:, None] == xp.arange(k)[None, :], x.dtype)


def nearest_cost(xp, params, data):
    """GradBench's cost: sum_i min_j ||mu_j - x_i||^2 (data: the points ``x`` only)."""
    (mu,) = params
    x = data["x"]
    return xp.sum(xp.min(distances(xp, x, mu), axis=1)) + xp.sum(x * x)


class KMeans(Problem):
    name = "kmeans"
    description = "Lloyd's k-means as Newton steps with a diagonal Hessian (article: 100 points, k=3)"
    size_unit = "points"
    sizes = SIZES
    gradbench_sizes = tuple(GRADBENCH_SIZES)
    loss = Differentiable(cost, value_and_grad=cost_value_and_grad, hessian=cost_hessian, hvp=cost_hvp)
    hessian_limit = 200

    def bytes_per_n(self):
        # k = 8 centroids: distances, the assignment and temporaries. GradBench's sizes
        # need up to 3 k doubles a point (k = 1,000: 0.25 GiB at its n = 10,000).
        return 8.0 * 8 * 4 * 4

    def make_data(self, rng, size):
        n = size.n
        if size.label in GRADBENCH_SIZES:
            index = GRADBENCH_SIZES[size.label]
            k, _, d = GRADBENCH_WORKLOADS[index]
            x = gradbench_uniform([w[1] * w[2] for w in GRADBENCH_WORKLOADS], index).reshape(n, d)
            mu = x[-k:].copy()  # GradBench: every cluster has a point, its own centroid
        elif size.article:
            legacy = np.random.RandomState(0)  # the article's np.random.seed(0)
            x = legacy.rand(100, 2)
            mu = x[legacy.choice(x.shape[0], 3, replace=False)]
        else:
            k = clusters(n)
            centres = rng.uniform(-5, 5, (k, 2))
            x = centres[rng.integers(0, k, n)] + rng.standard_normal((n, 2))
            mu = x[rng.choice(n, k, replace=False)]
        return {"x": x, "assign": assign(np, x, mu), "init": mu}

    def init_params(self, rng, size, data):
        # the starting centroids are drawn with the data (the article's RNG order)
        return (data.pop("init"),)

    def iterations(self, size):
        return 100 if size.article else 20

    def direction(self, backend, shape: tuple[int, int]):
        """GradBench's ``dir``: ``direction(params, data) -> grad / diag(Hessian)`` at the
        nearest assignment (computed inside), for centroids of ``shape`` (k, d) and data
        holding the points ``x``. The gradient comes from ``value_and_grad``, the diagonal
        from one Hessian-vector product with ones (exact: this Hessian is diagonal).
        An empty cluster has a zero gradient and a zero diagonal: its direction is zero."""
        xp = backend.xp
        value_and_grad = backend.value_and_grad(self.loss)
        hvp = backend.hvp(as_flat(self.loss, (tuple(shape),)))

        def direction(params, data):
            (mu,) = params
            x = data["x"]
            d = {"x": x, "assign": assign(xp, x, mu)}
            _, (g,) = value_and_grad(params, d)
            w = xp.reshape(mu, (-1,))
            h = xp.reshape(hvp(w, xp.ones_like(w), d), mu.shape)
            return g / xp.where(h == 0, 1.0, h)

        return direction

    def step(self, backend, inst):
        direction = self.direction(backend, inst.shapes[0])

        def body(params, data):
            (mu,) = params
            return (mu - direction(params, data),)  # Newton's step: the mean of each cluster

        return body

    def progress(self, params, data):
        """The k-means cost with each point assigned to its nearest centroid."""
        return float(cost(np, params, {"x": data["x"], "assign": assign(np, data["x"], params[0])}))

    def article_solve(self, inst):
        # The seed's kmeans(), verbatim in substance.
        data = inst.data["x"]
        centroids = inst.params[0].copy()
        k = centroids.shape[0]
        for _ in range(inst.iterations):
            distances = np.linalg.norm(data[:, np.newaxis] - centroids, axis=2)
            labels = np.argmin(distances, axis=1)
            for j in range(k):
                if len(data[labels == j]) > 0:
                    centroids[j] = np.mean(data[labels == j], axis=0)
        return (centroids,)


PROBLEM = KMeans()
