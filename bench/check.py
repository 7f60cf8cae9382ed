"""Check that every backend's objective and derivatives agree with independent references.

For each problem x backend x variant x dtype x derivative kind, the backend's output
is compared with up to three references, all computed in float64 NumPy on the
same (dtype-rounded) inputs:

* ``hand``: the article's hand-derived derivative carried by the problem
  (not used for the NumPy backend, whose output *is* the hand derivative);
* ``finite-difference``: central differences of the NumPy function;
* ``sympy``: the exact derivative, for the problems built from scalar functions.

The metric is ADBench's rho(x, y) = |x - y| / max(1, |x| + |y|), maximum over
entries. A row's ``rho``/``tolerance``/``reference`` are those of its binding
reference (largest rho relative to its tolerance); ``checks`` lists them all.
Exit status: 0 all agree, 1 any mismatch (or NaN), 2 bad input.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import replace
from functools import lru_cache

import numpy as np

import backends
import problems
from backends.base import DTYPES, MODES
from problems.base import DERIVATIVE_KINDS, flatten, unflatten

from .cells import WITNESS, Cell, build
from .cli import UsageError, choose, choose_variants, load_plugins

HELP = "check every backend's derivatives against hand, finite-difference and SymPy references"

CHECK_KINDS = ("objective",) + DERIVATIVE_KINDS

# Tolerances on rho, per dtype and reference.
# float64 against hand/SymPy: the same math summed in another order differs by a
#   few ulps times the number of terms (~1e-13 at check sizes); 1e-10 leaves room
#   for that and for the log1p/exp/tanh of each framework, and still catches any
#   wrong term (a wrong derivative is off by O(1) relative).
# float64 against central differences: truncation h^2 |f'''| / 6 and round-off
#   eps |f| / h with h ~ cbrt(eps) ~ 6e-6 are each ~1e-11 relative to the
#   function's size; the losses are sums of up to a few hundred terms, so 1e-6.
# float32 against anything: float32 eps is 6e-8 (unit round-off) and the inputs
#   themselves are rounded to float32; a sum over n ~ 1e3 terms of O(1) size can
#   lose up to n * eps ~ 6e-5 absolute in an unlucky order (seen: 4.9e-5 for a
#   torch.compile VJP X^T u at n = 1000): 2e-4.
TOLERANCES = {
    ("float64", "hand"): 1e-10,
    ("float64", "sympy"): 1e-10,
    ("float64", "finite-difference"): 1e-6,
    ("float32", "hand"): 2e-4,
    ("float32", "sympy"): 2e-4,
    ("float32", "finite-difference"): 2e-4,
}
STEP = np.finfo(np.float64).eps ** (1 / 3)  # central-difference step, scaled by |x|


def rho(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Worst ADBench rho over entries and where it occurs; inf for NaN/Inf or a shape mismatch."""
    x, y = np.ravel(np.asarray(x, dtype=np.float64)), np.ravel(np.asarray(y, dtype=np.float64))
    if x.shape != y.shape:
        return math.inf, -1
    if x.size == 0:
        return 0.0, -1
    r = np.abs(x - y) / np.maximum(1.0, np.abs(x) + np.abs(y))
    r = np.where(np.isfinite(x) & np.isfinite(y), r, np.inf)
    where = int(np.argmax(r))
    return float(r[where]), where


# --- references -----------------------------------------------------------------


def _rounded(inst, dtype):
    """The instance's params and data as the backend sees them (dtype-rounded), in float64."""
    cast = lambda a: np.asarray(a, dtype=dtype).astype(np.float64)  # noqa: E731
    return tuple(cast(p) for p in inst.params), {k: cast(v) for k, v in inst.data.items()}


def _central_gradient(f, w: np.ndarray) -> np.ndarray:
    """Central differences of a scalar or vector function f(w), one column per entry of w."""
    cols = []
    for j in range(w.size):
        h = STEP * max(1.0, abs(w[j]))
        wp, wm = w.copy(), w.copy()
        wp[j] += h
        wm[j] -= h
        cols.append((np.asarray(f(wp)) - np.asarray(f(wm))) / (2 * h))
    return np.stack(cols, axis=-1)


def _central_directional(f, w: np.ndarray, v: np.ndarray) -> np.ndarray:
    h = STEP * max(1.0, float(np.max(np.abs(w)))) / max(float(np.max(np.abs(v))), 1e-300)
    return (np.asarray(f(w + h * v)) - np.asarray(f(w - h * v))) / (2 * h)


@lru_cache(maxsize=256)
def references(problem_name: str, size: str, dtype: str, kind: str) -> dict[str, np.ndarray]:
    """``{reference name: flat float64 array}`` for one problem/size/dtype/kind."""
    problem = problems.get(problem_name)
    inst = problem.instance(size)
    params, data = _rounded(inst, dtype)
    shapes = inst.shapes
    w = flatten(params)
    split = lambda w: unflatten(np, w, shapes)  # noqa: E731
    value = lambda w: problem.loss.value(np, split(w), data)  # noqa: E731
    hand_grad = lambda w: flatten(problem.loss.value_and_grad(split(w), data)[1])  # noqa: E731
    tangent = flatten(tuple(np.asarray(t, dtype=dtype).astype(np.float64) for t in inst.tangent()))
    refs: dict[str, np.ndarray] = {}

    if kind == "objective":
        refs["hand"] = np.ravel(problem.loss.value_and_grad(params, data)[0])
    elif kind == "gradient":
        refs["hand"] = hand_grad(w)
        refs["finite-difference"] = _central_gradient(value, w)
    elif kind == "hessian":
        refs["hand"] = np.ravel(problem.loss.hessian(w, data))
        refs["finite-difference"] = np.ravel(_central_gradient(hand_grad, w))
    elif kind == "hvp":
        refs["hand"] = np.ravel(problem.loss.hand("hvp")(w, tangent, data))
        refs["finite-difference"] = _central_directional(hand_grad, w, tangent)
    elif kind == "jvp":
        model = lambda w: np.ravel(problem.model.value(np, split(w), data))  # noqa: E731
        refs["hand"] = np.ravel(problem.model.jvp(params, split(tangent), data)[1])
        refs["finite-difference"] = _central_directional(model, w, tangent)
    elif kind == "vjp":
        u = np.asarray(inst.cotangent(), dtype=dtype).astype(np.float64)
        model = lambda w: float(np.sum(u * problem.model.value(np, split(w), data)))  # noqa: E731
        refs["hand"] = flatten(problem.model.vjp(params, u, data)[1])
        refs["finite-difference"] = _central_gradient(model, w)
    sympy_reference = getattr(problem, "sympy_reference", None)
    if sympy_reference is not None and kind in ("gradient", "hessian", "hvp"):
        exact = sympy_reference(replace(inst, params=params, data=data), kind, tangent=tangent)
        if exact is not None:
            refs["sympy"] = np.ravel(exact)
    return refs


# --- one cell ----------------------------------------------------------------------


def check_cell(cell: Cell) -> dict:
    """Run one cell and compare it with every reference; returns the matrix row."""
    built = build(cell)
    try:
        out = built.to_numpy(built.call())
    except Exception as exc:  # a framework error is a failed check, not a crash of the check
        return _row(cell, [], error=f"{type(exc).__name__}: {exc}".splitlines()[0])
    checks = []
    for name, ref in references(cell.problem, cell.size, cell.dtype, cell.kind).items():
        if name == "hand" and not built.backend.has_autodiff and cell.kind != "objective":
            continue  # without autodiff, the backend's derivative is the hand derivative itself
        r, where = rho(out, ref)
        tol = TOLERANCES[(cell.dtype, name)]
        checks.append({"reference": name, "rho": r, "tolerance": tol, "ok": bool(r <= tol), "where": where})
    return _row(cell, checks, nonfinite=not bool(np.all(np.isfinite(out))))


def _row(cell: Cell, checks: list[dict], error: str | None = None, nonfinite: bool = False) -> dict:
    binding = max(checks, key=lambda c: c["rho"] / c["tolerance"], default=None)
    ok = error is None and not nonfinite and bool(checks) and all(c["ok"] for c in checks)
    return {
        "problem": cell.problem,
        "size": cell.size,
        "backend": cell.backend,
        "mode": cell.mode,
        "label": cell.label,
        "dtype": cell.dtype,
        "kind": cell.kind,
        "reference": binding["reference"] if binding else None,
        "rho": binding["rho"] if binding else None,
        "tolerance": binding["tolerance"] if binding else None,
        "where": binding["where"] if binding else None,
        "ok": ok,
        "nonfinite": nonfinite,
        "error": error or ("no reference to compare with" if not checks else None),
        "checks": checks,
    }


def cells(backend_names, problem_names, dtypes, modes=None, kinds=CHECK_KINDS, size=None) -> list[Cell]:
    """Every check cell for the filters, in a stable order; ``modes`` as ``--mode`` takes them
    (eager, compiled, witness or variant names; None: every variant and the witnesses).

    Protocol rows are checked at each problem's check size (or ``size``); a witness
    exists for its headline cell only and is checked there (when ``size`` allows it).
    """
    import witnesses

    variants = choose_variants(backend_names, modes)
    out = []
    for problem_name in problem_names:
        problem = problems.get(problem_name)
        label = size or problem.check_size
        inst_kinds = problem.kinds(problem.instance(label))
        for backend_name in backend_names:
            for variant in variants[backend_name]:
                for dtype in dtypes:
                    for kind in kinds:
                        if variant == WITNESS:
                            for w_problem, w_size, w_kind in witnesses.CELLS:
                                cell = Cell(problem_name, w_size, backend_name, variant, dtype, kind)
                                if (
                                    (w_problem, w_kind) == (problem_name, kind)
                                    and size in (None, w_size)
                                    and witnesses.covers(cell)
                                ):
                                    out.append(cell)
                        elif kind in inst_kinds:
                            out.append(Cell(problem_name, label, backend_name, variant, dtype, kind))
    return out


# --- command line ------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help=f"repeatable; default: every installed one ({', '.join(backends.NAMES)})",
    )
    p.add_argument(
        "--problem", action="append", metavar="NAME", help=f"repeatable; default: all ({', '.join(problems.NAMES)})"
    )
    p.add_argument("--dtype", action="append", metavar="DTYPE", help=f"repeatable; default: {', '.join(DTYPES)}")
    p.add_argument(
        "--mode",
        "--variant",
        action="append",
        metavar="MODE",
        dest="mode",
        help=f"{', '.join(MODES)} or a variant (jit, autograd, xla ...; see python -m bench list); "
        "repeatable; default: every variant",
    )
    p.add_argument(
        "--kind", action="append", metavar="KIND", help=f"repeatable; default: all ({', '.join(CHECK_KINDS)})"
    )
    p.add_argument("--size", metavar="SIZE", help="a named size or an integer; default: each problem's check size")
    p.add_argument("--json", metavar="PATH", help="also write the matrix as JSON (one object per row)")
    p.add_argument("--quiet", action="store_true", help="print only failures and the summary")


def main(args: argparse.Namespace) -> int:
    load_plugins()
    backend_names = choose(args.backend, backends.REGISTRY, "backend") if args.backend else list(backends.NAMES)
    problem_names = choose(args.problem, problems.known(), "problem") if args.problem else list(problems.NAMES)
    dtypes = choose(args.dtype, DTYPES, "dtype")
    modes = args.mode or None
    choose_variants(backend_names, modes)  # unknown names: one line, before any work
    kinds = choose(args.kind, CHECK_KINDS, "kind")
    if args.size is not None:
        for name in problem_names:
            try:
                problems.get(name).resolve_size(args.size)
            except problems.SizeError as exc:
                raise UsageError(str(exc)) from None
    if args.json:
        _check_writable(args.json)

    missing = []
    for name in list(backend_names):
        reason = None if backends.installed(name) else backends.unavailable_reason(name)
        if reason is None:
            try:
                backends.get(name)
            except backends.BackendUnavailable as exc:
                reason = str(exc)
        if reason is not None:
            print(reason, file=sys.stderr)
            missing.append(name)
            backend_names.remove(name)

    todo = cells(backend_names, problem_names, dtypes, modes, kinds, args.size)
    rows = []
    from rich.progress import Progress

    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("checking", total=len(todo))
        for cell in todo:
            progress.update(task, description=cell.id)
            rows.append(check_cell(cell))
            progress.advance(task)

    print_matrix(rows, quiet=args.quiet)
    if args.json:
        _write_json(args.json, rows)
    failed = [r for r in rows if not r["ok"]]
    summary = f"{len(rows)} checks: {len(rows) - len(failed)} passed, {len(failed)} failed"
    if missing:
        summary += f"; not checked (unavailable): {', '.join(missing)}"
    print(summary)
    if args.backend and missing:
        return 1  # a backend asked for by name could not be checked
    return 1 if failed else 0


def print_matrix(rows: list[dict], quiet: bool = False) -> None:
    header = (
        f"{'problem':<20} {'backend':<20} {'dtype':<8} {'kind':<10} {'reference':<18} {'rho':>10} {'tol':>8}  result"
    )
    print(header)
    for r in rows:
        if quiet and r["ok"]:
            continue
        rho_text = "-" if r["rho"] is None else f"{r['rho']:.1e}"
        tol_text = "-" if r["tolerance"] is None else f"{r['tolerance']:.0e}"
        result = (
            "ok"
            if r["ok"]
            else "FAIL" + (f" ({r['error']})" if r["error"] else "") + (" (NaN/Inf)" if r["nonfinite"] else "")
        )
        print(
            f"{r['problem']:<20} {r['label']:<20} {r['dtype']:<8} {r['kind']:<10} {r['reference'] or '-':<18} "
            f"{rho_text:>10} {tol_text:>8}  {result}"
        )


def _check_writable(path: str) -> None:
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: folder {folder} is not writable")


def _write_json(path: str, rows: list[dict]) -> None:
    """Atomically, with non-finite rho (a NaN output) stored as null."""
    from . import results

    safe = [{k: results.clean(v) for k, v in r.items()} for r in rows]
    for r in safe:
        r["checks"] = [{k: results.clean(v) for k, v in c.items()} for c in r["checks"]]
    results.write_json(path, safe)
