"""PyTorch, three variants:

* ``func``: the ``torch.func`` transforms (``grad_and_value``, ``hessian``,
  ``jvp``, ``vjp``), functional, op by op;
* ``autograd``: what most PyTorch code does: tensors with ``requires_grad``,
  ``torch.autograd.grad`` (reverse), ``torch.autograd.forward_ad`` (forward);
* ``compile``: the ``func`` derivatives under ``torch.compile``; a solve
  compiles one step and loops in Python (compiling n unrolled steps would not end).

The array namespace is ``array_api_compat.torch`` with PyTorch's fused
primitives (``torch.sigmoid``, ``F.softplus``, ``torch.logsumexp``) and fast
paths for ``matmul`` and ``sum``.
"""

from __future__ import annotations

import array_api_compat.torch as compat
import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.func as torch_func
import torch.nn.functional as F

from .base import BackendBase, DeviceUnavailable, Differentiable, check_ad_mode, namespace, python_loop


def _matmul(a, b):
    # array-api-compat promotes mixed dtypes first, at 7 us a call: a tenth of a small
    # network's step. Same dtypes need no promotion.
    if a.dtype == b.dtype:
        return torch.matmul(a, b)
    return compat.matmul(a, b)


def _sum(x, /, *, axis=None, dtype=None, keepdims=False):
    # array-api-compat's own path for a whole-array sum, without its wrapper (1 us of 3)
    if axis is None and not keepdims:
        return torch.sum(x, dtype=dtype)
    return compat.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _softplus(z):
    # F.softplus returns z itself past its threshold (default 20, where log1p(exp(-20))
    # = 2e-9 is still far above float64's rounding); from 40 on, exp(-z) is below
    # every dtype's rounding of z, so the shortcut is exact.
    return F.softplus(z, threshold=40.0)


def _logsumexp(x, axis=None):
    return torch.logsumexp(x, dim=tuple(range(x.ndim)) if axis is None else axis)


xp = namespace(
    compat,
    "backends.torch.xp",
    matmul=_matmul,
    sum=_sum,
    sigmoid=torch.sigmoid,
    softplus=_softplus,
    logsumexp=_logsumexp,
)

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

            def autograd_value_and_grad(params, data):
                leaves = tuple(p.detach().requires_grad_(True) for p in params)
                value = fn(leaves, data)
                return value.detach(), torch.autograd.grad(value, leaves)

            return autograd_value_and_grad

        grad_and_value = torch_func.grad_and_value(fn)

        def value_and_grad(params, data):
            grads, value = grad_and_value(params, data)
            return value, grads

        return value_and_grad

    def vjp(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:

            def autograd_vjp(x, u, data):
                leaves = tuple(p.detach().requires_grad_(True) for p in x)
                y = fn(leaves, data)
                return y.detach(), torch.autograd.grad(y, leaves, grad_outputs=u)

            return autograd_vjp

        def vjp(x, u, data):
            y, pullback = torch_func.vjp(lambda x: fn(x, data), x)
            return y, pullback(u)[0]

        return vjp

    # -- second order and forward mode -----------------------------------------
    # Second order: reverse over reverse, chosen by measurement (newton, 10,000 x 101, one
    # thread, CPU ms): PyTorch's forward mode under vmap turns the matrix-vector product of
    # the backward pass into a batched bmm that reads X once per row of the Hessian.
    #   Hessian, func:     jacrev(jacrev) 22    torch.func.hessian = jacfwd(jacrev) 119
    #   Hessian, compile:  jacrev(jacrev) 13    jacfwd(jacrev) 59
    #   Hessian, autograd: one double backward per row 62 (autograd.functional.hessian's
    #                      default); vectorize=True 252; is_grads_batched 235 (the same bmm)
    #   HVP:               vjp of grad 2.1 (compiled 1.5), jvp of grad 4.9 (compiled 2.5);
    #                      autograd double backward 1.3. Same order on logistic_regression
    #                      medium (39 vs 130) and kmeans small (0.48 vs 1.37).
    def hessian(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:
            return lambda w, data: torch.autograd.functional.hessian(lambda w: fn(w, data), w)
        return torch_func.jacrev(torch_func.jacrev(fn))

    def hvp(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:

            def hvp(w, v, data):  # the gradient, then the gradient of <g, v>
                leaf = w.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(fn(leaf, data), leaf, create_graph=True)
                (hv,) = torch.autograd.grad(g, leaf, grad_outputs=v)
                return hv

            return hvp
        grad = torch_func.grad(fn)
        return lambda w, v, data: torch_func.vjp(lambda w: grad(w, data), w)[1](v)[0]

    def jvp(self, f: Differentiable):
        fn = self._fn(f)
        if self._autograd:

            def jvp(x, t, data):
                with fwAD.dual_level():
                    y = fn(tuple(fwAD.make_dual(p, d) for p, d in zip(x, t)), data)
                    primal, tangent = fwAD.unpack_dual(y)
                return primal, tangent

            return jvp
        return lambda x, t, data: torch_func.jvp(lambda x: fn(x, data), (x,), (t,))

    def gradient_in(self, f: Differentiable, mode: str):
        # torch.func in every variant: its transforms nest in any order (forward_ad's dual levels do not)
        check_ad_mode(mode)
        fn = self._fn(f)
        if mode == "reverse":
            return torch_func.grad(fn)

        def forward(w, data):  # one torch.func.jvp per entry
            basis = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
            return torch.stack([torch_func.jvp(lambda w: fn(w, data), (w,), (e,))[1] for e in basis])

        return forward

    def jacobian(self, f: Differentiable):
        # forward mode, the columns batched: torch.func's jacfwd (vmap of jvp); autograd's functional
        # jacobian with the same strategy for the autograd variant
        fn = self._fn(f)
        if self._autograd:
            return lambda w, data: torch.autograd.functional.jacobian(
                lambda w: fn(w, data), w, vectorize=True, strategy="forward-mode"
            )
        return torch_func.jacfwd(fn)

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
