"""PyTorch witnesses, compiled as a PyTorch expert compiles them: ``torch.compile`` (static
shapes) of the ``torch.func`` transforms (``grad_and_value``, ``jacrev``), the fused
``torch.nn.functional`` losses, and training loops as PyTorch users write them: a compiled
step, looped in Python (``torch.compile`` would unroll a loop of n steps)."""

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
        grad_and_value = torch.compile(torch.func.grad_and_value(loss), dynamic=False)

        def call():
            grads, value = grad_and_value(params, data)
            return backend.block((value, grads))

        return call, lambda out: _flat(out[1])

    return witness


def _descent(loss):
    """Gradient descent: one compiled step (the gradient and the update), looped in Python.

    The step returns new parameters rather than updating its inputs in place: under
    ``torch.compile`` an input mutated in place is copied back after each call (on the
    article's XOR network, 10,000 steps: 466 ms in place against 407 ms, one thread)."""

    def witness(backend, inst, dtype):
        params, data = _inputs(backend, inst, dtype)
        rate, n, grad = inst.problem.learning_rate(inst.sized), inst.iterations, torch.func.grad(loss)

        @torch.compile(dynamic=False, fullgraph=True)
        def step(params, data):
            return tuple(p - rate * g for p, g in zip(params, grad(params, data)))

        def call():
            state = params
            for _ in range(n):
                state = step(state, data)
            return backend.block(state)

        return call, _flat

    return witness


def logistic_loss(params, data):
    # The fused loss is what a PyTorch expert writes, and under torch.compile its gradient is faster than the
    # protocol's mean(softplus(z) - y z): 100,000 x 100, float64, 2 threads, torch 2.13, 13 to 15 ms against
    # 20 to 23. Inductor inlines softplus's backward (a scalar division) into the reduction X^T r and computes it
    # again for every block of 8 columns; the fused loss's backward is written to memory once. Not taken into
    # the protocol: the fused loss's Hessian is 1.2 to 1.3x slower compiled and 2.8x under torch.func, and
    # realize_reads_threshold=1 (which also writes r once) slows other compiled cells (lstm small gradient 1.38x).
    # A torch.autograd.Function stating softplus's derivative as sigmoid matches the fused loss's gradient, but
    # compiled jacrev(jacrev(...)) through it returned a Hessian of zeros (torch 2.13): never take that road.
    w, b = params
    return F.binary_cross_entropy_with_logits(data["x"] @ w + b, data["y"])


def xor_loss(params, data):
    w1, w2 = params
    out = torch.sigmoid(torch.sigmoid(data["x"] @ w1) @ w2)
    return 0.5 * torch.sum((data["y"] - out) ** 2)


def newton_loss(w, x, y):
    z = x @ w
    # the cross-entropy from logits as softplus(z) - y z: under torch.compile its second derivatives are
    # 1.4x faster than those of F.binary_cross_entropy_with_logits (19.2 against 13.0 ms, one thread);
    # softplus returns z itself past its threshold, exact in float64 from 37 on
    return torch.mean(F.softplus(z, threshold=40.0) - y * z) + 0.5 * REGULARISATION * w @ w


def kmeans_cost(params, data):
    # sum_i ||x_i - mu_c(i)||^2 expanded as scikit-learn's k-means does: ||x||^2 - 2 mu . s + n_j ||mu_j||^2
    # with the cluster sums s = A^T x and sizes n_j, so no (n, d) residual is formed forward or back
    (mu,) = params
    x, a = data["x"], data["assign"]
    return torch.sum(x * x) - 2 * torch.sum(mu * (a.T @ x)) + torch.dot(a.sum(dim=0), torch.sum(mu * mu, dim=1))


def mse(params, data):
    (theta,) = params
    r = data["x"] @ theta - data["y"]
    return r @ r / (2 * r.shape[0])


def newton_hessian(backend, inst, dtype):
    (w,), data = _inputs(backend, inst, dtype)
    x, y = data["x"], data["y"]
    # reverse over reverse, compiled: 5x faster here than torch.func.hessian's jacfwd(jacrev),
    # whose forward mode under vmap turns X^T r into a batched product that reads X once per row
    hessian = torch.compile(torch.func.jacrev(torch.func.jacrev(newton_loss)), dynamic=False)

    return lambda: backend.block(hessian(w, x, y)), lambda out: np.ravel(out.detach().cpu().numpy())


WITNESSES = {
    ("logistic_regression", "gradient"): _gradient(logistic_loss),
    ("xor_net", "solve"): _descent(xor_loss),
    ("newton", "hessian"): newton_hessian,
    ("kmeans", "gradient"): _gradient(kmeans_cost),
    ("linear_regression", "solve"): _descent(mse),
}
