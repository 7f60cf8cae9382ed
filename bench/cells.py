"""A cell is one measured or checked combination:
problem x size x backend x variant x dtype x kind.

``build(cell)`` does everything that must stay outside a timer (make the data,
convert it to the backend's arrays, build and wrap the derivative function) and
returns a ``call`` that runs the cell once, synchronised, ready to be timed.
A :class:`CellSpec` is a cell placed on a device with a thread count: the one
typed value that crosses from the runner into a worker process (as JSON).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

import backends
import problems
from problems.base import Instance, flatten
from problems.nested import NestedProblem

#: pseudo-backend: the seed article's own NumPy loop, for the ``solve`` kind only
ARTICLE = "article"
#: pseudo-variant: an expert's hand-written code for a headline cell (:mod:`witnesses`)
WITNESS = "witness"
#: what a row is: a backend through the protocol, an expert's witness, or the article's own loop
ROLES = ("protocol", WITNESS, ARTICLE)


def role(backend: object, variant: object) -> str:
    """A row's role, from its ``backend`` and ``variant`` columns (the one rule; the report's ``role`` column)."""
    if isinstance(backend, str) and backend == ARTICLE:
        return ARTICLE
    return WITNESS if isinstance(variant, str) and variant == WITNESS else "protocol"


class SpecError(ValueError):
    """A cell description that does not name a known problem, backend, variant ..."""


@dataclass(frozen=True)
class Cell:
    problem: str
    size: str
    backend: str
    variant: str  #: a variant of the backend; "eager"/"compiled" name its default of that mode
    dtype: str
    kind: str

    def __post_init__(self):
        if self.backend == ARTICLE:
            object.__setattr__(self, "variant", "eager")
        elif self.variant != WITNESS and self.backend in backends.REGISTRY:
            object.__setattr__(self, "variant", backends.info(self.backend).variant(self.variant).name)

    @property
    def mode(self) -> str:
        """``eager`` or ``compiled`` (a witness runs as its framework's expert would: compiled where it can)."""
        if self.backend == ARTICLE:
            return "eager"
        if self.variant == WITNESS:
            return "compiled" if backends.info(self.backend).can_compile else "eager"
        return backends.info(self.backend).variant(self.variant).mode

    @property
    def label(self) -> str:
        """``jax+jit``, ``torch``, ``torch+autograd``, ``jax+witness``, ``article`` ..."""
        if self.backend == ARTICLE:
            return ARTICLE
        if self.variant == WITNESS:
            return f"{self.backend}+{WITNESS}"
        return backends.mode_label(self.backend, self.variant)

    @property
    def id(self) -> str:
        return "-".join((self.problem, self.size, self.label, self.dtype, self.kind))

    def as_dict(self) -> dict[str, str]:
        return {
            "problem": self.problem,
            "size": self.size,
            "backend": self.backend,
            "variant": self.variant,
            "dtype": self.dtype,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Cell:
        """From :meth:`as_dict`."""
        if not isinstance(d, dict):
            raise SpecError("a cell is a JSON object")
        fields = ("problem", "size", "backend", "variant", "dtype", "kind")
        bad = [f for f in fields if not isinstance(d.get(f), str) or not d.get(f)]
        if bad:
            raise SpecError(f"a cell needs text fields {', '.join(fields)}; wrong or missing: {', '.join(bad)}")
        try:
            return cls(*(d[f] for f in fields))
        except KeyError as exc:
            raise SpecError(str(exc).strip("'\"")) from None


@dataclass(frozen=True)
class CellSpec:
    """A cell on a device with a thread count: what one worker process measures."""

    cell: Cell
    n: int  #: the problem's main dimension at this size
    device: str
    threads: int

    @property
    def id(self) -> str:
        return f"{self.cell.id}-{self.device}-t{self.threads}"

    @property
    def group(self) -> str:
        """The worker process it runs in: its backend (the article's loops run with NumPy), device, threads."""
        backend = "numpy" if self.cell.backend == ARTICLE else self.cell.backend
        return f"{backend}-{self.device}-t{self.threads}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "cell": self.cell.as_dict(), "n": self.n, "device": self.device, "threads": self.threads}

    def columns(self) -> dict[str, Any]:
        """The columns of a results row that say which cell it is."""
        c = self.cell
        return {
            "cell": self.id,
            "problem": c.problem,
            "size": c.size,
            "n": self.n,
            "backend": c.backend,
            "mode": c.mode,
            "variant": c.variant,
            "label": c.label,
            "dtype": c.dtype,
            "device": self.device,
            "threads": self.threads,
            "kind": c.kind,
        }

    @classmethod
    def from_record(cls, record: Any) -> CellSpec:
        """From a results row or cell record (its ``problem`` ... ``kind``, ``variant``, ``n``,
        ``device`` and ``threads`` columns), checked as :meth:`from_json` checks."""
        if not isinstance(record, dict):
            raise SpecError("a cell record is a JSON object")
        fields = ("problem", "size", "backend", "variant", "dtype", "kind")
        counts = {k: record.get(k) for k in ("n", "threads")}  # a table's integers may be NumPy's
        counts = {
            k: int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v for k, v in counts.items()
        }
        return cls.from_json({"cell": {k: record.get(k) for k in fields}, "device": record.get("device")} | counts)

    @classmethod
    def from_json(cls, d: Any) -> CellSpec:
        if not isinstance(d, dict):
            raise SpecError("a cell spec is a JSON object")
        cell = Cell.from_dict(d.get("cell"))
        n, device, threads = d.get("n"), d.get("device"), d.get("threads")
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise SpecError(f"n must be a positive integer, not {n!r}")
        if device not in ("cpu", "gpu"):
            raise SpecError(f"device must be cpu or gpu, not {device!r}")
        if not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0:
            raise SpecError(f"threads must be a positive integer, not {threads!r}")
        spec = cls(cell, n, device, threads)
        if "id" in d and d["id"] != spec.id:
            raise SpecError(f"id {d['id']!r} does not match its cell ({spec.id})")
        return spec


@dataclass
class PreparedCell:
    cell: Cell
    inst: Instance
    backend: Any  #: the Backend, or None for the article baseline
    call: Callable[[], Any]  #: one synchronised run of the cell
    to_numpy: Callable[[Any], np.ndarray]  #: the derivative of interest, flat, float64
    #: the derivative of interest as NumPy arrays in their own shapes and dtype (what the agreement check inspects)
    arrays: Callable[[Any], list[np.ndarray]] | None = None


def leaves(kind: str, out: Any) -> tuple[Any, ...]:
    """The arrays of a call's output that hold the derivative of interest (the same for a witness)."""
    if kind in ("gradient", "vjp"):
        return tuple(out[1])
    if kind == "jvp":
        return (out[1],)
    if kind == "solve":
        return tuple(out)
    return (out,)  # objective, hessian, hvp


def _arrays(to_numpy: Callable[[Any], Any], kind: str) -> Callable[[Any], list[np.ndarray]]:
    return lambda out: [np.asarray(to_numpy(leaf)) for leaf in leaves(kind, out)]


def convert(backend, tree, dtype: str):
    """NumPy arrays (tuple or dict) -> the backend's arrays of ``dtype``."""
    if isinstance(tree, dict):
        return {k: backend.asarray(v, dtype) for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(backend.asarray(v, dtype) for v in tree)
    return backend.asarray(tree, dtype)


def build(cell: Cell, device: str = "cpu", seed: int = 0, iterations: int | None = None) -> PreparedCell:
    """``iterations`` shortens (or lengthens) the ``solve`` of this instance."""
    problem = problems.get(cell.problem)
    inst = problem.instance(cell.size, seed)
    if iterations is not None:
        inst.iterations = iterations
    if cell.backend == ARTICLE:
        if cell.kind != "solve":
            raise ValueError("the article baseline has the 'solve' kind only")
        return PreparedCell(
            cell,
            inst,
            None,
            lambda: problem.article_solve(inst),
            lambda out: flatten(out),
            _arrays(np.asarray, "solve"),
        )
    if cell.variant == WITNESS:
        import witnesses

        witness, call, to_numpy = witnesses.build(cell, inst, device)
        return PreparedCell(cell, inst, witness, call, to_numpy, _arrays(witness.to_numpy, cell.kind))

    b = backends.get(cell.backend, cell.variant)
    b.use_device(device)
    dtype = cell.dtype
    params, data = convert(b, inst.params, dtype), convert(b, inst.data, dtype)
    flat = lambda out: flatten(b.to_numpy(o) for o in out)  # noqa: E731

    kind = cell.kind
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    pick: Callable[[Any], Any]
    model = problem.model
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
    elif kind in ("jvp", "vjp"):
        if model is None:
            raise ValueError(f"{problem.name} has no model: no {kind}")
        if kind == "jvp":
            fn, args = b.jvp(model), (params, convert(b, inst.tangent(), dtype), data)
            pick = lambda out: np.ravel(b.to_numpy(out[1]))  # noqa: E731
        else:
            fn, args = b.vjp(model), (params, b.asarray(inst.cotangent(), dtype), data)
            pick = lambda out: flat(out[1])  # noqa: E731
    elif kind == "jacobian":  # the problem's: dense by default, compressed where it has structure
        if model is None:
            raise ValueError(f"{problem.name} has no model: no jacobian")
        fn, args, pick = problem.jacobian(b, inst), (params, data), lambda out: np.ravel(b.to_numpy(out))
    elif kind == "solve":
        fn, args, pick = problem.solver(b, inst), (params, data), flat
    elif kind in problems.NESTED_KINDS:  # a whole search that branches on values: never compiled
        if not isinstance(problem, NestedProblem):
            raise ValueError(f"{problem.name} has no nested orders")
        fn, args, pick = problem.solve_in(b, kind, inst.sized), (params, data), lambda out: np.ravel(b.to_numpy(out))
    else:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(problems.KINDS)}")
    if kind != "solve" and kind not in problems.NESTED_KINDS:
        fn = b.compile(fn)  # the identity for an eager variant
    return PreparedCell(
        cell,
        inst,
        b,
        lambda: b.block(fn(*args)),
        lambda out: np.asarray(pick(out), dtype=np.float64),
        _arrays(b.to_numpy, kind),
    )
