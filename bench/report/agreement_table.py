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

import backends
from bench.fmt import to_float

#: the references computed apart from the hand code: what a backend without autodiff is shown against (its
#: hand comparison is 0 by construction, and so is its solve's against NumPy's solve)
INDEPENDENT = ("finite-difference", "sympy", "gradbench")


def agreement_table(runs):
    """One row per run, problem, dtype, row label and kind: the shown error (``error``, its
    ``error_reference`` and ``error_tolerance``), whether the row is hand code (``hand_code``), the worst
    rho against the hand derivative, whether every check passed, and the binding check's rel_error."""
    import pandas as pd

    rows = []
    for run in runs:
        for row in run.agreement:
            backend, mode = str(row.get("backend")), str(row.get("mode") or "eager")
            info = backends.REGISTRY.get(backend)
            rows.append(
                {
                    "run": run.tag,
                    "problem": str(row.get("problem")),
                    "dtype": str(row.get("dtype") or ""),
                    "label": _agreement_label(row, backend, mode),
                    "backend": backend,
                    "variant": _agreement_variant(row, backend, mode),
                    "kind": str(row.get("kind")),
                    "hand_code": info is not None and not info.has_autodiff,
                    **_worst(row, hand_code=info is not None and not info.has_autodiff),
                }
            )
    columns = ["run", "problem", "dtype", "label", "backend", "variant", "kind", "hand_code", "rho", "reference"]
    columns += ["ok", "tolerance", "rel_error", "binding", "why", "error", "error_reference", "error_tolerance"]
    return pd.DataFrame(rows, columns=columns)


def _agreement_label(row: dict, backend: str, mode: str) -> str:
    if row.get("label"):
        return str(row["label"])
    info = backends.REGISTRY.get(backend)
    if info is None:
        return backend if mode == "eager" else f"{backend}+{mode}"
    try:
        return info.label(str(row.get("variant") or mode))
    except KeyError:
        return backend


def _agreement_variant(row: dict, backend: str, mode: str) -> str:
    if row.get("variant"):
        return str(row["variant"])
    info = backends.REGISTRY.get(backend)
    try:
        return info.variant(mode).name if info else mode
    except KeyError:
        return mode


def _worst(row: dict, hand_code: bool = False) -> dict:
    checks = [c for c in row.get("checks", []) if isinstance(c, dict)] if isinstance(row.get("checks"), list) else []
    hand = [c for c in checks if c.get("reference") == "hand"]
    if hand:
        rho, reference = max(to_float(c.get("rho")) for c in hand), "hand"
    else:  # the worst rho of any reference that has one (a solve's loss has none)
        rhos = [to_float(c.get("rho")) for c in checks if c.get("rho") is not None] or [to_float(row.get("rho"))]
        rho, reference = max(rhos), str(row.get("reference") or "")
    ok = bool(row.get("ok")) and all(bool(c.get("ok", True)) for c in checks)
    return {
        "rho": rho,
        "reference": reference,
        "ok": ok,
        "tolerance": to_float(row.get("tolerance")),
        "rel_error": to_float(row.get("rel_error")),  # the binding reference's, as are the tolerance and why
        "binding": str(row.get("reference") or ""),
        "why": str(row.get("error") or ("NaN/Inf" if row.get("nonfinite") else "")),
        **_shown_error(checks, hand, hand_code),
    }


def _shown_error(checks: list[dict], hand: list[dict], hand_code: bool) -> dict:
    """The worst relative error against the references that say something about the row (module doc)."""
    if hand_code:
        chosen = [c for c in checks if c.get("reference") in INDEPENDENT]
    else:
        chosen = hand or checks
    scored = [(to_float(c.get("rel_error")), to_float(c.get("tolerance")), c) for c in chosen]
    scored = [(e, t, c) for e, t, c in scored if not math.isnan(e)]
    if not scored:
        return {"error": math.nan, "error_reference": "", "error_tolerance": math.nan}
    # the binding one: the largest error relative to its tolerance, as the check decides (bench.check._row)
    error, _, check = max(scored, key=lambda item: item[0] / item[1] if item[1] > 0 else item[0])
    return {
        "error": error,
        "error_reference": str(check.get("reference") or ""),
        "error_tolerance": to_float(check.get("tolerance")),
    }
