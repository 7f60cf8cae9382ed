"""JAX witnesses: ``jax.jit`` of ``jax.value_and_grad`` / ``jax.jacrev``, ``jax.nn``, ``lax.fori_loop``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from problems.base import flatten
from problems.newton import REGULARISATION


def _inputs(backend, inst, dtype):
    params = tuple(backend.asarray(p, dtype) for p in inst.params)
    return params, {k: backend.asarray(v, dtype) for k, v in inst.data.items()}


def _flat(out) -> np.ndarray:
    return flatten(np.asarray(o) for o in out)


def _gradient(loss):
    def witness(backend, inst, dtype):
        params, data = _inputs(backend, inst, dtype)
        f = jax.jit(jax.value_and_grad(loss))
        return lambda: jax.block_until_ready(f(params, data)), lambda out: _flat(out[1])

    return witness


def _descent(loss):
    """Gradient descent, the whole loop compiled: ``lax.fori_loop`` inside ``jax.jit``."""

    def witness(backend, inst, dtype):
        params, data = _inputs(backend, inst, dtype)
        rate, n, grad = inst.problem.learning_rate(inst.sized), inst.iterations, jax.grad(loss)

        @jax.jit
        def train(params, data):
            def step(_, p):
                return jax.tree.map(lambda a, g: a - rate * g, p, grad(p, data))

            return lax.fori_loop(0, n, step, params)

        return lambda: jax.block_until_ready(train(params, data)), _flat

    return witness


def logistic_loss(params, data):
    w, b = params
    z = data["x"] @ w + b
    return jnp.mean(jax.nn.softplus(z) - data["y"] * z)


def xor_loss(params, data):
    w1, w2 = params
    out = jax.nn.sigmoid(jax.nn.sigmoid(data["x"] @ w1) @ w2)
    return 0.5 * jnp.sum((data["y"] - out) ** 2)


def newton_loss(w, data):
    z = data["x"] @ w
    return jnp.mean(jax.nn.softplus(z) - data["y"] * z) + 0.5 * REGULARISATION * w @ w


def kmeans_cost(params, data):
    # sum_i ||x_i - mu_c(i)||^2 expanded as scikit-learn's k-means does: ||x||^2 - 2 mu . s + n_j ||mu_j||^2
    # with the cluster sums s = A^T x and sizes n_j, so no (n, d) residual is formed forward or back
    (mu,) = params
    x, a = data["x"], data["assign"]
    return jnp.sum(x * x) - 2 * jnp.vdot(mu, a.T @ x) + jnp.vdot(jnp.sum(a, axis=0), jnp.sum(mu * mu, axis=1))


def mse(params, data):
    (theta,) = params
    r = data["x"] @ theta - data["y"]
    return r @ r / (2 * r.shape[0])


def newton_hessian(backend, inst, dtype):
    (w,), data = _inputs(backend, inst, dtype)
    # reverse over reverse: under jit, faster on this problem than jax.hessian's jacfwd(jacrev) (backends/jax.py)
    f = jax.jit(jax.jacrev(jax.jacrev(newton_loss)))
    return lambda: jax.block_until_ready(f(w, data)), lambda out: np.ravel(np.asarray(out))


WITNESSES = {
    ("logistic_regression", "gradient"): _gradient(logistic_loss),
    ("xor_net", "solve"): _descent(xor_loss),
    ("newton", "hessian"): newton_hessian,
    ("kmeans", "gradient"): _gradient(kmeans_cost),
    ("linear_regression", "solve"): _descent(mse),
}
