"""PyTorch, three variants:

* ``func``: the ``torch.func`` transforms (``grad_and_value``, ``hessian``,
  ``jvp``, ``vjp``), functional, op by op;
* ``autograd``: what most PyTorch code does: tensors with ``requires_grad``,
  ``torch.autograd.grad`` (reverse), ``torch.autograd.forward_ad`` (forward);
* ``compile``: the ``func`` derivatives under ``torch.compile``; a solve
  compiles one step and loops in Python (compiling n unrolled steps would not end).

The array namespace is ``array_api_compat.torch``.
"""

from __future__ import annotations

import array_api_compat.torch as xp
import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.func as tf_

from .base import BackendBase, DeviceUnavailable, Differentiable, python_loop

# Every compiled cell wraps a closure of the same few functions; dynamo counts
# them as recompilations of one code object and, past its default limit of 8,
# silently falls back to eager. A benchmark compiles many: lift the limits.
torch._dynamo.config.recompile_limit = 100_000
torch._dynamo.config.accumulated_recompile_limit = 100_000


class TorchBackend(BackendBase):
    def __init__(self, info, variant):
        super().__init__(info, variant)
        self.xp = xp
        self._device = torch.device("cpu")
        self._autograd = variant.name == "autograd"

    def version(self) -> str:
        return torch.__version__

    def set_threads(self, threads: int) -> dict:
        done: dict = {}
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError as exc:  # only allowed once, before any parallel work
            done["interop_error"] = str(exc)
        done["torch_threads"] = torch.get_num_threads()
        return done

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

    # -- reverse mode ----------------------------------------------------------
    def value_and_grad(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:

            def value_and_grad(params, data):
                leaves = tuple(p.detach().requires_grad_(True) for p in params)
                value = fn(leaves, data)
                return value.detach(), torch.autograd.grad(value, leaves)

            return value_and_grad

        grad_and_value = tf_.grad_and_value(fn)

        def value_and_grad(params, data):
            grads, value = grad_and_value(params, data)
            return value, grads

        return value_and_grad

    def vjp(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:

            def vjp(x, u, data):
                leaves = tuple(p.detach().requires_grad_(True) for p in x)
                y = fn(leaves, data)
                return y.detach(), torch.autograd.grad(y, leaves, grad_outputs=u)

            return vjp

        def vjp(x, u, data):
            y, pullback = tf_.vjp(lambda x: fn(x, data), x)
            return y, pullback(u)[0]

        return vjp

    # -- second order and forward mode -----------------------------------------
    def hessian(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:
            # vectorised over the rows (vmap of the double backward), not one backward per row
            return lambda w, data: torch.autograd.functional.hessian(lambda w: fn(w, data), w, vectorize=True)
        return tf_.hessian(fn)

    def hvp(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:

            def hvp(w, v, data):  # reverse over reverse: the gradient, then the gradient of <g, v>
                leaf = w.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(fn(leaf, data), leaf, create_graph=True)
                (hv,) = torch.autograd.grad(g, leaf, grad_outputs=v)
                return hv

            return hvp
        grad = tf_.grad(fn)
        return lambda w, v, data: tf_.jvp(lambda w: grad(w, data), (w,), (v,))[1]

    def jvp(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:

            def jvp(x, t, data):
                with fwAD.dual_level():
                    y = fn(tuple(fwAD.make_dual(p, d) for p, d in zip(x, t)), data)
                    primal, tangent = fwAD.unpack_dual(y)
                return primal, tangent

            return jvp
        return lambda x, t, data: tf_.jvp(lambda x: fn(x, data), (x,), (t,))

    # -- compilation -------------------------------------------------------------
    def compile(self, fn):
        if not self.variant.compiled:
            return fn
        # Static shapes, like jax.jit and tf.function: one specialised graph per
        # input shape (automatic dynamic shapes break torch.func.hessian).
        return torch.compile(fn, dynamic=False)

    def iterate(self, body, n):
        # torch.compile would unroll a Python loop of n steps: compile one step instead.
        return python_loop(self.compile(body), n)


def make(info, variant) -> TorchBackend:
    return TorchBackend(info, variant)
