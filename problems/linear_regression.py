"""Linear regression by batch gradient descent on the mean squared error.

The article's example (``article`` size): X = [[1,1],[1,2],[1,3]], y = [1,2,3],
theta from zeros, rate 0.01, 1000 iterations, printed result
``[0.11071521 0.95129619]``.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Instance, Problem

FEATURES = {3: 2}  # article: intercept + one feature


def features(n: int) -> int:
    """Columns of X (intercept included) at n samples."""
    return FEATURES.get(n, 10 if n <= 10_000 else 100)


def cost(xp, params, data):
    (theta,) = params
    r = xp.matmul(data["x"], theta) - data["y"]
    # the sum of squares as one dot product, as the hand derivative writes it: one call
    # forward and one backward instead of a product and a reduction (eager: 15% of a step)
    return xp.matmul(r, r) / (2 * r.shape[0])


def cost_value_and_grad(params, data):
    (theta,) = params
    x = data["x"]
    r = x @ theta - data["y"]
    m = r.shape[0]
    return r @ r / (2 * m), (x.T @ r / m,)


def cost_hessian(w, data):
    x = data["x"]
    return x.T @ x / x.shape[0]


def predict(xp, params, data):
    return xp.matmul(data["x"], params[0])


def predict_jvp(params, tangents, data):
    x = data["x"]
    return x @ params[0], x @ tangents[0]


def predict_vjp(params, u, data):
    x = data["x"]
    return x @ params[0], (x.T @ u,)


class LinearRegression(Problem):
    name = "linear_regression"
    description = "mean squared error and batch gradient descent (article: 3 points, 1000 steps)"
    sizes = {"article": 3, "small": 1_000, "medium": 100_000, "large": 1_000_000}
    loss = Differentiable(cost, value_and_grad=cost_value_and_grad, hessian=cost_hessian)
    model = Differentiable(predict, jvp=predict_jvp, vjp=predict_vjp)

    def bytes_per_n(self) -> float:
        return 8.0 * 2 * 101

    def make_data(self, rng, size):
        if size.article:
            return {"x": np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]]), "y": np.array([1.0, 2.0, 3.0])}
        n, p = size.n, features(size.n)
        x = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
        theta = rng.standard_normal(p)
        return {"x": x, "y": x @ theta + 0.1 * rng.standard_normal(n)}

    def init_params(self, rng, size, data):
        return (np.zeros(data["x"].shape[1]),)

    def iterations(self, size):
        return 1000 if size.article else 100

    def learning_rate(self, size):
        return 0.01 if size.article else 0.1

    def article_solve(self, inst: Instance):
        # The seed's gradient_descent(), verbatim in substance.
        x, y = inst.data["x"], inst.data["y"]
        theta = inst.params[0].copy()
        m = len(y)
        for _ in range(inst.iterations):
            gradient = (1 / m) * x.T.dot(x.dot(theta) - y)
            theta = theta - 0.01 * gradient
        return (theta,)


PROBLEM = LinearRegression()
