"""The agreement table the report shows: one row per run, problem, dtype, row label and kind of each
run's ``agreement.json`` (:mod:`bench.check`), with the error the heatmap draws.

The shown error is the check's own measure, the normwise relative error ||x - y|| / ||y||
(:func:`bench.agreement.error`), against the reference that says something about the row: the
hand-derived derivative for a backend with autodiff (a row with only a solve: NumPy's solve); for a
backend without autodiff (NumPy, whose derivative *is* the hand one, identical to it by construction)
its worst against the independent references (finite differences, SymPy). ADBench's rho is kept beside
it (``rho``) for comparison with ADBench's tables.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import backends
from bench.agreement_file import AgreementRow, Check

if TYPE_CHECKING:
    import pandas as pd

    from .load import Run

#: the references computed apart from the hand code: what a backend without autodiff is shown against (its
#: hand comparison is 0 by construction, and so is its solve's against NumPy's solve)
INDEPENDENT = ("finite-difference", "sympy", "gradbench")


def agreement_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run, problem, dtype, row label and kind: the shown error (``error``, its
    ``error_reference`` and ``error_tolerance``), whether the row is hand code (``hand_code``), the worst
    rho against the hand derivative, whether every check passed, and the binding check's rel_error."""
    import pandas as pd

    rows = []
    for run in runs:
        for row in run.agreement:
            info = backends.REGISTRY.get(row.backend)
            hand_code = info is not None and not info.has_autodiff
            rows.append(
                {
                    "run": run.tag,
                    "problem": row.problem,
                    "dtype": row.dtype,
                    "label": row.label,
                    "backend": row.backend,
                    "variant": row.variant,
                    "kind": row.kind,
                    "hand_code": hand_code,
                    **_worst(row, hand_code),
                }
            )
    columns = ["run", "problem", "dtype", "label", "backend", "variant", "kind", "hand_code", "rho", "reference"]
    columns += ["ok", "tolerance", "rel_error", "binding", "why", "error", "error_reference", "error_tolerance"]
    return pd.DataFrame(rows, columns=columns)


def _float(value: float | None) -> float:
    return math.nan if value is None else value


def _worst(row: AgreementRow, hand_code: bool = False) -> dict[str, Any]:
    hand = [c for c in row.checks if c.reference == "hand"]
    if hand:
        rho, reference = max(_float(c.rho) for c in hand), "hand"
    else:  # the worst rho of any reference that has one (a solve's loss has none)
        rhos = [c.rho for c in row.checks if c.rho is not None] or [_float(row.rho)]
        rho, reference = max(rhos), row.reference or ""
    return {
        "rho": rho,
        "reference": reference,
        "ok": row.ok and all(c.ok for c in row.checks),
        "tolerance": _float(row.tolerance),
        "rel_error": _float(row.rel_error),  # the binding reference's, as are the tolerance and why
        "binding": row.reference or "",
        "why": row.why,
        **_shown_error(row.checks, hand, hand_code),
    }


def _shown_error(checks: tuple[Check, ...], hand: list[Check], hand_code: bool) -> dict[str, Any]:
    """The worst relative error against the references that say something about the row (module doc)."""
    chosen = [c for c in checks if c.reference in INDEPENDENT] if hand_code else hand or list(checks)
    scored = [c for c in chosen if c.rel_error is not None]
    if not scored:
        return {"error": math.nan, "error_reference": "", "error_tolerance": math.nan}
    # the binding one: the largest error relative to its tolerance, as the check decides (bench.check._row)
    check = max(scored, key=lambda c: c.excess)
    return {"error": check.rel_error, "error_reference": check.reference, "error_tolerance": _float(check.tolerance)}
