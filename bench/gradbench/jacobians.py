"""GradBench's evals whose derivative is a Jacobian (``ba``), for :mod:`bench.gradbench.tool`.

========  =============  ==========================================================
module    function       computed as
========  =============  ==========================================================
ba        objective      ``problems.ba`` residuals (every observation), answered as
                         GradBench's ``manual`` tool does: the first observation's two
                         reprojection errors and first weight error, each with ``p``
          jacobian       ``BundleAdjustment.jacobian`` (the backend's ``jacobian`` verb
                         on 15 compressed columns: GradBench's ``vals``) and
                         ``problems.ba.sparsity`` (``rows``, ``cols``, NumPy) inside the
                         timer; answered as GradBench's first 30 entries of each and its last
ht        objective      ``problems.ht`` residuals of GradBench's model, points and theta
          jacobian       the backend's ``jacobian`` verb on them: 3c rows, 26 columns
                         (simple) or 28 (complicated: du0, du1 beside us, then theta)
========  =============  ==========================================================

GradBench's ba input is one camera, point, weight and feature with the counts
n, m, p; the tool replicates them (observation o: camera o mod n, point o mod m)
outside the timer and computes on every observation, never on one.
Each module is one entry of :data:`BUILDERS`: ``(tool, function, input) -> (fn, args, post)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import problems

DTYPE = "float64"
#: GradBench's ba output keeps the first observation's block (2 rows of 15) and the last entry
BA_KEPT = 30


class InputError(ValueError):
    """An input of these evals this tool cannot use (answered in one line)."""


def _count(input: dict, key: str, most: int) -> int:
    value = input[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise InputError(f"ba's {key} is an integer from 1 to {most:,}")
    return value


def _numbers(input: dict, key: str, size: int | None) -> np.ndarray:
    a = np.asarray(input[key], dtype=np.float64)
    if (a.shape != (size,) if size is not None else a.ndim != 0) or not np.all(np.isfinite(a)):
        raise InputError(f"ba's {key} is {f'a list of {size} finite numbers' if size else 'a finite number'}")
    return a


def ba_input(input: dict):
    """(n, m, data, params) in NumPy from GradBench's ba input, replicated as its tools do."""
    from problems.ba import CAMERA, replicated

    most = problems.get("ba").max_n
    n, m, p = (_count(input, key, most) for key in ("n", "m", "p"))
    cam, point = _numbers(input, "cam", CAMERA), _numbers(input, "x", 3)
    weight, feature = _numbers(input, "w", None), _numbers(input, "feat", 2)
    data, params = replicated(n, m, p, cam, point, float(weight), feature)
    return n, m, data, params


def ba_objective_output(residuals: np.ndarray, p: int) -> dict:
    """GradBench's manual tool's objective output: one observation's errors and the count."""
    return {
        "reproj_error": {"elements": residuals[:2].tolist(), "repeated": p},
        "w_err": {"element": float(residuals[2 * p]), "repeated": p},
    }


def ba_jacobian_output(vals, rows, cols) -> dict:
    """GradBench's manual tool's Jacobian output: the first 30 entries of each list, and its last."""
    return {name: [*a[:BA_KEPT].tolist(), a[-1].item()] for name, a in (("rows", rows), ("cols", cols), ("vals", vals))}


def _ba(tool, function: str, input: dict):
    n, m, data, params = ba_input(input)
    p = params[2].shape[0]
    args = (tuple(tool.b.asarray(a, DTYPE) for a in params), tool.data(data))
    problem = problems.get("ba")
    if function == "objective":
        return tool.value(problem.loss, "ba"), args, lambda out: ba_objective_output(tool.b.to_numpy(out), p)
    from problems.ba import sparsity

    # built once (compilers cache by shape); ba's builder reads no instance: any will do
    jacobian = tool.compiled(("ba", "jacobian"), lambda: problem.jacobian(tool.b, problem.instance("tiny")))
    cam_index, pt_index = data["obs_cam"].astype(np.int64), data["obs_pt"].astype(np.int64)

    def values_and_pattern(params, data):  # the pattern is part of GradBench's answer: timed with the values
        return (tool.b.block(jacobian(params, data)), *sparsity(n, m, cam_index, pt_index))

    def post(out):
        vals, rows, cols = out
        return ba_jacobian_output(np.asarray(tool.b.to_numpy(vals), dtype=np.float64), rows, cols)

    return values_and_pattern, args, post


def _ht(tool, function: str, input: dict):
    """ht: the residuals of theta (and du = 0 beside us, complicated variant) from GradBench's input; the
    Jacobian by the backend's ``jacobian`` verb on them (26 or 28 forward-mode columns: GradBench's layout)."""
    from problems.ht import RESIDUALS, from_gradbench

    try:
        w, data = from_gradbench(input)
    except ValueError as exc:
        raise InputError(str(exc).splitlines()[0]) from None
    args = (tool.array(w), tool.data(data))
    if function == "objective":
        return tool.value(RESIDUALS, "ht"), args, tool.list
    return tool.compiled(("ht", "jacobian"), lambda: tool.b.jacobian(RESIDUALS)), args, tool.list


#: module -> its functions' builder
BUILDERS: dict[str, Callable] = {"ba": _ba, "ht": _ht}
MODULES = tuple(BUILDERS)
FUNCTIONS = {"ba": ("objective", "jacobian"), "ht": ("objective", "jacobian")}


def call(tool, module: str, function: str, input: dict):
    """``(function, arguments, output to JSON)`` of one of these evals on one input, for the tool's ``Call``
    (a missing key or a wrong type: the tool's one-line error)."""
    return BUILDERS[module](tool, function, input)
