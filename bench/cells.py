"""A cell is one measured or checked combination:
problem x size x backend x mode x dtype x kind.

``build(cell)`` does everything that must stay outside a timer (make the data,
convert it to the backend's arrays, build and wrap the derivative function) and
returns a ``call`` that runs the cell once, synchronised, ready to be timed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Callable

import numpy as np

import backends
import problems
from problems.base import Instance, flatten

#: pseudo-backend: the seed article's own NumPy loop, for the ``solve`` kind only
ARTICLE = "article"


@dataclass(frozen=True)
class Cell:
    problem: str
    size: str
    backend: str
    mode: str
    dtype: str
    kind: str

    @property
    def id(self) -> str:
        return "-".join((self.problem, self.size, self.label, self.dtype, self.kind))

    @property
    def label(self) -> str:
        """``jax+jit``, ``torch``, ``article`` ..."""
        return ARTICLE if self.backend == ARTICLE else backends.mode_label(self.backend, self.mode)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Built:
    cell: Cell
    inst: Instance
    backend: Any  #: the Backend, or None for the article baseline
    call: Callable[[], Any]  #: one synchronised run of the cell
    to_numpy: Callable[[Any], np.ndarray]  #: the derivative of interest, flat, float64


def convert(backend, tree, dtype: str):
    """NumPy arrays (tuple or dict) -> the backend's arrays of ``dtype``."""
    if isinstance(tree, dict):
        return {k: backend.asarray(v, dtype) for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(backend.asarray(v, dtype) for v in tree)
    return backend.asarray(tree, dtype)


def build(cell: Cell, device: str = "cpu", seed: int = 0, iterations: int | None = None) -> Built:
    """``iterations`` shortens (or lengthens) the ``solve`` of this instance."""
    problem = problems.get(cell.problem)
    inst = problem.instance(cell.size, seed)
    if iterations is not None:
        inst.iterations = iterations
    if cell.backend == ARTICLE:
        if cell.kind != "solve":
            raise ValueError("the article baseline has the 'solve' kind only")
        return Built(cell, inst, None, lambda: problem.article_solve(inst), lambda out: flatten(out))

    b = backends.get(cell.backend)
    b.use_device(device)
    dtype, compiled = cell.dtype, cell.mode == "compiled"
    params, data = convert(b, inst.params, dtype), convert(b, inst.data, dtype)
    flat = lambda out: flatten(b.to_numpy(o) for o in out)  # noqa: E731

    kind = cell.kind
    if kind == "objective":
        fn, args, pick = partial(problem.loss.value, b.xp), (params, data), lambda out: np.ravel(b.to_numpy(out))
    elif kind == "gradient":
        fn, args, pick = b.value_and_grad(problem.loss), (params, data), lambda out: flat(out[1])
    elif kind in ("hessian", "hvp"):
        flat_loss = problem.flat_loss(inst)
        w = b.asarray(inst.flat_params(), dtype)
        if kind == "hessian":
            fn, args = b.hessian(flat_loss), (w, data)
        else:
            fn, args = b.hvp(flat_loss), (w, b.asarray(flatten(inst.tangent()), dtype), data)
        pick = lambda out: np.ravel(b.to_numpy(out))  # noqa: E731
    elif kind == "jvp":
        fn, args = b.jvp(problem.model), (params, convert(b, inst.tangent(), dtype), data)
        pick = lambda out: np.ravel(b.to_numpy(out[1]))  # noqa: E731
    elif kind == "vjp":
        fn, args = b.vjp(problem.model), (params, b.asarray(inst.cotangent(), dtype), data)
        pick = lambda out: flat(out[1])  # noqa: E731
    elif kind == "solve":
        fn, args, pick = problem.solver(b, inst, compiled), (params, data), flat
    else:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(problems.KINDS)}")
    if compiled and kind != "solve":
        fn = b.compile(fn)
    return Built(cell, inst, b, lambda: b.block(fn(*args)), lambda out: np.asarray(pick(out), dtype=np.float64))
