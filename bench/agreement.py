"""The measures of agreement between an output and its reference (used by :mod:`bench.check` and
:mod:`bench.solves`): what the output's arrays must look like before any value is compared, and how far
its values may be from the reference's.

* :func:`structure`: the number of arrays, their shapes and their dtype (the cell's);
* :func:`error`: the scale-aware measure the check decides with, ||x - y|| / ||y|| (2-norms): a
  derivative 1% off is off by 0.01 whatever the magnitude of its entries and their number;
* :func:`rho`: ADBench's rho(x, y) = |x - y| / max(1, |x| + |y|), kept for comparison with
  ADBench's tables (absolute for entries below 1, it lets a 1% error of small entries pass).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

import problems


def error(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Normwise relative error ||x - y|| / ||y|| (2-norms; absolute where y is all zero) and the entry where
    |x - y| is largest; inf for a NaN/Inf or a size mismatch. A derivative 1% off everywhere is off by 0.01."""
    x, y = np.ravel(np.asarray(x, dtype=np.float64)), np.ravel(np.asarray(y, dtype=np.float64))
    if x.shape != y.shape:
        return math.inf, -1
    if x.size == 0:
        return 0.0, -1
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        bad = ~(np.isfinite(x) & np.isfinite(y))
        return math.inf, int(np.argmax(bad))
    d = np.abs(x - y)
    scale = float(np.linalg.norm(y))
    return float(np.linalg.norm(d)) / (scale if scale > 0 else 1.0), int(np.argmax(d))


def rho(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Worst ADBench rho over entries and where it occurs; inf for NaN/Inf or a size mismatch."""
    x, y = np.ravel(np.asarray(x, dtype=np.float64)), np.ravel(np.asarray(y, dtype=np.float64))
    if x.shape != y.shape:
        return math.inf, -1
    if x.size == 0:
        return 0.0, -1
    r = np.abs(x - y) / np.maximum(1.0, np.abs(x) + np.abs(y))
    r = np.where(np.isfinite(x) & np.isfinite(y), r, np.inf)
    where = int(np.argmax(r))
    return float(r[where]), where


def compared(reference: str, x: np.ndarray, y: np.ndarray, tolerance: float) -> dict:
    """One row of the check: ``x`` against the reference ``y`` (relative error, ADBench's rho, the verdict)."""
    e, where = error(x, y)
    return {
        "reference": reference,
        "rel_error": e,
        "rho": rho(x, y)[0],
        "tolerance": tolerance,
        "ok": bool(e <= tolerance),
        "where": where,
    }


@lru_cache(maxsize=256)
def expected_shapes(problem_name: str, size: str, kind: str) -> tuple[tuple[int, ...], ...]:
    """The shapes of the arrays a cell of this kind must return (one per parameter for a gradient, vjp, solve)."""
    problem = problems.get(problem_name)
    inst = problem.instance(size)
    if kind in ("gradient", "vjp", "solve"):
        return inst.shapes
    if kind == "hessian":
        return ((inst.n_params, inst.n_params),)
    if kind == "hvp":
        return ((inst.n_params,),)
    if kind == "jvp":
        return (np.shape(problem.model.value(np, inst.params, inst.data)),)
    if kind == "jacobian":
        return (np.shape(problem.hand_jacobian(inst.params, inst.data)),)
    if kind == "objective":  # a scalar, or the residuals of a problem whose objective is a vector (ba)
        return (np.shape(problem.loss.value(np, inst.params, inst.data)),)
    if kind in problems.NESTED_KINDS:
        return (np.shape(problem.answer),)  # the eval's output: w, or (r1, r2)
    return ((),)  # objective: a scalar


def structure(cell, arrays: list[np.ndarray]) -> list[str]:
    """What is wrong with a cell's output arrays before any value is compared: their number, shapes, dtype."""
    want = expected_shapes(cell.problem, cell.size, cell.kind)
    found = tuple(tuple(np.shape(a)) for a in arrays)
    wrong = []
    if len(found) != len(want):
        wrong.append(f"{len(found)} arrays where {len(want)} were expected")
    elif found != want:
        wrong += [f"shape {f} where {w} was expected" for f, w in zip(found, want) if f != w]
    dtypes = sorted({str(np.asarray(a).dtype) for a in arrays} - {cell.dtype})
    if dtypes:
        wrong.append(f"{', '.join(dtypes)} result in a {cell.dtype} cell")
    return wrong
