"""The backend protocol every problem is written against.

A problem never asks which backend it runs on. It computes with ``backend.xp``
(Array API names: ``xp.exp``, ``xp.sum(x, axis=0)``, ``xp.matmul`` ...) and asks
for derivatives through the verbs below. Each verb takes a :class:`Differentiable`
(the function written once, plus its hand-derived NumPy derivatives) and returns
a plain callable, so that ``compile`` can wrap it.

Conventions
-----------
* ``params`` is a tuple of arrays; ``data`` is a dict of arrays. Derivatives are
  always taken with respect to ``params``.
* ``hessian`` and ``hvp`` work on one flat parameter vector ``w`` (see
  :meth:`problems.base.Problem.flat_loss`), so every backend returns a plain
  matrix or vector.
* ``gradient_in(f, mode)`` is the gradient ``(w, data) -> vector`` of a scalar
  function of one flat vector ``w`` in the chosen :data:`AD_MODES` entry:
  ``reverse``, the framework's reverse mode; ``forward``, its forward mode, one
  Jacobian-vector product per entry of ``w``. It nests: ``f.value`` may call
  another ``gradient_in`` (in either mode), and ``data`` may hold arrays an
  outer derivative is tracing, so reverse over reverse, forward over forward
  and the mixed orders are each the framework's own modes, never finite
  differences. ``f.value`` may branch on values (``bool(x > 0)``): these run
  eagerly. NumPy returns the hand gradient, ``f.value_and_grad(w, data)[1]``
  (flat ``w``, flat gradient).
* ``jacobian(f)`` is the dense Jacobian ``(w, data) -> (m, n)`` of a vector
  function of one flat vector ``w`` (``f.value`` returns m numbers, ``w`` has
  n), by the framework's forward mode, its n Jacobian-vector products batched
  (``jax.jacfwd``, ``torch.func.jacfwd``, TensorFlow's ``ForwardAccumulator``
  per column); NumPy returns ``f.jacobian(w, data)``, the hand
  one. A problem whose Jacobian has structure compresses it first (the
  ``jacobian`` of a few seeded directions, :meth:`problems.base.Problem.jacobian`).
* Conversion (``asarray``, ``to_numpy``) happens outside any timer; ``block``
  waits for asynchronous work and belongs inside the timed call.
* A backend object is bound to one *variant* (``jax`` eager or ``jit``,
  ``torch`` ``func``, ``autograd`` or ``compile`` ...): ``compile`` and
  ``iterate`` follow it, and the derivative verbs may too. Its name, framework,
  capabilities and variants are declared once, in :data:`backends.REGISTRY`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

DTYPES = ("float64", "float32")
MODES = ("eager", "compiled")
DEVICES = ("cpu", "gpu")
#: the modes ``gradient_in`` takes a derivative in
AD_MODES = ("forward", "reverse")

#: Framework-native primitives a backend's ``xp`` may offer beyond the Array API.
#: A problem reaches them only through the helpers of the same names in
#: :mod:`problems.base`, which look them up on ``xp`` (a capability, never a
#: backend's name) and fall back to a stable formula of Array API functions
#: (NumPy offers none). Each must be exact to the dtype's rounding on the whole
#: real line and carry exact derivatives of every order the backend takes
#: (reverse, forward, and both nested): one fused kernel forward and backward
#: instead of the four or five of the formula, which is what an expert calls.
PRIMITIVES = {
    "sigmoid": "sigmoid(z) = 1 / (1 + exp(-z)), elementwise",
    "softplus": "softplus(z) = log(1 + exp(z)), elementwise",
    "logsumexp": "logsumexp(x, axis=None) = log(sum(exp(x), axis)), stable",
    "fori_loop": "fori_loop(lower, upper, body, state): state = body(i, state) for i = lower .. upper-1, static "
    "bounds, one loop for a compiler (not unrolled), differentiable in reverse and forward mode",
}


def namespace(base: Any, name: str, **primitives: Callable) -> types.ModuleType:
    """The namespace ``base`` (a module) with ``primitives`` added or overriding its names.

    A module object, so that ``xp.exp`` stays one dictionary lookup; names that
    ``base`` resolves lazily are still found through it.
    """
    ns = types.ModuleType(name)
    ns.__dict__.update({k: v for k, v in vars(base).items() if not k.startswith("__")})
    ns.__dict__.update(primitives)
    ns.__dict__["__getattr__"] = lambda attr: getattr(base, attr)  # PEP 562: only for names not copied
    return ns


@dataclass(frozen=True)
class Differentiable:
    """A function written once against an array namespace, with hand derivatives.

    ``value(xp, x, data)`` is the function itself. The other fields are the
    article's own math in NumPy, used by the NumPy backend and as the golden
    reference for every autodiff backend (``None`` where not derived):

    * ``value_and_grad(x, data)`` -> ``(value, tuple shaped like x)``; the value
      comes along because hand code shares the forward pass, as autodiff does
    * ``hessian(w, data)`` -> ``(n, n)`` matrix, ``w`` flat
    * ``hvp(w, v, data)`` -> vector; defaults to ``hessian(w, data) @ v``
    * ``jvp(x, t, data)`` -> ``(value, tangent_out)``
    * ``vjp(x, u, data)`` -> ``(value, cotangents shaped like x)``
    * ``jacobian(w, data)`` -> ``(m, n)`` matrix, ``w`` flat (n entries), ``value`` a vector of m
    """

    value: Callable[..., Any]
    value_and_grad: Callable[..., Any] | None = None
    hessian: Callable[..., Any] | None = None
    hvp: Callable[..., Any] | None = None
    jvp: Callable[..., Any] | None = None
    vjp: Callable[..., Any] | None = None
    jacobian: Callable[..., Any] | None = None

    def hand(self, kind: str) -> Callable[..., Any]:
        """The hand derivative for ``kind``, or a clear error if there is none."""
        fn = getattr(self, kind)
        hessian = self.hessian
        if fn is None and kind == "hvp" and hessian is not None:
            return lambda w, v, data: hessian(w, data) @ v
        if fn is None:
            raise NotImplementedError(f"no hand-derived {kind} for {self.value.__qualname__}")
        return fn


@runtime_checkable
class Backend(Protocol):
    """What a problem may use. One implementation per framework in this package."""

    name: str  #: "numpy", "jax", "torch", "tensorflow"
    framework: str  #: the top-level module that provides it
    has_autodiff: bool  #: False: derivatives come from the hand-derived ones
    variant: Any  #: the :class:`backends.Variant` this object runs (``variant.compiled``)
    xp: Any  #: Array API namespace the problems compute with

    def version(self) -> str: ...
    def set_threads(self, threads: int) -> dict[str, Any]: ...
    def devices(self) -> list[str]: ...
    def use_device(self, device: str) -> None: ...
    def device(self) -> str: ...

    # conversion, always outside any timer
    def asarray(self, a: Any, dtype: str) -> Any: ...
    def to_numpy(self, x: Any) -> Any: ...
    def block(self, x: Any) -> Any: ...

    # derivative verbs
    def value_and_grad(self, f: Differentiable) -> Callable: ...
    def hessian(self, f: Differentiable) -> Callable: ...
    def hvp(self, f: Differentiable) -> Callable: ...
    def jvp(self, f: Differentiable) -> Callable: ...
    def vjp(self, f: Differentiable) -> Callable: ...
    def gradient_in(self, f: Differentiable, mode: str) -> Callable: ...
    def jacobian(self, f: Differentiable) -> Callable: ...

    # compilation and loops, as the variant runs them
    def compile(self, fn: Callable) -> Callable: ...
    def iterate(self, body: Callable, n: int) -> Callable: ...


class BackendBase:
    """Identity and capabilities read from the backend's registry entry, once.

    ``compile`` of an eager variant is the identity; ``set_threads`` is for
    frameworks whose thread pools are sized by a function call (called right
    after the import, before any computation) and returns what it set.
    """

    def __init__(self, info, variant):
        self.info, self.variant = info, variant

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def framework(self) -> str:
        return self.info.framework

    @property
    def has_autodiff(self) -> bool:
        return self.info.has_autodiff

    @property
    def can_compile(self) -> bool:
        return self.variant.compiled

    @property
    def label(self) -> str:
        return self.info.label(self.variant.name)

    def set_threads(self, threads: int) -> dict[str, Any]:
        return {}


class BackendUnavailable(RuntimeError):
    """The framework behind a backend is not installed (or cannot start)."""


class DeviceUnavailable(RuntimeError):
    """The requested device is not visible to the framework."""


def check_ad_mode(mode: str) -> None:
    """``ValueError`` naming :data:`AD_MODES` unless ``mode`` is one of them."""
    if mode not in AD_MODES:
        raise ValueError(f"unknown derivative mode {mode!r}; choose from {', '.join(AD_MODES)}")


def python_loop(body: Callable, n: int) -> Callable:
    """Run ``state = body(state, data)`` n times in Python (eager iterate)."""

    def run(state, data):
        for _ in range(n):
            state = body(state, data)
        return state

    return run
