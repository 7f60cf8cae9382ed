"""GradBench's nested-derivative evals, ``particle`` and ``saddle``, for :mod:`bench.gradbench.tool`.

Each function (``rr``, ``ff``, ``fr``, ``rf``: the outer derivative's mode, then
the inner one's) is the problem's whole search, every derivative in it the
backend's ``gradient_in`` in that order's modes (see :mod:`problems.nested`).
The searches branch on values, so they run eagerly in every variant: no
whole-function compile.
"""

from __future__ import annotations

import math

import numpy as np

import problems
from problems.nested import ORDERS

MODULES = ("particle", "saddle")
FUNCTIONS = {module: ORDERS for module in MODULES}


class InputError(ValueError):
    """A nested eval's input this tool cannot use (answered in one line)."""


def call(tool, module: str, function: str, input: dict):
    """``(function, arguments, output to JSON)`` of one nested eval on one input, for the tool's ``Call``."""
    problem = problems.get(module)
    size = problem.resolve_size(problem.gradbench_sizes[0])  # GradBench's constants and first eta
    inst = problem.instance(size.label)
    if module == "particle":
        w = input["w"]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise InputError("particle's w is a finite number")
        start = np.array([float(w)])
    else:
        start = np.asarray(input["start"], dtype=np.float64)
        if start.shape != (2,) or not np.all(np.isfinite(start)):
            raise InputError("saddle's start is a list of two finite numbers")
    key = (module, function)
    if key not in tool._compiled:  # built once, never compiled: the searches branch on values
        tool._compiled[key] = problem.solve_in(tool.b, function, size)
    args = ((tool.array(start),), tool.data(inst.data))
    if module == "particle":
        return tool._compiled[key], args, lambda out: tool.number(out[0])  # w, one number
    return tool._compiled[key], args, tool.list  # r1 then r2, four numbers
