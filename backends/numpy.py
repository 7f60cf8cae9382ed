"""NumPy: no autodiff. Every derivative is the hand-derived one the problem carries."""

from __future__ import annotations

import numpy as np

from .base import BackendBase, DeviceUnavailable, Differentiable, check_ad_mode, python_loop


class NumpyBackend(BackendBase):
    xp = np

    def version(self) -> str:
        return np.__version__

    def devices(self) -> list[str]:
        return ["cpu"]

    def use_device(self, device: str) -> None:
        if device != "cpu":
            raise DeviceUnavailable(f"numpy runs on the CPU only, not on {device!r}")

    def device(self) -> str:
        return "cpu"

    def asarray(self, a, dtype):
        return np.array(a, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def block(self, x):
        return x

    def value_and_grad(self, f: Differentiable):
        return f.hand("value_and_grad")

    def hessian(self, f: Differentiable):
        return f.hand("hessian")

    def hvp(self, f: Differentiable):
        return f.hand("hvp")

    def jvp(self, f: Differentiable):
        return f.hand("jvp")

    def vjp(self, f: Differentiable):
        return f.hand("vjp")

    def gradient_in(self, f: Differentiable, mode: str):
        check_ad_mode(mode)  # no modes of its own: both are the hand gradient
        value_and_grad = f.hand("value_and_grad")
        return lambda w, data: value_and_grad(w, data)[1]

    def jacobian(self, f: Differentiable):
        return f.hand("jacobian")

    def compile(self, fn):
        return fn

    def iterate(self, body, n):
        return python_loop(body, n)


def make(info, variant) -> NumpyBackend:
    return NumpyBackend(info, variant)
