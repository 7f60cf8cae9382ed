"""JAX: ``jax.value_and_grad``, ``jax.hessian``, ``jax.jvp``/``jax.vjp``; variants ``eager`` and ``jit``.

float64 needs ``jax_enable_x64``, switched on when this backend is chosen.
Results of JAX calls are asynchronous: ``block`` waits with ``block_until_ready``.
The array namespace is ``jax.numpy`` with ``jax.nn``'s fused primitives.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .base import BackendBase, DeviceUnavailable, Differentiable, check_ad_mode, namespace, python_loop

jax.config.update("jax_enable_x64", True)

# jax.nn's functions are jitted: one dispatch each in eager mode instead of four or five.
xp = namespace(
    jnp,
    "backends.jax.xp",
    sigmoid=jax.nn.sigmoid,
    softplus=jax.nn.softplus,
    logsumexp=jax.nn.logsumexp,
    fori_loop=jax.lax.fori_loop,
)


class JaxBackend(BackendBase):
    xp = xp

    def __init__(self, info, variant):
        super().__init__(info, variant)
        self._device = jax.devices("cpu")[0]

    def version(self) -> str:
        return jax.__version__

    def devices(self) -> list[str]:
        return sorted({d.platform.replace("cuda", "gpu").replace("rocm", "gpu") for d in jax.devices()} | {"cpu"})

    def use_device(self, device: str) -> None:
        try:
            self._device = jax.devices(device)[0]
        except RuntimeError as exc:
            raise DeviceUnavailable(f"jax sees no {device} device ({exc})") from None

    def device(self) -> str:
        return "cpu" if self._device.platform == "cpu" else "gpu"

    def asarray(self, a, dtype):
        return jax.device_put(jnp.asarray(np.asarray(a), dtype=dtype), self._device)

    def to_numpy(self, x):
        return np.asarray(x)

    def block(self, x):
        return jax.block_until_ready(x)

    def value_and_grad(self, f: Differentiable):
        return jax.value_and_grad(partial(f.value, xp))

    # Second order, chosen by measurement (one thread, CPU ms; jit / eager):
    #   Hessian: under jit, jacrev(jacrev) 12.7 / jacfwd(jacrev) 13.7 on newton medium,
    #     0.107 / 0.127 on kmeans small, 207 / 207 on logistic_regression medium; eager,
    #     jax.hessian = jacfwd(jacrev) wins (56 vs 61, 8 vs 14). jacfwd(jacfwd): 25x slower.
    #   HVP: under jit, reverse over reverse (vjp of grad) 0.48 against forward over reverse
    #     (jvp of grad) 1.46 on newton medium (0.072 / 0.088 kmeans, 23.4 / 24.4 logistic);
    #     eager, forward over reverse: 8.7 against 15.4 (3.2 / 6.3, 47 / 59).
    def hessian(self, f: Differentiable):
        fn = partial(f.value, xp)
        return jax.jacrev(jax.jacrev(fn)) if self.variant.compiled else jax.hessian(fn)

    def hvp(self, f: Differentiable):
        grad = jax.grad(partial(f.value, xp))
        if self.variant.compiled:
            return lambda w, v, data: jax.vjp(lambda w: grad(w, data), w)[1](v)[0]
        return lambda w, v, data: jax.jvp(lambda w: grad(w, data), (w,), (v,))[1]

    def jvp(self, f: Differentiable):
        return lambda x, t, data: jax.jvp(lambda x: f.value(xp, x, data), (x,), (t,))

    def vjp(self, f: Differentiable):
        def vjp(x, u, data):
            y, pullback = jax.vjp(lambda x: f.value(xp, x, data), x)
            return y, pullback(u)[0]

        return vjp

    def gradient_in(self, f: Differentiable, mode: str):
        check_ad_mode(mode)
        fn = partial(f.value, xp)

        def forward(w, data):  # one jax.jvp per entry (not jacfwd: vmap cannot branch on values)
            basis = jnp.eye(w.shape[0], dtype=w.dtype)
            return jnp.stack([jax.jvp(lambda w: fn(w, data), (w,), (e,))[1] for e in basis])

        gradient = jax.grad(fn) if mode == "reverse" else forward
        return _jit_unless_branching(gradient) if self.variant.compiled else gradient

    def jacobian(self, f: Differentiable):
        return jax.jacfwd(partial(f.value, xp))  # forward mode: one batched jvp per column

    def compile(self, fn):
        return jax.jit(fn) if self.variant.compiled else fn

    def iterate(self, body, n):
        if not self.variant.compiled:
            return python_loop(body, n)
        return jax.jit(lambda state, data: jax.lax.fori_loop(0, n, lambda i, s: body(s, data), state))


def _jit_unless_branching(fn):
    """``jax.jit(fn)`` until a trace branches on a value (a search's loop): from then on ``fn`` eagerly.
    A jitted derivative nests like any other: an outer derivative traces through it."""
    state = {"fn": jax.jit(fn)}

    def call(*args):
        try:
            return state["fn"](*args)
        except jax.errors.ConcretizationTypeError:
            state["fn"] = fn
            return fn(*args)

    return call


def make(info, variant) -> JaxBackend:
    return JaxBackend(info, variant)
