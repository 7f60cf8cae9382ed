"""Is a ``solve`` right? Every backend's iterative algorithm against NumPy's, on the same instance.

A solve (gradient descent, Newton, Lloyd steps ...) that runs fewer iterations than asked is
faster for a wrong reason; its derivatives can all be right. Two checks catch it:

* ``python -m bench check`` compares the final parameters (scale-aware error, as for the
  derivatives) and the final loss with NumPy's solve computed in float64 on the same
  (dtype-rounded) instance, and, for NumPy's own row at the article's size, with the
  article's own loop. It runs the solve at :func:`check_iterations`: the instance's own count, or half of it
  (again) while a loop one tenth shorter (at least one step) would still end within a hundred
  tolerances of the full one: a converged algorithm hides a short loop, a moving one shows it.
* ``python -m bench run`` records a fingerprint of each solve's result (:func:`fingerprint`:
  the final loss and the norm of the final parameters) in its cell record, and :func:`judge`
  marks a row whose fingerprint disagrees with NumPy's row of the same run ``wrong``: never
  timed, never ranked (the article's own loop away from the article's size, whose step size is
  the example's, is left unchecked instead).
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

import backends
import problems
from problems.base import flatten, unflatten

from .agreement import compared, error, rho
from .cells import ARTICLE

#: what the worker records of a solve's result (columns of the results table)
FINGERPRINT = ("final_loss", "final_norm")
#: the status of a row whose solve disagrees with NumPy's in the same run
WRONG = "wrong"

# Tolerances of the check (final parameters: ||x - y|| / ||y||; final loss: |l - l_ref| / max(|l_0|, |l_ref|)),
# measured against NumPy's solve on every problem at its check size and its default sizes, every backend, variant
# and witness, both dtypes (logistic regression at 100,000 x 100, XOR for 10,000 epochs included):
#   float64: honest rows differ by at most 2e-15 (summation order); 1e-10 leaves room for other machines and sizes.
#   float32: by at most 1.1e-6 in the parameters and 9e-7 in the loss (XOR: float32 rounding of every step, which
#            the training does not amplify); 5e-5 leaves a factor of 45.
#   A loop one tenth shorter moves the parameters by 2e-2 to 1e-1 where the algorithm still moves, by 2e-5
#   (quadratic, small) where it has nearly converged and by nothing where it has (Newton, k-means at the article's
#   size): check_iterations chooses a count where it moves by at least SEPARATION tolerances.
TOLERANCES = {"float64": 1e-10, "float32": 5e-5}
#: a loop 10% shorter must end at least this many tolerances away from the full one at the checked iteration count
SEPARATION = 100.0
# Tolerances of the run's fingerprint (relative difference of the final parameters' norms, and of the final losses
# with losses below 1 compared absolutely; honest rows: at most 1.1e-6 in float32, 2e-15 in float64, as above): the
# run's sizes reach far beyond the check's (float32 rounding grows with the data) and a false alarm would discard an
# honest timing, so these leave a factor of 100: a tenth of the iterations (0.1 to 1 relative) and a 10% shorter
# loop on a moving algorithm (1e-3 to 1e-1) are caught; a short loop on an algorithm that has converged ends where
# the full one does and is left to the check.
RUN_TOLERANCES = {"float64": 1e-8, "float32": 1e-4}
#: columns that say which rows of a run compare with each other
RUN_KEYS = ("run", "machine", "problem", "size", "dtype", "device", "threads")


# --- the run's fingerprint ----------------------------------------------------------------------


def fingerprint(inst, flat: np.ndarray) -> dict[str, float | None]:
    """``{final_loss, final_norm}`` of a solve's result ``flat`` (float64) on ``inst``; None where not computable."""
    norm = float(np.linalg.norm(flat))
    try:
        loss = float(inst.problem.progress(unflatten(np, flat, inst.shapes), inst.data))
    except Exception:  # a progress measure that cannot take the result: no loss in the fingerprint
        loss = None
    return {"final_loss": _finite(loss), "final_norm": _finite(norm)}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def fingerprint_difference(row: Any, ref: Any, dtype: str) -> str | None:
    """Why the fingerprint of ``row`` disagrees with ``ref`` (NumPy's), or None when it agrees."""
    tol = RUN_TOLERANCES.get(dtype, RUN_TOLERANCES["float32"])
    nx, ny, lx, ly = (_number(v) for v in (row["final_norm"], ref["final_norm"], row["final_loss"], ref["final_loss"]))
    why = []
    if nx is not None and ny is not None and abs(nx - ny) > tol * max(abs(nx), abs(ny)):
        why.append(f"parameter norm {nx:.6g} against {ny:.6g}")
    if lx is not None and ly is not None and abs(lx - ly) > tol * max(abs(lx), abs(ly), 1.0):
        why.append(f"final loss {lx:.6g} against {ly:.6g}")
    if not why:
        return None
    return f"solve disagrees with NumPy's in this run ({', '.join(why)}; tolerance {tol:.0e})"


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def verdicts(frame):
    """Per row of a results table: ``True`` (a solve whose fingerprint agrees with NumPy's solve in the same
    run), ``False`` (one that disagrees) or ``None`` (not a solve, NumPy's own, or nothing to compare with),
    with the reason of each disagreement: ``(verdicts, reasons)``, both indexed like ``frame``."""
    import pandas as pd

    agree = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    reasons = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if not len(frame) or not set(FINGERPRINT) <= set(frame.columns):
        return agree, reasons
    solves = frame[(frame["kind"] == "solve") & frame["final_norm"].notna()]
    refs = solves[(solves["backend"] == "numpy") & (solves["status"] == "ok")]
    if refs.empty:
        return agree, reasons
    by_key = {tuple(str(r[k]) for k in RUN_KEYS): r for _, r in refs.iterrows()}
    for index, row in solves[solves["backend"] != "numpy"].iterrows():
        if row["status"] not in ("ok", WRONG):
            continue
        ref = by_key.get(tuple(str(row[k]) for k in RUN_KEYS))
        if ref is None:
            continue
        why = fingerprint_difference(row, ref, str(row["dtype"]))
        if why is not None and row["backend"] == ARTICLE and row["size"] != "article":
            continue  # the article's loop is its example's, step size included: elsewhere it may solve another problem
        agree[index] = why is None
        reasons[index] = why
    return agree, reasons


def judge(frame):
    """``frame`` with every solve whose fingerprint disagrees with NumPy's in the same run marked ``wrong``
    (its reason says by how much; its timings blanked: a wrong answer is never timed)."""
    agree, reasons = verdicts(frame)
    bad = agree == False  # noqa: E712 - an object column of True, False and None
    if not bad.any():
        return frame
    frame = frame.copy()
    frame.loc[bad, "status"] = WRONG
    frame.loc[bad, "reason"] = reasons[bad]
    for name in ("median", "iqr", "min", "mean", "stddev", "ratio"):
        if name in frame.columns:
            frame.loc[bad, name] = float("nan")
    return frame


# --- the check --------------------------------------------------------------------------------------


def _rounded(inst, dtype: str, iterations: int):
    cast = lambda a: np.asarray(a, dtype=dtype).astype(np.float64)  # noqa: E731
    return replace(
        inst,
        params=tuple(cast(p) for p in inst.params),
        data={k: cast(v) for k, v in inst.data.items()},
        iterations=iterations,
    )


def numpy_solve(problem_name: str, size: str, dtype: str, iterations: int) -> np.ndarray:
    """NumPy's solve, in float64, of the instance rounded to ``dtype``, run for ``iterations`` steps (flat)."""
    return _numpy_solve(problem_name, size, dtype, iterations).copy()


@lru_cache(maxsize=64)
def _numpy_solve(problem_name: str, size: str, dtype: str, iterations: int) -> np.ndarray:
    problem = problems.get(problem_name)
    inst = _rounded(problem.instance(size), dtype, iterations)
    return flatten(problem.solver(backends.get("numpy"), inst)(inst.params, inst.data))


def shortened(iterations: int) -> int:
    """A loop one tenth shorter (at least one step)."""
    return iterations - max(1, iterations // 10)


@lru_cache(maxsize=64)
def check_iterations(problem_name: str, size: str, dtype: str) -> int:
    """The iteration count the check runs the solve for: the instance's own, halved while a loop one tenth
    shorter would end within SEPARATION tolerances of it (a converged algorithm hides a short loop)."""
    m = problems.get(problem_name).instance(size).iterations
    while m > 1:
        apart, _ = error(
            numpy_solve(problem_name, size, dtype, shortened(m)), numpy_solve(problem_name, size, dtype, m)
        )
        if apart >= SEPARATION * TOLERANCES[dtype]:
            break
        m //= 2
    return m


def loss_error(
    problem_name: str, size: str, dtype: str, iterations: int, x: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """``(|loss(x) - loss(y)|`` over the loss's scale along the path (the larger of the starting and the final
    reference loss), ADBench's rho of the two losses``)``; inf where a loss cannot be computed."""
    problem = problems.get(problem_name)
    inst = _rounded(problem.instance(size), dtype, iterations)
    try:
        lx, ly = (problem.progress(unflatten(np, v, inst.shapes), inst.data) for v in (x, y))
        l0 = problem.progress(inst.params, inst.data)
    except Exception:  # a result the progress measure cannot take is not a loss to compare
        return math.inf, math.inf
    if not (math.isfinite(lx) and math.isfinite(ly)):
        return math.inf, math.inf
    scale = max(abs(l0), abs(ly))
    return (abs(lx - ly) / scale if scale > 0 else abs(lx - ly)), rho(np.array([lx]), np.array([ly]))[0]


def check(cell, flat: np.ndarray, iterations: int) -> list[dict]:
    """The checks of one solve cell's result ``flat`` (run for ``iterations`` steps): final parameters and final
    loss against NumPy's solve, and, for NumPy's own row at the article's size, against the article's loop."""
    tol = TOLERANCES[cell.dtype]
    ref = numpy_solve(cell.problem, cell.size, cell.dtype, iterations)
    references = {"numpy solve": ref}
    problem = problems.get(cell.problem)
    if cell.backend == "numpy" and problem.has_article and cell.size == "article":
        references["article"] = flatten(
            problem.article_solve(_rounded(problem.instance(cell.size), cell.dtype, iterations))
        )
    checks = [compared(name, flat, y, tol) for name, y in references.items()]
    le, loss_rho = loss_error(cell.problem, cell.size, cell.dtype, iterations, flat, ref)
    checks.append(
        {
            "reference": "numpy solve loss",
            "rel_error": le,
            "rho": loss_rho,
            "tolerance": tol,
            "ok": bool(le <= tol),
            "where": -1,
        }
    )
    return checks
