"""The article's XOR network: 2 inputs, a sigmoid hidden layer, one sigmoid output,
trained by backpropagation (no biases, as in the article).

``article`` size: the article's 4 XOR rows, hidden width 2, ``np.random.seed(1)``
then ``rand(2, 2)`` and ``rand(2, 1)``, rate 0.1, 10,000 epochs. The article's
update ``W += X^T delta * rate`` with ``delta = (y - out) * out (1 - out)`` is
gradient descent on ``0.5 * sum((y - out)^2)``: that loss, differentiated by
each backend, reproduces the article's weights.

Larger sizes widen the hidden layer (the main dimension) and the data
(64 noisy XOR samples per hidden unit).
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem, sigmoid

SAMPLES_PER_UNIT = 64


def _np_sigmoid(z):
    return 1 / (1 + np.exp(-z))  # the article's own form; inputs here stay small


def forward(xp, params, data):
    w1, w2 = params
    hidden = sigmoid(xp, xp.matmul(data["x"], w1))
    return sigmoid(xp, xp.matmul(hidden, w2))


def sse(xp, params, data):
    r = data["y"] - forward(xp, params, data)
    return 0.5 * xp.sum(r * r)


def sse_value_and_grad(params, data):
    """The article's backpropagation, as a gradient (sign flipped: descent)."""
    w1, w2 = params
    x, y = data["x"], data["y"]
    hidden = _np_sigmoid(x @ w1)
    out = _np_sigmoid(hidden @ w2)
    error = y - out
    d_output = error * out * (1 - out)
    d_hidden = (d_output @ w2.T) * hidden * (1 - hidden)
    return 0.5 * np.sum(error * error), (-(x.T @ d_hidden), -(hidden.T @ d_output))


def output_jvp(params, tangents, data):
    w1, w2 = params
    t1, t2 = tangents
    x = data["x"]
    hidden = _np_sigmoid(x @ w1)
    out = _np_sigmoid(hidden @ w2)
    d_hidden = hidden * (1 - hidden) * (x @ t1)
    return out, out * (1 - out) * (d_hidden @ w2 + hidden @ t2)


def output_vjp(params, u, data):
    w1, w2 = params
    x = data["x"]
    hidden = _np_sigmoid(x @ w1)
    out = _np_sigmoid(hidden @ w2)
    d_output = u * out * (1 - out)
    d_hidden = (d_output @ w2.T) * hidden * (1 - hidden)
    return out, (x.T @ d_hidden, hidden.T @ d_output)


class XorNet(Problem):
    name = "xor_net"
    description = "the article's 2-2-1 sigmoid network trained by backprop (10,000 epochs)"
    size_unit = "hidden units"
    sizes = {"article": 2, "small": 16, "medium": 128, "large": 1024}
    max_n = 100_000
    loss = Differentiable(sse, value_and_grad=sse_value_and_grad)
    model = Differentiable(forward, jvp=output_jvp, vjp=output_vjp)

    def bytes_per_n(self):
        return 8.0 * SAMPLES_PER_UNIT * 8

    def make_data(self, rng, size):
        n = size.n
        if size.article:
            x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
            return {"x": x, "y": np.array([[0], [1], [1], [0]], dtype=np.float64)}
        bits = rng.integers(0, 2, size=(SAMPLES_PER_UNIT * n, 2))
        y = (bits[:, :1] ^ bits[:, 1:]).astype(np.float64)
        return {"x": bits + 0.1 * rng.standard_normal(bits.shape), "y": y}

    def init_params(self, rng, size, data):
        n = size.n
        if size.article:
            legacy = np.random.RandomState(1)  # the article's np.random.seed(1)
            return legacy.rand(2, 2), legacy.rand(2, 1)
        return rng.uniform(-1, 1, (2, n)), rng.uniform(-1, 1, (n, 1)) / np.sqrt(n)

    def iterations(self, size):
        return 10_000 if size.article else 1_000

    def learning_rate(self, size):
        # the article's rate per sample (0.1 over 4 rows), kept as the data grows
        return 0.1 if size.article else 0.4 / (SAMPLES_PER_UNIT * size.n)

    def article_solve(self, inst):
        # The seed's training loop, verbatim in substance.
        x, y = inst.data["x"], inst.data["y"]
        weights_input_hidden, weights_hidden_output = (p.copy() for p in inst.params)
        learning_rate = self.learning_rate(inst.sized)

        def sigmoid_derivative(s):
            return s * (1 - s)

        for _ in range(inst.iterations):
            hidden_layer_output = _np_sigmoid(np.dot(x, weights_input_hidden))
            final_layer_output = _np_sigmoid(np.dot(hidden_layer_output, weights_hidden_output))
            error = y - final_layer_output
            d_output = error * sigmoid_derivative(final_layer_output)
            error_hidden_layer = d_output.dot(weights_hidden_output.T)
            d_hidden_layer = error_hidden_layer * sigmoid_derivative(hidden_layer_output)
            weights_hidden_output += hidden_layer_output.T.dot(d_output) * learning_rate
            weights_input_hidden += x.T.dot(d_hidden_layer) * learning_rate
        return weights_input_hidden, weights_hidden_output


PROBLEM = XorNet()
