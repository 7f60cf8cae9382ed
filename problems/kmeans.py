"""k-means: the article's Lloyd iteration as a Newton step on the k-means cost.

With the assignments fixed, the cost J(mu) = sum_ij A_ij ||x_i - mu_j||^2 has
gradient 2 (n_j mu_j - sum_{i in C_j} x_i) and a diagonal Hessian 2 n_j, so one
Newton step ``mu_j - grad_j / hess_j`` is exactly the article's centroid update
(the mean of cluster j). Here the gradient comes from the backend and the
diagonal of the Hessian from one Hessian-vector product with a vector of ones
(exact because this Hessian is diagonal). An empty cluster keeps its centroid,
as in the article.

``article`` size: the article's ``np.random.seed(0)``, 100 points in 2-D, k = 3
centroids drawn from the data, 100 iterations.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem

K = {100: 3}


def clusters(n: int) -> int:
    return K.get(n, 8)


def cost(xp, params, data):
    (mu,) = params
    x, a = data["x"], data["assign"]
    diff = x[:, None, :] - mu[None, :, :]  # (n, k, d)
    return xp.sum(a[:, :, None] * diff * diff)


def cost_value_and_grad(params, data):
    (mu,) = params
    x, a = data["x"], data["assign"]
    counts = a.sum(axis=0)
    sums = a.T @ x
    diff = x[:, None, :] - mu[None, :, :]
    value = np.sum(a[:, :, None] * diff * diff)
    return value, (2 * (counts[:, None] * mu - sums),)


def cost_hessian(w, data):
    a = data["assign"]
    k = a.shape[1]
    d = w.size // k
    return np.diag(np.repeat(2 * a.sum(axis=0), d))


def cost_hvp(w, v, data):
    a = data["assign"]
    k = a.shape[1]
    return np.repeat(2 * a.sum(axis=0), v.size // k) * v


def assign(xp, x, mu):
    """One-hot nearest-centroid assignment, shape (n, k), in x's dtype."""
    diff = x[:, None, :] - mu[None, :, :]
    labels = xp.argmin(xp.sum(diff * diff, axis=2), axis=1)
    k = mu.shape[0]
    return xp.astype(labels[:, None] == xp.arange(k)[None, :], x.dtype)


class KMeans(Problem):
    name = "kmeans"
    description = "Lloyd's k-means as Newton steps with a diagonal Hessian (article: 100 points, k=3)"
    size_unit = "points"
    sizes = {"article": 100, "small": 1_000, "medium": 100_000, "large": 1_000_000}
    loss = Differentiable(cost, value_and_grad=cost_value_and_grad, hessian=cost_hessian, hvp=cost_hvp)
    hessian_limit = 200

    def bytes_per_n(self):
        return 8.0 * 8 * 4 * 4

    def make_data(self, rng, size):
        n = size.n
        if size.article:
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

    def step(self, backend, inst):
        xp = backend.xp
        value_and_grad = backend.value_and_grad(self.loss)
        hvp = backend.hvp(self.flat_loss(inst))

        def body(params, data):
            (mu,) = params
            x = data["x"]
            d = {"x": x, "assign": assign(xp, x, mu)}
            _, (g,) = value_and_grad(params, d)
            w = xp.reshape(mu, (-1,))
            h = xp.reshape(hvp(w, xp.ones_like(w), d), mu.shape)
            empty = h == 0
            return (xp.where(empty, mu, mu - g / xp.where(empty, 1.0, h)),)

        return body

    def cost(self, params, data):
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
