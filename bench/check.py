"""Check that every backend's objective, derivatives and solve agree with independent references.

For each problem x backend x variant x dtype x kind, the backend's output is compared
with up to three references, all computed in float64 NumPy on the same (dtype-rounded)
inputs:

* ``hand``: the article's hand-derived derivative carried by the problem (for every
  backend: one without autodiff of its own, NumPy included, must return it);
* ``finite-difference``: central differences of the NumPy function (up to
  ``FD_LIMIT`` parameters: beyond, two objectives per parameter cost too much);
* ``sympy``: the exact derivative, for the problems built from scalar functions;

and a ``solve`` with NumPy's solve of the same instance (:mod:`bench.solves`).

Before any value, the output's arrays must have the reference's shapes (a gradient
``(1, n)`` for a parameter ``(n,)`` fails, however right its values) and the cell's
dtype (a float32 cell computed in float64 fails). The measure is scale-aware:
``rel_error`` = ||x - y|| / ||y|| (2-norms), so a derivative 1% off fails in either
dtype at every size, whatever the magnitude and number of its entries. ADBench's
rho(x, y) = |x - y| / max(1, |x| + |y|) is kept beside it (``rho``), for comparison
with ADBench's tables only. A row's ``rel_error``/``rho``/``tolerance``/``reference``
are those of its binding reference (largest error relative to its tolerance);
``checks`` lists them all. A cell that raises (building its function, calling it)
fails with its one-line reason; the other cells are still checked.
Exit status: 0 all agree, 1 any mismatch, NaN or error, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from functools import lru_cache

import numpy as np

import backends
import problems
from backends.base import DTYPES, MODES
from problems.base import DERIVATIVE_KINDS, NESTED_KINDS, flatten, unflatten

from . import agreement_file, solves
from .agreement import compared, rho, structure  # noqa: F401  (rho: ADBench's measure, used by callers of bench.check)
from .agreement_file import AgreementRow, Check
from .cells import WITNESS, Cell, build
from .cli import UsageError, choose, choose_variants, load_plugins
from .fmt import one_line

HELP = "check every backend's derivatives and solve against hand, finite-difference, SymPy and NumPy references"

CHECK_KINDS = ("objective",) + DERIVATIVE_KINDS + ("solve",) + NESTED_KINDS

# Tolerances on rel_error = ||x - y|| / ||y||, per dtype and reference, measured over the whole matrix (every
# problem at its check size, every backend, variant and witness, both dtypes; worst rows named):
# float64 against hand/SymPy: the same math summed in another order; worst 1.1e-14 (logistic regression at
#   100,000 x 100, gradient). 1e-10 leaves room for other machines, sizes and libm.
# float64 against central differences: round-off eps |f| / h per entry, with h ~ cbrt(eps) |w| ~ 6e-6 |w|, plus
#   truncation h^2 |f'''| / 6; worst 6.2e-9 (lse, 200 entries, whose gradient entries are 1/n: relative to them
#   the round-off grows with n, to about 6e-7 at FD_LIMIT). 1e-5: a 0.1% error fails a hundred times over.
# float32 against anything: inputs rounded to float32 and every operation rounding (unit round-off 6e-8); worst
#   4e-6 (logistic regression at 100,000 x 100, gradient). 1e-3 leaves a factor of 250 and fails a 1% error ten
#   times over (ADBench's rho, absolute below 1, let a 1% error of entries of 1e-3 pass at 2e-4).
TOLERANCES = {
    ("float64", "hand"): 1e-10,
    ("float64", "sympy"): 1e-10,
    ("float64", "finite-difference"): 1e-5,
    ("float32", "hand"): 1e-3,
    ("float32", "sympy"): 1e-3,
    ("float32", "finite-difference"): 1e-3,
    # GradBench's own answer for its particle and saddle workloads (printed to 16 digits): float64 only
    ("float64", "gradbench"): 1e-10,
}
#: no finite-difference reference beyond this many parameters (two objectives per parameter); the hand one stays
FD_LIMIT = 20_000
STEP = np.finfo(np.float64).eps ** (1 / 3)  # central-difference step, scaled by |x|


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
    fd = inst.n_params <= FD_LIMIT

    if kind == "objective":  # the hand code's value where there is one (ba's objective is its residuals)
        hand = problem.loss.value_and_grad
        refs["hand"] = np.ravel(hand(params, data)[0] if hand is not None else problem.loss.value(np, params, data))
    elif kind == "gradient":
        refs["hand"] = hand_grad(w)
        if fd:
            refs["finite-difference"] = _central_gradient(value, w)
    elif kind == "hessian":
        refs["hand"] = np.ravel(problem.loss.hessian(w, data))
        if fd:
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
        if fd:
            refs["finite-difference"] = _central_gradient(model, w)
    elif kind == "jacobian":  # the problem's own differences: the dense model's, or its compressed columns' (ba)
        refs["hand"] = np.ravel(problem.hand_jacobian(params, data))
        if fd:
            refs["finite-difference"] = np.ravel(problem.jacobian_differences(params, data, _central_gradient))
    elif kind in NESTED_KINDS:  # the eval's output: the same searches with the hand derivatives
        refs["hand"] = problem.reference(replace(inst, params=params, data=data))
        if size in problem.gradbench_sizes and dtype == "float64":
            refs["gradbench"] = np.ravel(problem.answer)
    sympy_reference = getattr(problem, "sympy_reference", None)
    if sympy_reference is not None and kind in ("gradient", "hessian", "hvp"):
        exact = sympy_reference(replace(inst, params=params, data=data), kind, tangent=tangent)
        if exact is not None:
            refs["sympy"] = np.ravel(exact)
    return refs


# --- one cell ----------------------------------------------------------------------


def check_cell(cell: Cell) -> AgreementRow:
    """Run one cell and compare it with every reference; returns the matrix row.

    Anything that raises (building the function, the call, a reference) fails this cell with a one-line reason.
    """
    iterations = None
    try:
        if cell.kind == "solve":
            iterations = solves.check_iterations(cell.problem, cell.size, cell.dtype)
        built = build(cell, iterations=iterations)
        raw = built.call()
        arrays = built.arrays(raw) if built.arrays is not None else [built.to_numpy(raw)]
        out = flatten(arrays) if arrays else np.zeros(0)
        wrong = structure(cell, arrays) if built.arrays is not None else []
        if cell.kind == "solve":
            checks = solves.check(cell, out, iterations)
        else:
            checks = [
                compared(name, out, ref, TOLERANCES[(cell.dtype, name)])
                for name, ref in references(cell.problem, cell.size, cell.dtype, cell.kind).items()
            ]
    except Exception as exc:  # a framework's (or a plugin's) error is a failed check, not a crash of the check
        return _row(cell, [], error=one_line(exc, 300), iterations=iterations)
    nonfinite = not bool(np.all(np.isfinite(out)))
    return _row(cell, checks, error="; ".join(wrong) or None, nonfinite=nonfinite, iterations=iterations)


def _row(
    cell: Cell, checks: list[dict], error: str | None = None, nonfinite: bool = False, iterations: int | None = None
) -> AgreementRow:
    """The matrix row of one cell: its binding check (largest error relative to its tolerance) and every check."""
    typed = tuple(Check(**c) for c in checks)
    binding = max(typed, key=lambda c: c.excess, default=None)
    ok = error is None and not nonfinite and bool(typed) and all(c.ok for c in typed)
    return AgreementRow(
        problem=cell.problem,
        size=cell.size,
        backend=cell.backend,
        mode=cell.mode,
        variant=cell.variant,
        label=cell.label,
        dtype=cell.dtype,
        kind=cell.kind,
        reference=binding.reference if binding else None,
        rel_error=binding.rel_error if binding else None,
        rho=binding.rho if binding else None,
        tolerance=binding.tolerance if binding else None,
        where=binding.where if binding else None,
        iterations=iterations,
        ok=ok,
        nonfinite=nonfinite,
        error=error or ("no reference to compare with" if not checks else None),
        checks=typed,
    )


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
                        elif kind in inst_kinds and _checked(kind, backend_name, variant, dtype):
                            out.append(Cell(problem_name, label, backend_name, variant, dtype, kind))
    return out


def _checked(kind: str, backend_name: str, variant: str, dtype: str) -> bool:
    """A nested order is checked in float64 (GradBench's searches stop at thresholds near float32's
    rounding) on the variant ``python -m bench gradbench`` serves by default (compiled where there is one):
    every variant runs the same searches eagerly, a compiled one compiling only derivatives that do not branch."""
    if kind not in NESTED_KINDS:
        return True
    info = backends.info(backend_name)
    return dtype == "float64" and variant == info.variant("compiled" if info.can_compile else "eager").name


# --- command line ------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help=f"repeatable; default: every installed one ({', '.join(backends.NAMES)})",
    )
    p.add_argument(
        "--problem", action="append", metavar="NAME", help=f"repeatable; default: all ({', '.join(problems.BUILT_IN)})"
    )
    p.add_argument("--dtype", action="append", metavar="DTYPE", help=f"repeatable; default: {', '.join(DTYPES)}")
    p.add_argument(
        "--mode",
        action="append",
        metavar="MODE",
        help=f"{', '.join(MODES)} or a variant (jit, autograd, xla ...; see python -m bench list); "
        "repeatable; default: every variant",
    )
    p.add_argument(
        "--kind", action="append", metavar="KIND", help=f"repeatable; default: all ({', '.join(CHECK_KINDS)})"
    )
    p.add_argument("--size", metavar="SIZE", help="a named size or an integer; default: each problem's check size")
    p.add_argument(
        "--json",
        metavar="PATH",
        help="also write the matrix as JSON (its schema and one object per row: agreement.json)",
    )
    p.add_argument("--quiet", action="store_true", help="print only failures and the summary")


def main(args: argparse.Namespace) -> int:
    load_plugins()
    backend_names = choose(args.backend, backends.REGISTRY, "backend") if args.backend else list(backends.NAMES)
    problem_names = choose(args.problem, problems.known(), "problem") if args.problem else list(problems.BUILT_IN)
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
        agreement_file.write(args.json, rows)
    failed = [r for r in rows if not r.ok]
    summary = f"{len(rows)} checks: {len(rows) - len(failed)} passed, {len(failed)} failed"
    if missing:
        summary += f"; not checked (unavailable): {', '.join(missing)}"
    print(summary)
    if args.backend and missing:
        return 1  # a backend asked for by name could not be checked
    return 1 if failed else 0


def print_matrix(rows: list[AgreementRow], quiet: bool = False) -> None:
    header = (
        f"{'problem':<20} {'backend':<20} {'dtype':<8} {'kind':<10} {'reference':<18} {'rel.error':>10} {'tol':>8} "
        f"{'rho':>10}  result"
    )
    print(header)
    for r in rows:
        if quiet and r.ok:
            continue
        error_text = "-" if r.rel_error is None else f"{r.rel_error:.1e}"
        tol_text = "-" if r.tolerance is None else f"{r.tolerance:.0e}"
        rho_text = "-" if r.rho is None else f"{r.rho:.1e}"
        result = "ok" if r.ok else "FAIL" + (f" ({r.error})" if r.error else "") + (" (NaN/Inf)" if r.nonfinite else "")
        print(
            f"{r.problem:<20} {r.label:<20} {r.dtype:<8} {r.kind:<10} {r.reference or '-':<18} "
            f"{error_text:>10} {tol_text:>8} {rho_text:>10}  {result}"
        )


def _check_writable(path: str) -> None:
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: folder {folder} is not writable")
