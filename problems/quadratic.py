"""Gradient descent on the article's quadratic L(w) = w^2 - 4w + 4, and a
learning-rate sweep that shows convergence, slow convergence and divergence.

At size n the loss is a sum of n independent quadratics a_i w_i^2 + b_i w_i + c_i
(a_i > 0), so that the same code scales; the ``article`` size is the article's
single quadratic (a, b, c) = (1, -4, 4) from w = 0, minimum at w = 2.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem

#: how far from the start a rate may wander before it counts as diverged
SWEEP_DIVERGENCE = 1e6
#: the article's rates (its PyTorch example) plus a few around the stability limit
RATES = (0.001, 0.01, 0.1, 0.5, 0.9, 1.0, 1.1, 10.0)


def loss(xp, params, data):
    (w,) = params
    return xp.sum(data["a"] * w * w + data["b"] * w + data["c"])


def loss_value_and_grad(params, data):
    (w,) = params
    a, b = data["a"], data["b"]
    return np.sum(a * w * w + b * w + data["c"]), (2 * a * w + b,)


def loss_hessian(w, data):
    return np.diag(2 * data["a"])


def loss_hvp(w, v, data):
    return 2 * data["a"] * v


def minimiser(data) -> np.ndarray:
    return -data["b"] / (2 * data["a"])


class Quadratic(Problem):
    name = "quadratic"
    description = "gradient descent on w^2 - 4w + 4 (n independent quadratics), learning-rate sweep"
    size_unit = "parameters"
    default_sizes = ("article", "small")
    sizes = {"article": 1, "small": 100, "medium": 10_000, "large": 1_000_000}
    loss = Differentiable(loss, value_and_grad=loss_value_and_grad, hessian=loss_hessian, hvp=loss_hvp)

    def bytes_per_n(self):
        return 8.0 * 8

    def make_data(self, rng, size):
        n = size.n
        if size.article:
            return {"a": np.array([1.0]), "b": np.array([-4.0]), "c": np.array([4.0])}
        return {"a": rng.uniform(0.5, 2.0, n), "b": rng.uniform(-4.0, 4.0, n), "c": rng.uniform(0.0, 4.0, n)}

    def init_params(self, rng, size, data):
        return (np.zeros(size.n),)

    def learning_rate(self, size):
        return 0.1


def lr_sweep(backend, rates=RATES, steps: int = 100, dtype: str = "float64", tol: float = 1e-6):
    """Gradient descent on the article's quadratic for each rate, all rates at once.

    Each rate is one independent copy of L(w) = w^2 - 4w + 4, so one vectorised
    run on ``backend`` covers the sweep. A copy whose distance to the minimum
    grows past ``SWEEP_DIVERGENCE`` times its start is frozen there and reported
    ``diverged``: no overflow, no warning flood. Returns one record per rate:
    ``{rate, status, final_w, steps_to_tol, history}`` (history: distance to the
    minimum at each step) with status ``converged`` (within ``tol`` of w = 2),
    ``slow`` (closer than at the start, not there yet) or ``diverged`` (no
    closer than at the start: blown up, or oscillating as at rate 1).
    """
    xp = backend.xp
    k = len(rates)
    data = {"a": np.ones(k), "b": np.full(k, -4.0), "c": np.full(k, 4.0)}
    w_star = minimiser(data)
    w0 = np.zeros(k)
    limit = SWEEP_DIVERGENCE * np.maximum(np.abs(w0 - w_star), 1.0)
    d = {key: backend.asarray(v, dtype) for key, v in data.items()}
    lr = backend.asarray(np.asarray(rates, dtype=float), dtype)
    w_star_b, limit_b = backend.asarray(w_star, dtype), backend.asarray(limit, dtype)
    value_and_grad = backend.value_and_grad(Quadratic.loss)
    w = backend.asarray(w0, dtype)
    history = [np.abs(w0 - w_star)]
    for _ in range(steps):
        _, (g,) = value_and_grad((w,), d)
        w_new = w - lr * g
        w = xp.where(xp.abs(w_new - w_star_b) < limit_b, w_new, w)
        history.append(np.abs(backend.to_numpy(w) - w_star))
    distances = np.array(history)  # (steps + 1, k): distance to the minimum
    final = backend.to_numpy(w)
    records = []
    for j, rate in enumerate(rates):
        dist = distances[:, j]
        if not np.isfinite(dist[-1]) or dist[-1] >= dist[0]:
            status = "diverged"  # blew up (frozen at the limit) or made no progress
        elif dist[-1] <= tol:
            status = "converged"
        else:
            status = "slow"
        hit = np.nonzero(dist <= tol)[0]
        records.append(
            {
                "rate": float(rate),
                "status": status,
                "final_w": float(final[j]),
                "steps_to_tol": int(hit[0]) if hit.size else None,
                "history": dist.tolist(),
            }
        )
    return records


PROBLEM = Quadratic()
