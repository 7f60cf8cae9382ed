"""CONTRIBUTING.md's recipes, followed once: a toy problem and a toy backend, registered as a plugin
(``BENCH_PLUGINS=tests.toy_plugin``) so that every command and every worker process knows them.

* problem ``toy_quartic``: sum((w - c)^4 / 4 + w^2 / 2), written once against ``xp``, with its hand
  derivatives, and gradient descent as its solve (the default ``step``);
* backend ``complexstep``: NumPy arrays, derivatives by complex-step differentiation
  (Im f(x + ih) / h, exact to rounding for an analytic f): a "framework" with autodiff
  of its own, for objective, gradient and jvp.
"""

from __future__ import annotations

import numpy as np

import backends
import problems
from backends.base import BackendBase, DeviceUnavailable, Differentiable, python_loop
from problems.base import Problem

# --- recipe 1: a problem --------------------------------------------------------------------


def quartic(xp, params, data):
    (w,) = params
    d = w - data["c"]
    return xp.sum(0.25 * d**4 + 0.5 * w * w)


def quartic_value_and_grad(params, data):
    (w,) = params
    d = w - data["c"]
    return np.sum(0.25 * d**4 + 0.5 * w * w), (d**3 + w,)


def quartic_hessian(w, data):
    return np.diag(3 * (w - data["c"]) ** 2 + 1)


class ToyQuartic(Problem):
    name = "toy_quartic"
    description = "sum((w - c)^4 / 4 + w^2 / 2): the CONTRIBUTING recipe's toy problem"
    size_unit = "parameters"
    sizes = {"small": 50, "medium": 5_000}
    default_sizes = ("small",)
    check_size = "small"
    loss = Differentiable(quartic, value_and_grad=quartic_value_and_grad, hessian=quartic_hessian)

    def make_data(self, rng, size):
        return {"c": rng.uniform(-1.0, 1.0, size.n)}

    def init_params(self, rng, size, data):
        return (np.zeros(size.n),)

    def learning_rate(self, size):
        return 0.2


problems.register(ToyQuartic())


# --- recipe 2: a backend ---------------------------------------------------------------------

STEP = 1e-30  # complex step: no subtraction, so no cancellation however small


class ComplexStepBackend(BackendBase):
    xp = np

    def version(self) -> str:
        return f"complexstep-1 (numpy {np.__version__})"

    def devices(self) -> list[str]:
        return ["cpu"]

    def use_device(self, device: str) -> None:
        if device != "cpu":
            raise DeviceUnavailable(f"complexstep runs on the CPU only, not on {device!r}")

    def device(self) -> str:
        return "cpu"

    def asarray(self, a, dtype):
        return np.array(a, dtype=dtype)

    def to_numpy(self, x):
        return np.real(np.asarray(x))

    def block(self, x):
        return x

    def value_and_grad(self, f: Differentiable):
        def value_and_grad(params, data):
            value = f.value(np, params, data)
            grads = []
            for k, p in enumerate(params):
                g = np.empty(p.shape)
                for j in np.ndindex(p.shape):
                    bumped = p.astype(complex)
                    bumped[j] += 1j * STEP
                    g[j] = np.imag(f.value(np, params[:k] + (bumped,) + params[k + 1 :], data)) / STEP
                grads.append(g.astype(p.dtype))
            return value, tuple(grads)

        return value_and_grad

    def jvp(self, f: Differentiable):
        def jvp(x, t, data):
            y = f.value(np, tuple(p.astype(complex) + 1j * STEP * d for p, d in zip(x, t)), data)
            return np.real(y), np.imag(y) / STEP

        return jvp

    def _none(self, kind):
        def missing(*args):
            raise NotImplementedError(f"complexstep has no {kind}")

        return missing

    def hessian(self, f):
        return self._none("hessian")

    def hvp(self, f):
        return self._none("hvp")

    def vjp(self, f):
        return self._none("vjp")

    def compile(self, fn):
        return fn

    def iterate(self, body, n):
        return python_loop(body, n)


def make(info, variant) -> ComplexStepBackend:
    return ComplexStepBackend(info, variant)


backends.register(
    backends.BackendInfo(
        "complexstep",
        "tests.toy_plugin",
        "numpy",
        "",
        True,
        (backends.Variant("eager", False, None, "complex-step differentiation over NumPy"),),
    )
)
