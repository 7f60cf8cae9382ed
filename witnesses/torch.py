"""PyTorch witnesses: leaf tensors with ``requires_grad``, ``torch.autograd.grad``, the fused
``torch.nn.functional`` losses, and training loops as PyTorch users write them (manual
updates under ``torch.no_grad()``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from problems.base import flatten
from problems.newton import REGULARISATION


def _inputs(backend, inst, dtype):
    params = tuple(backend.asarray(p, dtype) for p in inst.params)
    return params, {k: backend.asarray(v, dtype) for k, v in inst.data.items()}


def _flat(out) -> np.ndarray:
    return flatten(o.detach().cpu().numpy() for o in out)


def _gradient(loss):
    def witness(backend, inst, dtype):
        params, data = _inputs(backend, inst, dtype)
        leaves = tuple(p.clone().requires_grad_(True) for p in params)  # the model's parameters, made once

        def call():
            value = loss(leaves, data)
            grads = torch.autograd.grad(value, leaves)
            return backend.block((value.detach(), grads))

        return call, lambda out: _flat(out[1])

    return witness


def _descent(loss):
    """Gradient descent as a PyTorch loop: autograd for the gradient, in-place updates under no_grad."""

    def witness(backend, inst, dtype):
        params, data = _inputs(backend, inst, dtype)
        rate, n = inst.problem.learning_rate(inst.sized), inst.iterations

        def call():
            leaves = tuple(p.clone().requires_grad_(True) for p in params)
            for _ in range(n):
                grads = torch.autograd.grad(loss(leaves, data), leaves)
                with torch.no_grad():
                    for p, g in zip(leaves, grads):
                        p.sub_(g, alpha=rate)
            return backend.block(leaves)

        return call, _flat

    return witness


def logistic_loss(params, data):
    w, b = params
    return F.binary_cross_entropy_with_logits(data["x"] @ w + b, data["y"])


def xor_loss(params, data):
    w1, w2 = params
    out = torch.sigmoid(torch.sigmoid(data["x"] @ w1) @ w2)
    return 0.5 * torch.sum((data["y"] - out) ** 2)


def newton_loss(w, x, y):
    z = x @ w
    # softplus(z) - y z: the cross-entropy from logits, fused (softplus's threshold is exact in float64 only past 37)
    return F.binary_cross_entropy_with_logits(z, y) + 0.5 * REGULARISATION * w @ w


def kmeans_cost(params, data):
    (mu,) = params
    return F.mse_loss(data["assign"] @ mu, data["x"], reduction="sum")  # each point's centroid against it


def mse(params, data):
    (theta,) = params
    r = data["x"] @ theta - data["y"]
    return r @ r / (2 * r.shape[0])


def newton_hessian(backend, inst, dtype):
    (w,), data = _inputs(backend, inst, dtype)
    x, y = data["x"], data["y"]
    hessian = torch.func.hessian(newton_loss)  # jacfwd(jacrev), vectorised: PyTorch's documented Hessian

    return lambda: backend.block(hessian(w, x, y)), lambda out: np.ravel(out.detach().cpu().numpy())


WITNESSES = {
    ("logistic_regression", "gradient"): _gradient(logistic_loss),
    ("xor_net", "solve"): _descent(xor_loss),
    ("newton", "hessian"): newton_hessian,
    ("kmeans", "gradient"): _gradient(kmeans_cost),
    ("linear_regression", "solve"): _descent(mse),
}
