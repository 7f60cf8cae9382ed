"""The tool side of GradBench's protocol, computing through our problems and backends.

One JSON object a line on stdin; exactly one single-line JSON reply per message
on stdout, echoing its ``id``, flushed; nothing else ever reaches stdout
(file descriptor 1 is pointed at stderr, where frameworks and logs write).

Each GradBench function is a problem's own code run by the backend's verbs:

========  =============  ==========================================================
module    function       computed as
========  =============  ==========================================================
hello     square, double x*x as a Differentiable; its ``value_and_grad``
lse       primal         ``problems.lse`` loss value
          gradient       its ``value_and_grad``
llsq      primal         ``problems.llsq`` loss value (t, s from n)
          gradient       its ``value_and_grad``
kmeans    cost           ``problems.kmeans.nearest_cost``
          dir            ``KMeans.direction``: value_and_grad and one hvp
gmm       objective      ``problems.gmm`` loss value (the log posterior)
          jacobian       its ``value_and_grad``, as ``{alpha, mu, q, l}``
ode       primal         ``problems.ode`` model (y after s RK4 steps)
          gradient       the model's ``vjp`` with the last unit vector: GradBench's
                         gradient of y_{n-1} (zero whenever n > 4s)
det       primal         ``problems.det`` loss value (A row-major, ell x ell)
          gradient       its ``value_and_grad`` (the cofactors), row-major
lstm      objective      ``problems.lstm`` loss value
          jacobian       its ``value_and_grad``: main_params' then extra_params'
                         gradient, each row-major, concatenated
particle  rr ff fr rf    ``problems.particle``'s search for w, saddle's for (r1, r2), each
saddle    rr ff fr rf    derivative ``gradient_in`` in the order's modes; eager (``.nested``)
ba, ht    objective ...  the evals of a Jacobian: see :mod:`.jacobians`
========  =============  ==========================================================

Every function is wrapped by the backend's ``compile`` (the identity for an
eager variant) once per module and function, and reused. An input's
``min_runs`` and ``min_seconds`` (absent: one run) drive the loop: one
``evaluate`` timing per run, each of one call and the backend's ``block``;
JSON to arrays and back stays outside the timer. Like GradBench's own tools,
the first run includes tracing and compilation. Everything is float64. Without
``--mode``, a module with a long loop (lstm) runs in the backend's
``long_loop_variant`` where its compiled variant would unroll the loop.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

import problems
from backends.base import Differentiable

from ..results import too_deep
from . import jacobians, nested

DTYPE = "float64"
MODULES = ("hello", "lse", "llsq", "kmeans", "gmm", "ode", "det", "lstm", *nested.MODULES, *jacobians.MODULES)
FUNCTIONS = {
    "hello": ("square", "double"),
    "lse": ("primal", "gradient"),
    "llsq": ("primal", "gradient"),
    "kmeans": ("cost", "dir"),
    "gmm": ("objective", "jacobian"),
    "ode": ("primal", "gradient"),
    "det": ("primal", "gradient"),
    "lstm": ("objective", "jacobian"),
    **nested.FUNCTIONS,
    **jacobians.FUNCTIONS,
}


def _square(xp, params, data):
    (x,) = params
    return x * x


#: hello's function, written once like a problem's loss; ``double`` is its gradient
SQUARE = Differentiable(_square, value_and_grad=lambda params, data: (params[0] ** 2, (2 * params[0],)))


class InputError(ValueError):
    """An evaluate message whose module, function or input this tool cannot use."""


@dataclass
class Call:
    """One GradBench function on one input, ready to time."""

    fn: Callable  #: the compiled function
    args: tuple  #: backend arrays
    post: Callable[[Any], Any]  #: its result -> a JSON value (outside the timer)


class Tool:
    """Answers GradBench's messages with one backend bound to one variant."""

    def __init__(self, backend, threads: dict | None = None, modules: dict[str, Any] | None = None):
        self.default = self.b = backend
        self.threads = threads or {}
        #: module -> the backend variant that module runs in, where it is not the default's
        self.modules = modules or {}
        self._compiled: dict[tuple, Callable] = {}

    # --- messages --------------------------------------------------------------------

    def reply(self, message: Any) -> dict:
        """The reply to one parsed message (a malformed one gets an error reply)."""
        if not isinstance(message, dict):
            return {"id": None, "success": False, "error": "a message is a JSON object"}
        mid = echo_id(message.get("id"))
        kind = message.get("kind")
        if not isinstance(kind, str):
            return {"id": mid, "success": False, "error": "a message needs a 'kind' (start, define, evaluate ...)"}
        if kind == "start":
            return {"id": mid, "tool": f"autodiff-bench {self.b.label}", "config": self.config()}
        if kind == "define":
            module = message.get("module")
            if module in MODULES:
                return {"id": mid, "success": True}
            return {
                "id": mid,
                "success": False,
                "error": f"module {module!r} is not implemented; this tool knows {', '.join(MODULES)}",
            }
        if kind == "evaluate":
            return {"id": mid, **self.evaluate(message.get("module"), message.get("function"), message.get("input"))}
        return {"id": mid}  # analysis, and any other kind

    def config(self) -> dict:
        b = self.default
        doc = dict(backend=b.name, variant=b.variant.name, label=b.label, mode=b.variant.mode, version=b.version())
        modules = {"modules": {m: other.label for m, other in self.modules.items()}} if self.modules else {}
        return {**doc, "dtype": DTYPE, **self.threads, **modules}

    def evaluate(self, module, function, input) -> dict:
        self.b = self.modules.get(module, self.default) if isinstance(module, str) else self.default
        try:
            call = self.call(module, function, input)
            runs, seconds = _runs(input)
        except (InputError, nested.InputError, jacobians.InputError) as exc:
            return {"success": False, "error": str(exc)}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            return {"success": False, "error": f"bad input for {module}.{function}: {type(exc).__name__}: {exc}"}
        try:
            out, timings = self.time(call, runs, seconds)
            output = call.post(out)
            json.dumps(output, allow_nan=False)  # NaN and Infinity are not JSON
        except Exception as exc:  # a framework error is a failed evaluation, not a dead tool
            return {"success": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        return {"success": True, "output": output, "timings": timings}

    def time(self, call: Call, runs: int, seconds: float) -> tuple[Any, list[dict]]:
        """GradBench's loop: at least ``runs`` runs and ``seconds`` in all, one timing a run."""
        timings: list[dict] = []
        total, out = 0, None
        block = self.b.block
        while len(timings) < runs or total < seconds * 1e9:
            start = time.perf_counter_ns()
            out = block(call.fn(*call.args))
            elapsed = time.perf_counter_ns() - start
            timings.append({"name": "evaluate", "nanoseconds": elapsed})
            total += elapsed
        return out, timings

    # --- the functions -------------------------------------------------------------------

    def call(self, module, function, input) -> Call:
        if module not in MODULES:
            raise InputError(f"unknown module {module!r}; this tool knows {', '.join(MODULES)}")
        if function not in FUNCTIONS[module]:
            raise InputError(f"unknown function {function!r} of {module}; it has {', '.join(FUNCTIONS[module])}")
        if module != "hello" and not isinstance(input, dict):
            raise InputError(f"the input of {module}.{function} is a JSON object")
        for side in (nested, jacobians):  # evals served by modules of their own
            if module in side.MODULES:
                return Call(*side.call(self, module, function, input))
        return getattr(self, f"_{module}")(function, input)

    def _hello(self, function, input):
        if isinstance(input, bool) or not isinstance(input, (int, float)):
            raise InputError("hello's input is a number")
        args = ((self.array(input),), {})
        if function == "square":
            return Call(self.value(SQUARE, "hello"), args, self.number)
        return Call(self.gradient(SQUARE, "hello"), args, lambda g: self.number(g[0]))

    def _lse(self, function, input):
        loss = problems.get("lse").loss
        args = ((self.array(input["x"]),), {})
        if function == "primal":
            return Call(self.value(loss, "lse"), args, self.number)
        return Call(self.gradient(loss, "lse"), args, lambda g: self.list(g[0]))

    def _llsq(self, function, input):
        from problems.llsq import grid

        loss = problems.get("llsq").loss
        x = self.array(input["x"])
        n = input["n"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError("llsq's n is a positive integer")
        args = ((x,), self.data(grid(n, int(x.shape[0]))))
        if function == "primal":
            return Call(self.value(loss, "llsq"), args, self.number)
        return Call(self.gradient(loss, "llsq"), args, lambda g: self.list(g[0]))

    def _kmeans(self, function, input):
        from problems.kmeans import nearest_cost

        problem = problems.get("kmeans")
        points, centroids = _matrix(input["points"], "points"), _matrix(input["centroids"], "centroids")
        if points.shape[1] != centroids.shape[1]:
            raise InputError("points and centroids must have the same dimension")
        args = ((self.b.asarray(centroids, DTYPE),), {"x": self.b.asarray(points, DTYPE)})
        if function == "cost":
            return Call(self.value(Differentiable(nearest_cost), "kmeans"), args, self.number)
        fn = self.compiled(("kmeans", "dir", centroids.shape), lambda: problem.direction(self.b, centroids.shape))
        return Call(fn, args, self.list)

    def _gmm(self, function, input):
        from problems.gmm import PARAMS, data_for

        loss = problems.get("gmm").loss
        d, k, n = (int(input[key]) for key in ("d", "k", "n"))
        x = _matrix(input["x"], "x", rows=n, columns=d)
        alpha = np.asarray(input["alpha"], dtype=np.float64).reshape(k)
        mu, q = (_matrix(input[key], key, rows=k, columns=d) for key in ("mu", "q"))
        l = _matrix(input["l"], "l", rows=k, columns=d * (d - 1) // 2)
        params = tuple(self.b.asarray(p, DTYPE) for p in (alpha, mu, q, l))
        args = (params, self.data(data_for(x, input.get("m", 0), input.get("gamma", 1.0), k)))
        if function == "objective":
            return Call(self.value(loss, "gmm"), args, self.number)
        return Call(self.gradient(loss, "gmm"), args, lambda g: {key: self.list(a) for key, a in zip(PARAMS, g)})

    def _ode(self, function, input):
        from problems.ode import step_sizes

        model = problems.get("ode").model
        x = np.asarray(input["x"], dtype=np.float64)
        s = input["s"]
        if x.ndim != 1 or x.size == 0:
            raise InputError("ode's x is a non-empty list of numbers")
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise InputError("ode's s is a positive integer")
        data = self.data({"h": step_sizes(s)})
        if function == "primal":
            return Call(self.value(model, "ode"), ((self.b.asarray(x, DTYPE),), data), self.list)
        last = np.zeros_like(x)
        last[-1] = 1.0  # GradBench's gradient is that of the last output

        def make():
            vjp = self.b.vjp(model)
            return lambda params, u, data: vjp(params, u, data)[1]

        fn = self.compiled(("ode", "gradient"), make)
        return Call(fn, ((self.b.asarray(x, DTYPE),), self.b.asarray(last, DTYPE), data), lambda g: self.list(g[0]))

    def _det(self, function, input):
        from problems.det import SIZES, level_data

        ell, a = input["ell"], np.asarray(input["A"], dtype=np.float64)
        if isinstance(ell, bool) or not isinstance(ell, int) or not 1 <= ell <= SIZES["large"]:
            raise InputError(f"det's ell is an integer from 1 to {SIZES['large']}")
        if a.shape != (ell * ell,):
            raise InputError(f"det's A is a list of ell * ell = {ell * ell} numbers")
        loss = problems.get("det").loss
        args = ((self.array(a.reshape(ell, ell)),), self.data(level_data(ell)))
        if function == "primal":
            return Call(self.value(loss, "det"), args, self.number)
        return Call(self.gradient(loss, "det"), args, lambda g: self.flat(g[0]))

    def _lstm(self, function, input):
        main = _matrix(input["main_params"], "main_params")
        if main.shape[0] % 2 or main.shape[1] % 4:
            raise InputError(f"lstm's main_params has shape {main.shape}; expected (2 l, 4 b)")
        rows, b = main.shape[0], main.shape[1] // 4
        extra = _matrix(input["extra_params"], "extra_params", rows=3, columns=b)
        data = {"state": _matrix(input["state"], "state", rows=rows, columns=b)}
        data["sequence"] = _matrix(input["sequence"], "sequence", columns=b)
        if rows == 0 or b == 0 or data["sequence"].shape[0] < 2:
            raise InputError("lstm needs a layer, a bit and two characters at least")
        loss = problems.get("lstm").loss
        args = ((self.b.asarray(main, DTYPE), self.b.asarray(extra, DTYPE)), self.data(data))
        if function == "objective":
            return Call(self.value(loss, "lstm"), args, self.number)
        return Call(self.gradient(loss, "lstm"), args, lambda g: self.flat(g[0]) + self.flat(g[1]))

    # --- helpers -----------------------------------------------------------------------------

    def compiled(self, key, make: Callable[[], Callable]) -> Callable:
        """``backend.compile(make())``, built once per key and reused (compilers cache by shape)."""
        if key not in self._compiled:
            self._compiled[key] = self.b.compile(make())
        return self._compiled[key]

    def value(self, f: Differentiable, module: str) -> Callable:
        return self.compiled((module, "value", id(f.value)), lambda: partial(f.value, self.b.xp))

    def gradient(self, f: Differentiable, module: str) -> Callable:
        def make():
            value_and_grad = self.b.value_and_grad(f)
            return lambda params, data: value_and_grad(params, data)[1]

        return self.compiled((module, "gradient", id(f.value)), make)

    def array(self, values):
        a = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise InputError("the input holds a non-finite number")
        return self.b.asarray(a, DTYPE)

    def data(self, data: dict) -> dict:
        return {key: self.b.asarray(v, DTYPE) for key, v in data.items()}

    def number(self, x) -> float:
        return float(np.asarray(self.b.to_numpy(x)))

    def list(self, x) -> list:
        return np.asarray(self.b.to_numpy(x), dtype=np.float64).tolist()

    def flat(self, x) -> list:
        """An array's entries in row-major order, as one list."""
        return np.asarray(self.b.to_numpy(x), dtype=np.float64).ravel().tolist()


def _matrix(values, name: str, rows: int | None = None, columns: int | None = None) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1 and a.size == 0 and rows:  # k rows of nothing: GradBench's l when d = 1
        a = a.reshape(rows, 0)
    if a.ndim != 2:
        raise InputError(f"{name} is a list of lists of numbers")
    if (rows is not None and a.shape[0] != rows) or (columns is not None and a.shape[1] != columns):
        raise InputError(f"{name} has shape {a.shape}; expected ({rows}, {columns})")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} holds a non-finite number")
    return a


def _runs(input) -> tuple[int, float]:
    """``min_runs`` and ``min_seconds`` of an input (hello has neither: one run)."""
    if not isinstance(input, dict):
        return 1, 0.0
    runs, seconds = input.get("min_runs", 1), input.get("min_seconds", 0)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise InputError("min_runs is a positive integer")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise InputError("min_seconds is a non-negative number")
    return runs, float(seconds)


# --- the session -------------------------------------------------------------------------------

_ID = re.compile(r'"id"\s*:\s*(-?\d{1,30})\b')


def echo_id(mid: Any) -> int | float | str | None:
    """The id a reply echoes: the message's own when it is a JSON number or a short string, else null
    (NaN, Infinity, a list, an object, a nested structure: nothing a reply can carry as valid JSON)."""
    if isinstance(mid, bool):
        return None
    if isinstance(mid, int) or (isinstance(mid, float) and math.isfinite(mid)):
        return mid
    if isinstance(mid, str) and len(mid) <= 200:
        return mid
    return None


def parse(line: str) -> tuple[Any, dict | None]:
    """``(message, None)``, or ``(None, error reply)`` for a line that is not JSON (or nested too deeply)."""
    try:
        message = json.loads(line)
        why = "nested too deeply" if too_deep(message) else None
    except RecursionError:
        why = "nested too deeply"
    except ValueError as exc:
        why = f"not JSON: {exc}"
    if why is None:
        return message, None
    found = _ID.search(line)
    return None, {"id": int(found.group(1)) if found else None, "success": False, "error": f"malformed message ({why})"}


def protocol_stdout():
    """A private, line-buffered handle on the real stdout; file descriptor 1 and
    ``sys.stdout`` then point at stderr, so that nothing but replies reaches stdout."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def serve(tool: Tool, stdin, stdout) -> int:
    """Answer every line of ``stdin`` until it closes; returns the exit status (0)."""
    while True:
        line = stdin.readline()
        if not line:
            return 0
        if not line.strip():
            continue  # a blank line is no message
        message, error = parse(line)
        try:
            reply = error or tool.reply(message)
            text = json.dumps(reply, allow_nan=False, separators=(",", ":"))
        except Exception as exc:  # the session goes on
            mid = echo_id(message.get("id")) if isinstance(message, dict) else None
            error = (f"{type(exc).__name__}: {exc}".splitlines() or [""])[0][:500]
            text = json.dumps({"id": mid, "success": False, "error": error}, allow_nan=False)
        stdout.write(text + "\n")
        stdout.flush()
