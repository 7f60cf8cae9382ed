"""What a problem declares, and the machinery every problem shares.

A problem is written once: ``make_data`` and ``init_params`` in NumPy, the loss
(and optionally a vector-valued ``model``) against the array namespace ``xp``
with its hand derivatives attached (a :class:`backends.base.Differentiable`),
and the article's iterative algorithm as one ``step`` on top of the backend's
verbs. Nothing here or in a problem asks which backend it runs on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backends.base import Differentiable

#: every derivative kind a problem may define, in display order
#: GradBench's nested-derivative orders (``particle``, ``saddle``): the outer derivative's mode, then the
#: inner one's (r reverse, f forward); each a whole search whose derivatives nest (:mod:`problems.nested`)
NESTED_KINDS = ("rr", "ff", "fr", "rf")
#: ``jacobian``: the Jacobian of the vector ``model`` by the backend's forward mode (:meth:`Problem.jacobian`)
KINDS = ("objective", "gradient", "hessian", "hvp", "jvp", "vjp", "jacobian", "solve") + NESTED_KINDS
DERIVATIVE_KINDS = KINDS[1:7]


class SizeError(ValueError):
    """A size that is not a known name or a positive integer within limits."""


@dataclass(frozen=True)
class Size:
    """A resolved size: its label and the problem's main dimension.

    Only the size *named* ``article`` is the seed article's own example; an
    integer that happens to equal its dimension is generated data like any other.
    """

    label: str  #: the name asked for ("small") or the integer as text ("5000")
    n: int  #: the main dimension

    @property
    def article(self) -> bool:
        return self.label == "article"


@dataclass
class Instance:
    """One problem at one size: the NumPy data and starting parameters."""

    problem: Problem
    size: str  #: the name asked for ("small") or the integer as text ("5000")
    n: int  #: the main dimension
    data: dict[str, np.ndarray]
    params: tuple[np.ndarray, ...]
    iterations: int

    @property
    def article(self) -> bool:
        """Whether this is the seed article's own example (the size named ``article``)."""
        return self.size == "article"

    @property
    def sized(self) -> Size:
        return Size(self.size, self.n)

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(p.shape for p in self.params)

    @property
    def n_params(self) -> int:
        return int(sum(p.size for p in self.params))

    def flat_params(self) -> np.ndarray:
        return flatten(self.params)

    def tangent(self, seed: int = 1) -> tuple[np.ndarray, ...]:
        """A fixed random direction in parameter space (for jvp and hvp)."""
        rng = np.random.default_rng(seed)
        return tuple(rng.standard_normal(p.shape) for p in self.params)

    def cotangent(self, seed: int = 2) -> np.ndarray:
        """A fixed random direction in the model's output space (for vjp)."""
        model = self.problem.model
        if model is None:
            raise NotImplementedError(f"{self.problem.name} has no model: no output space for a vjp")
        out = model.value(np, self.params, self.data)
        return np.random.default_rng(seed).standard_normal(np.shape(out))


class Problem:
    """Base class. Subclasses set the class attributes and the four methods."""

    name: str = ""
    description: str = ""
    size_unit: str = "samples"  #: what the main dimension counts
    sizes: dict[str, int] = {}  #: named sizes -> main dimension
    #: sizes ``python -m bench run`` times by default: all four backends and every
    #: kind finish in about 10 minutes on two cores; add ``--size medium`` for more
    default_sizes: tuple[str, ...] = ("article", "small")
    check_size: str = "small"  #: the size the agreement check uses
    max_n: int = 10_000_000  #: largest main dimension accepted
    hessian_limit: int = 1_000  #: no dense Hessian beyond this many parameters
    gradbench_sizes: tuple[str, ...] = ()  #: the sizes that are GradBench's own workloads, in its order
    #: a loop whose trip count is a data size (lstm: one step per character), which a compiler that
    #: unrolls Python loops cannot reach at GradBench's sizes (``BackendInfo.long_loop_variant``)
    long_loop: bool = False
    loss: Differentiable
    #: vector function of params (jvp, vjp; jacobian where it carries a hand ``jacobian``)
    model: Differentiable | None = None

    # --- to implement -------------------------------------------------
    # ``size.article`` is True for the size named ``article`` only: the seed's own example.
    def make_data(self, rng: np.random.Generator, size: Size) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def init_params(self, rng: np.random.Generator, size: Size, data) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def iterations(self, size: Size) -> int:
        """How many steps ``solve`` runs at this size."""
        return 100

    def learning_rate(self, size: Size) -> float:
        return 0.1

    def step(self, backend, inst: Instance) -> Callable:
        """One iteration of the article's algorithm: ``body(params, data) -> params``."""
        return gradient_descent_step(backend, self.loss, self.learning_rate(inst.sized))

    def article_solve(self, inst: Instance) -> tuple[np.ndarray, ...]:
        """The seed article's own NumPy loop on this instance, where it has one."""
        raise NotImplementedError(f"the article has no loop of its own for {self.name}")

    @property
    def has_article(self) -> bool:
        """Whether ``article_solve`` exists (a baseline row ``article`` for ``solve``)."""
        return type(self).article_solve is not Problem.article_solve

    def progress(self, params, data) -> float:
        """The quantity the algorithm decreases, in NumPy (default: the loss)."""
        return float(self.loss.value(np, params, data))

    # --- shared -------------------------------------------------------
    def bytes_per_n(self) -> float:
        """Rough memory of one unit of the main dimension, float64, for size limits."""
        return 8.0 * 64

    def resolve_size(self, size: str | int) -> Size:
        """``Size("small", 1000)`` from a size name or a positive integer."""
        if isinstance(size, str) and size in self.sizes:
            return Size(size, self.sizes[size])
        text = str(size).strip()
        try:
            n = int(text)
        except ValueError:
            raise SizeError(
                f"unknown size {text!r} for {self.name}; use one of {', '.join(self.sizes)} or a positive integer"
            ) from None
        if n <= 0:
            raise SizeError(f"size {n} for {self.name} must be a positive integer")
        if n > self.max_n:
            raise SizeError(f"size {n} for {self.name} is larger than the limit {self.max_n:,}")
        return Size(str(n), n)

    def instance(self, size: str | int = "small", seed: int = 0) -> Instance:
        resolved = self.resolve_size(size)
        rng = np.random.default_rng(seed)
        data = self.make_data(rng, resolved)
        params = tuple(np.asarray(p, dtype=np.float64) for p in self.init_params(rng, resolved, data))
        return Instance(self, resolved.label, resolved.n, data, params, self.iterations(resolved))

    def kinds(self, inst: Instance | None = None) -> tuple[str, ...]:
        """The kinds this problem defines (at this instance's size, if given)."""
        kinds = ["objective", "gradient"]
        hessian_ok = self.loss.hessian is not None and (inst is None or inst.n_params <= self.hessian_limit)
        if hessian_ok:
            kinds.append("hessian")
        if self.loss.hessian is not None or self.loss.hvp is not None:
            kinds.append("hvp")
        if self.model is not None:
            kinds += ["jvp", "vjp"]
        if self.model is not None and self.model.jacobian is not None:
            kinds.append("jacobian")
        kinds.append("solve")
        return tuple(kinds)

    def jacobian(self, backend, inst: Instance) -> Callable:
        """The ``jacobian`` kind, ``(params, data) -> J``: by default the dense Jacobian (outputs x parameters)
        of ``model`` with respect to the flat parameters, by the backend's ``jacobian`` verb (its forward mode;
        NumPy: ``model.jacobian``, the hand one). A problem whose Jacobian has structure overrides this and
        :meth:`hand_jacobian` together (:mod:`problems.ba`: a few compressed columns, then its sparse format)."""
        model, shapes = self.model, inst.shapes
        if model is None:
            raise NotImplementedError(f"{self.name} has no model: no jacobian")
        flat = Differentiable(
            value=lambda xp, w, data: xp.reshape(model.value(xp, unflatten(xp, w, shapes), data), (-1,)),
            jacobian=model.jacobian,
        )
        jacobian, xp = backend.jacobian(flat), backend.xp
        return lambda params, data: jacobian(xp.concat([xp.reshape(p, (-1,)) for p in params]), data)

    def hand_jacobian(self, params, data) -> np.ndarray:
        """What :meth:`jacobian` returns, from the hand derivatives in NumPy (the golden reference)."""
        if self.model is None:
            raise NotImplementedError(f"{self.name} has no model: no jacobian")
        return np.asarray(self.model.hand("jacobian")(flatten(params), data))

    def jacobian_differences(self, params, data, differences: Callable) -> np.ndarray:
        """:meth:`hand_jacobian` again, by ``differences(f, w)`` (a Jacobian of a vector function ``f`` of a flat
        ``w`` by differences, one column per entry): by default the model's, over every parameter."""
        shapes = [np.shape(p) for p in params]
        model = self.model
        if model is None:
            raise NotImplementedError(f"{self.name} has no model: no jacobian")
        return differences(lambda w: np.ravel(model.value(np, unflatten(np, w, shapes), data)), flatten(params))

    def flat_loss(self, inst: Instance) -> Differentiable:
        """The loss as a function of one flat parameter vector (for hessian, hvp)."""
        return as_flat(self.loss, inst.shapes)

    def solver(self, backend, inst: Instance) -> Callable:
        """The whole iterative algorithm: ``run(params, data) -> params``, looped as the backend's variant loops."""
        return backend.iterate(self.step(backend, inst), inst.iterations)


# --- helpers problems share ------------------------------------------------


def flatten(params) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in params])


def unflatten(xp, w, shapes):
    """Split a flat vector back into arrays of the given shapes (any backend)."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(xp.reshape(w[start : start + size], shape))
        start += size
    return tuple(out)


def as_flat(fn: Differentiable, shapes) -> Differentiable:
    """``fn`` of a parameter tuple as a function of one flat vector (hessian, hvp)."""
    return Differentiable(
        value=lambda xp, w, data: fn.value(xp, unflatten(xp, w, shapes), data),
        hessian=fn.hessian,
        hvp=fn.hvp,
    )


def gradient_descent_step(backend, loss: Differentiable, rate: float) -> Callable:
    """``params <- params - rate * grad``, the article's update, on any backend."""
    value_and_grad = backend.value_and_grad(loss)

    def body(params, data):
        _, grads = value_and_grad(params, data)
        return tuple(p - rate * g for p, g in zip(params, grads))

    return body


# Primitives: the namespace's fused version where it offers one (a capability of
# ``xp``, see backends.base.PRIMITIVES), else a stable formula of Array API functions.


def sigmoid(xp, z):
    """Logistic function without overflow for large |z|."""
    fused = getattr(xp, "sigmoid", None)
    if fused is not None:
        return fused(z)
    return 0.5 * (xp.tanh(0.5 * z) + 1.0)


def softplus(xp, z):
    """log(1 + exp(z)) without overflow or log(0)."""
    fused = getattr(xp, "softplus", None)
    if fused is not None:
        return fused(z)
    return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))


def logsumexp(xp, x, axis=None):
    """log(sum(exp(x))) over ``axis`` (every entry: None), with the max trick."""
    fused = getattr(xp, "logsumexp", None)
    if fused is not None:
        return fused(x, axis=axis)
    if axis is None:
        a = xp.max(x)
        return a + xp.log(xp.sum(xp.exp(x - a)))
    a = xp.max(x, axis=axis)
    return a + xp.log(xp.sum(xp.exp(x - xp.expand_dims(a, axis=axis)), axis=axis))
