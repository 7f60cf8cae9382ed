"""TensorFlow witnesses: a ``tf.GradientTape`` inside ``tf.function(jit_compile=True)``, ``tf.nn``
functions, and training loops as one ``tf.while_loop`` (one XLA while loop)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from problems.base import flatten
from problems.newton import REGULARISATION


def _inputs(backend, inst, dtype):
    params = tuple(backend.asarray(p, dtype) for p in inst.params)
    return params, {k: backend.asarray(v, dtype) for k, v in inst.data.items()}


def _flat(out) -> np.ndarray:
    return flatten(o.numpy() for o in out)


def _gradient(loss):
    def witness(backend, inst, dtype):
        params, data = _inputs(backend, inst, dtype)

        @tf.function(jit_compile=True)
        def value_and_grad(params, data):
            with tf.GradientTape() as tape:
                tape.watch(params)
                value = loss(params, data)
            return value, tape.gradient(value, params)

        return lambda: backend.block(value_and_grad(params, data)), lambda out: _flat(out[1])

    return witness


def _descent(loss):
    def witness(backend, inst, dtype):
        params, data = _inputs(backend, inst, dtype)
        rate, n = inst.problem.learning_rate(inst.sized), inst.iterations

        def step(params):
            with tf.GradientTape() as tape:
                tape.watch(params)
                value = loss(params, data)
            return tuple(p - rate * g for p, g in zip(params, tape.gradient(value, params)))

        # tf.while_loop itself: AutoGraph's loop over tf.range carries its iterate as well, 7%
        # of the XOR network's 10,000 tiny steps (1.75 against 1.64 ms, one thread)
        @tf.function(jit_compile=True)
        def train(params):
            return tf.while_loop(lambda i, p: i < n, lambda i, p: (i + 1, step(p)), (tf.constant(0), params))[1]

        return lambda: backend.block(train(params)), _flat

    return witness


def logistic_loss(params, data):
    w, b = params
    z = tf.linalg.matvec(data["x"], w) + b
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=data["y"], logits=z))


def _sigmoid(z):
    # the logistic function through tanh: XLA fuses it with its neighbours, and runs it faster than
    # its lowering of tf.sigmoid (the XOR network's 10,000 steps: 1.64 against 1.86 ms, one thread)
    return 0.5 * (tf.tanh(0.5 * z) + 1.0)


def xor_loss(params, data):
    w1, w2 = params
    out = _sigmoid(_sigmoid(data["x"] @ w1) @ w2)
    return 0.5 * tf.reduce_sum(tf.square(data["y"] - out))


def newton_loss(w, data):
    z = tf.linalg.matvec(data["x"], w)
    return tf.reduce_mean(tf.nn.softplus(z) - data["y"] * z) + 0.5 * REGULARISATION * tf.reduce_sum(w * w)


def kmeans_cost(params, data):
    # sum_i ||x_i - mu_c(i)||^2 expanded as scikit-learn's k-means does: ||x||^2 - 2 mu . s + n_j ||mu_j||^2
    # with the cluster sums s = A^T x and sizes n_j, so no (n, d) residual is formed forward or back
    (mu,) = params
    x, a = data["x"], data["assign"]
    sums = tf.linalg.matmul(a, x, transpose_a=True)
    counts = tf.reduce_sum(a, axis=0)
    return tf.reduce_sum(x * x) - 2 * tf.reduce_sum(mu * sums) + tf.reduce_sum(counts * tf.reduce_sum(mu * mu, axis=1))


def mse(params, data):
    (theta,) = params
    r = tf.linalg.matvec(data["x"], theta) - data["y"]
    return tf.reduce_sum(r * r) / (2 * r.shape[0])


def newton_hessian(backend, inst, dtype):
    (w,), data = _inputs(backend, inst, dtype)

    @tf.function(jit_compile=True)
    def hessian(w, data):
        with tf.GradientTape() as outer:
            outer.watch(w)
            with tf.GradientTape() as inner:
                inner.watch(w)
                value = newton_loss(w, data)
            grad = inner.gradient(value, w)
        return outer.jacobian(grad, w)  # pfor: the rows vectorised

    return lambda: backend.block(hessian(w, data)), lambda out: np.ravel(out.numpy())


WITNESSES = {
    ("logistic_regression", "gradient"): _gradient(logistic_loss),
    ("xor_net", "solve"): _descent(xor_loss),
    ("newton", "hessian"): newton_hessian,
    ("kmeans", "gradient"): _gradient(kmeans_cost),
    ("linear_regression", "solve"): _descent(mse),
}
