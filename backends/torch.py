"""PyTorch: ``torch.func`` transforms over autograd; compiled mode is ``torch.compile``.

The array namespace is ``array_api_compat.torch``. The ``torch.func`` transforms
(``grad_and_value``, ``hessian``, ``jvp``, ``vjp``) are functional, so the same
derivative function runs eagerly and under ``torch.compile``.
"""

from __future__ import annotations

import array_api_compat.torch as xp
import numpy as np
import torch
import torch.func as tf_

from .base import DeviceUnavailable, Differentiable, python_loop

# Every compiled cell wraps a closure of the same few functions; dynamo counts
# them as recompilations of one code object and, past its default limit of 8,
# silently falls back to eager. A benchmark compiles many: lift the limits.
torch._dynamo.config.recompile_limit = 100_000
torch._dynamo.config.accumulated_recompile_limit = 100_000


class TorchBackend:
    name = "torch"
    framework = "torch"
    has_autodiff = True
    can_compile = True
    compiled_label = "compile"

    def __init__(self):
        self.xp = xp
        self._device = torch.device("cpu")

    def version(self) -> str:
        return torch.__version__

    def devices(self) -> list[str]:
        return ["cpu", "gpu"] if torch.cuda.is_available() else ["cpu"]

    def use_device(self, device: str) -> None:
        if device == "gpu":
            if not torch.cuda.is_available():
                raise DeviceUnavailable("torch sees no CUDA device (torch.cuda.is_available() is False)")
            self._device = torch.device("cuda")
        else:
            self._device = torch.device("cpu")

    def device(self) -> str:
        return "gpu" if self._device.type == "cuda" else "cpu"

    def asarray(self, a, dtype):
        return torch.as_tensor(np.asarray(a), dtype=getattr(torch, dtype), device=self._device)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def block(self, x):
        if self._device.type == "cuda":
            torch.cuda.synchronize()
        return x

    def _fn(self, f: Differentiable):
        return lambda x, data: f.value(xp, x, data)

    def value_and_grad(self, f: Differentiable):
        grad_and_value = tf_.grad_and_value(self._fn(f))

        def value_and_grad(params, data):
            grads, value = grad_and_value(params, data)
            return value, grads

        return value_and_grad

    def hessian(self, f: Differentiable):
        return tf_.hessian(self._fn(f))

    def hvp(self, f: Differentiable):
        grad = tf_.grad(self._fn(f))
        return lambda w, v, data: tf_.jvp(lambda w: grad(w, data), (w,), (v,))[1]

    def jvp(self, f: Differentiable):
        fn = self._fn(f)
        return lambda x, t, data: tf_.jvp(lambda x: fn(x, data), (x,), (t,))

    def vjp(self, f: Differentiable):
        fn = self._fn(f)

        def vjp(x, u, data):
            y, pullback = tf_.vjp(lambda x: fn(x, data), x)
            return y, pullback(u)[0]

        return vjp

    def compile(self, fn):
        # Static shapes, like jax.jit and tf.function: one specialised graph per
        # input shape (automatic dynamic shapes break torch.func.hessian).
        return torch.compile(fn, dynamic=False)

    def iterate(self, body, n, compiled):
        # torch.compile would unroll a Python loop of n steps: compile one step instead.
        return python_loop(self.compile(body) if compiled else body, n)


def make() -> TorchBackend:
    return TorchBackend()
