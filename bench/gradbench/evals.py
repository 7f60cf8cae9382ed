"""A small GradBench eval side: replay GradBench's inputs to a tool and summarise its timings.

GradBench's own evals need its Rust intermediary and C++ reference tool; this
module needs neither. Its inputs are GradBench's exactly (our problems' named
sizes reproduce its generators), its check is GradBench's rule
(|x - y| / max(1, |x| + |y|) <= 1e-4 for every number, same keys and lengths)
against our NumPy hand derivatives, and its summary is the median of the
``evaluate`` timings the tool reports (GradBench itself reports their mean,
first run and compilation included).

    python -m bench gradbench --eval lse:n640000 gmm:d20-k25 hello:1 --backend jax --threads 2

starts ``python -m bench.gradbench`` once per backend and variant (every
variant by default; ``--mode`` picks some) and prints one row per workload;
its exit status is 1 when any output fails the check. Every GradBench eval has
workloads: a problem's named size (``particle:w0``, ``ht:complicated-big-c100``)
or, for hello, the number squared and doubled (``hello:1``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

import backends
import problems

from ..cli import UsageError

#: module -> (primal function, derivative function)
FUNCTIONS = {
    "hello": ("square", "double"),
    "lse": ("primal", "gradient"),
    "llsq": ("primal", "gradient"),
    "kmeans": ("cost", "dir"),
    "gmm": ("objective", "jacobian"),
    "ode": ("primal", "gradient"),
    "det": ("primal", "gradient"),
    "lstm": ("objective", "jacobian"),
    "ba": ("objective", "jacobian"),
    "ht": ("objective", "jacobian"),
}
#: GradBench's nested-derivative evals: four orders of one search each, no primal
NESTED = {"particle": problems.NESTED_KINDS, "saddle": problems.NESTED_KINDS}
#: every GradBench eval, in GradBench's order
MODULES = (*FUNCTIONS, *NESTED)
TOLERANCE = 1e-4  #: GradBench's
#: a nested eval's output against GradBench's fixed answer, normwise relative: its rule alone lets any
#: saddle output within 1e-4 of its answer (8.2e-6) pass, a wrong one included
NESTED_TOLERANCE = 1e-10


def workload(module: str, size: str) -> dict | float:
    """GradBench's input for one workload, from our problem's named size (GradBench's own numbers)."""
    if module == "hello":  # a bare number, squared then doubled
        return float(size)
    inst = problems.get(module).instance(size)
    (first, *_), data = inst.params, inst.data
    if module == "lse":
        return {"x": first.tolist()}
    if module == "llsq":
        return {"x": first.tolist(), "n": inst.n}
    if module == "kmeans":
        return {"points": data["x"].tolist(), "centroids": first.tolist()}
    if module == "gmm":
        k, d = inst.params[1].shape
        return {
            "d": d,
            "k": k,
            "n": inst.n,
            "x": data["x"].tolist(),
            "m": int(data["m"]),
            "gamma": float(data["gamma"]),
            **{name: p.tolist() for name, p in zip(("alpha", "mu", "q", "l"), inst.params)},
        }
    if module == "ode":
        return {"x": first.tolist(), "s": int(data["h"].size)}
    if module == "det":
        return {"A": first.ravel().tolist(), "ell": inst.n}
    if module == "lstm":
        names = ("main_params", "extra_params", "state", "sequence")
        return {name: a.tolist() for name, a in zip(names, (*inst.params, data["state"], data["sequence"]))}
    if module == "ba":  # GradBench's input: one camera, point, weight, feature and the counts (any size)
        from problems import ba

        n, m, p = ba.dims(size, problems.get("ba").resolve_size(size).n)
        return {
            "n": n,
            "m": m,
            "p": p,
            "cam": list(ba.CAM),
            "x": list(ba.POINT),
            "w": ba.WEIGHT,
            "feat": list(ba.FEATURE),
        }
    if module == "ht":
        from problems.ht import gradbench_input

        return gradbench_input(first, data)
    if module == "particle":
        return {"w": float(first[0])}
    if module == "saddle":
        return {"start": first.tolist()}
    raise KeyError(f"no workloads for {module!r}")


def expected(module: str, function: str, input) -> object:
    """Our NumPy hand-derived answer to one GradBench function, as JSON values."""
    if module == "hello":
        return input * input if function == "square" else 2.0 * input
    problem = problems.get(module)
    if module in ("lse", "llsq"):
        from problems.llsq import grid

        x = np.asarray(input["x"], dtype=np.float64)
        data = grid(input["n"], x.size) if module == "llsq" else {}
        value, (g,) = problem.loss.value_and_grad((x,), data)
        return float(value) if function == "primal" else g.tolist()
    if module == "kmeans":
        from problems.kmeans import assign, cost_hvp, cost_value_and_grad

        x, mu = np.asarray(input["points"], dtype=np.float64), np.asarray(input["centroids"], dtype=np.float64)
        data = {"x": x, "assign": assign(np, x, mu)}
        if function == "cost":
            return problem.progress((mu,), data)
        _, (g,) = cost_value_and_grad((mu,), data)
        return (g / cost_hvp(mu.ravel(), np.ones(mu.size), data).reshape(mu.shape)).tolist()
    if module == "gmm":
        from problems.gmm import PARAMS, data_for

        params = tuple(np.asarray(input[name], dtype=np.float64).reshape(input["k"], -1) for name in PARAMS)
        params = (params[0].ravel(), *params[1:])
        data = data_for(np.asarray(input["x"], dtype=np.float64), input["m"], input["gamma"], input["k"])
        value, grads = problem.loss.value_and_grad(params, data)
        return float(value) if function == "objective" else {name: g.tolist() for name, g in zip(PARAMS, grads)}
    if module == "ode":
        from problems.ode import rk4_vjp, step_sizes

        x = np.asarray(input["x"], dtype=np.float64)
        last = np.zeros_like(x)
        last[-1] = 1.0
        y, (g,) = rk4_vjp((x,), last, {"h": step_sizes(input["s"])})
        return (y if function == "primal" else g).tolist()
    if module == "det":
        from problems.det import level_data

        ell = input["ell"]
        value, (g,) = problem.loss.value_and_grad((np.reshape(input["A"], (ell, ell)),), level_data(ell))
        return float(value) if function == "primal" else g.ravel().tolist()
    if module == "lstm":
        params = tuple(np.asarray(input[name], dtype=np.float64) for name in ("main_params", "extra_params"))
        data = {name: np.asarray(input[name], dtype=np.float64) for name in ("state", "sequence")}
        value, grads = problem.loss.value_and_grad(params, data)
        return float(value) if function == "objective" else np.concatenate([g.ravel() for g in grads]).tolist()
    if module == "ba":
        return ba_expected(function, input)
    if module == "ht":  # the residuals, and their Jacobian by complex steps (problems.ht)
        from problems.ht import from_gradbench, residuals, residuals_jacobian

        w, data = from_gradbench(input)
        return (residuals(np, w, data) if function == "objective" else residuals_jacobian(w, data)).tolist()
    if module in NESTED:  # GradBench's fixed answer for its workload, else the searches with hand derivatives
        inst = problem.instance(problem.gradbench_sizes[0])
        start = np.ravel(input["w"] if module == "particle" else input["start"]).astype(np.float64)
        out = problem.answer if np.array_equal(start, inst.params[0]) else problem.reference(inst, (start,))
        return float(out[0]) if module == "particle" else np.asarray(out).tolist()
    raise KeyError(module)


def ba_expected(function: str, input: dict) -> dict:
    """ba's answer from its first observation alone (every observation is the same): the objective's code in
    NumPy; the Jacobian's block by complex steps of that code (exact to rounding, no derivative code), its
    pattern by GradBench's SparseMat insertions, counted."""
    from problems.ba import COLOURS, reprojection

    n, m, p = input["n"], input["m"], input["p"]
    cam, x, w, feat = (np.asarray(input[key], dtype=np.float64) for key in ("cam", "x", "w", "feat"))
    theta = np.concatenate([cam, x, [w]])

    def first(theta):  # the first observation's two errors from its 15 parameters
        return reprojection(np, theta[None, :11], theta[None, 11:14], theta[14:], feat[None])

    if function == "objective":
        errors = first(theta)
        return {
            "reproj_error": {"elements": errors.tolist(), "repeated": p},
            "w_err": {"element": float(1 - w * w), "repeated": p},
        }
    step = 1e-30
    block = np.stack([np.imag(first(theta + 1j * step * e)) / step for e in np.eye(COLOURS)], axis=1)  # 2 x 15
    rows = [0]  # GradBench's insertions, as far as the 30 pointers it keeps
    for _ in range(p if p <= 15 else 15):
        rows += [rows[-1] + COLOURS, rows[-1] + 2 * COLOURS]
    for _ in range(p if p <= 15 else 0):
        rows.append(rows[-1] + 1)  # the weight rows follow every observation's two
    columns = [*range(11), *(11 * n + k for k in range(3)), 11 * n + 3 * m]
    return {
        "rows": rows[:30] + [2 * p * COLOURS + p],
        "cols": (columns * 2)[:30] + [11 * n + 3 * m + p - 1],
        "vals": block.ravel().tolist()[:30] + [-2 * float(w)],
    }


def ba_mismatches(expect: dict, actual: dict) -> list[str]:
    """Stricter than GradBench's rule (which lets an entry of 2,000 be 2e-4 off, relatively, and an entry below
    0.01 be 1% off): the pattern exactly, the values within :data:`NESTED_TOLERANCE`, normwise relative."""
    if "vals" not in expect:
        e = [*expect["reproj_error"]["elements"], expect["w_err"]["element"]]
        a = [*actual["reproj_error"]["elements"], actual["w_err"]["element"]]
        return nested_mismatches(e, a)
    wrong = [f"{key}: {actual[key]}, expected {expect[key]}" for key in ("rows", "cols") if actual[key] != expect[key]]
    return wrong + nested_mismatches(expect["vals"], actual["vals"])


def nested_mismatches(expect, actual) -> list[str]:
    """A nested eval's output within :data:`NESTED_TOLERANCE` of ``expect``, normwise relative."""
    e, a = np.ravel(np.asarray(expect, dtype=np.float64)), np.ravel(np.asarray(actual, dtype=np.float64))
    if e.shape != a.shape or not np.all(np.isfinite(a)):
        return [f"output {actual}, expected {expect}"]
    error = float(np.linalg.norm(a - e) / np.linalg.norm(e))
    return [] if error <= NESTED_TOLERANCE else [f"output {actual}: relative error {error:.1e} from {expect}"]


def mismatches(expect, actual, path: str = "") -> list[str]:
    """GradBench's structural comparison: same keys, same lengths, numbers within :data:`TOLERANCE`."""
    number = (int, float)
    if isinstance(expect, number) and isinstance(actual, number) and not isinstance(actual, bool):
        diff = abs(actual - expect) / max(1.0, abs(actual) + abs(expect))
        return [] if diff <= TOLERANCE else [f"{path or 'output'}: expected {expect}, got {actual}"]
    if isinstance(expect, dict) and isinstance(actual, dict):
        if set(expect) != set(actual):
            return [f"{path or 'output'}: keys {sorted(actual)}, expected {sorted(expect)}"]
        return [m for key in expect for m in mismatches(expect[key], actual[key], f"{path}.{key}")]
    if isinstance(expect, list) and isinstance(actual, list):
        if len(expect) != len(actual):
            return [f"{path or 'output'}: length {len(actual)}, expected {len(expect)}"]
        return [m for i, (e, a) in enumerate(zip(expect, actual)) for m in mismatches(e, a, f"{path}[{i}]")]
    return [f"{path or 'output'}: a {type(actual).__name__}, expected a {type(expect).__name__}"]


class Session:
    """A tool process and the messages exchanged with it, in GradBench's order."""

    def __init__(self, command: list[str]):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.next_id = 0

    def send(self, message: dict) -> dict:
        message = {"id": self.next_id, **message}
        self.next_id += 1
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the tool ended without answering message {message['id']}")
        reply = json.loads(line)
        if reply.get("id") != message["id"]:
            raise RuntimeError(f"reply {reply.get('id')!r} to message {message['id']}")
        return reply

    def close(self) -> int:
        self.process.stdin.close()
        return self.process.wait(timeout=60)


@dataclass
class Row:
    label: str
    module: str
    size: str
    function: str
    median_ns: float
    runs: int
    valid: bool
    error: str | None = None


def measure(
    command: list[str], label: str, todo: list[tuple[str, str]], min_runs: int, min_seconds: float
) -> list[Row]:
    """Run each (module, size) through one tool session: primal, then derivative, validated."""
    session = Session(command)
    rows = []
    try:
        session.send({"kind": "start"})
        for module in dict.fromkeys(m for m, _ in todo):
            if not session.send({"kind": "define", "module": module}).get("success"):
                rows += [Row(label, m, s, "-", float("nan"), 0, False, "undefined") for m, s in todo if m == module]
                continue
            for m, size in todo:
                if m != module:
                    continue
                input = workload(module, size)
                if isinstance(input, dict):  # hello's bare number runs once
                    input = {**input, "min_runs": min_runs, "min_seconds": min_seconds}
                for function in FUNCTIONS.get(module) or NESTED[module]:
                    reply = session.send({"kind": "evaluate", "module": module, "function": function, "input": input})
                    if not reply.get("success"):
                        rows.append(Row(label, module, size, function, float("nan"), 0, False, reply.get("error")))
                        continue
                    expect = expected(module, function, input)
                    problems_found = mismatches(expect, reply["output"])
                    if module in NESTED and not problems_found:
                        problems_found = nested_mismatches(expect, reply["output"])
                    if module == "ba" and not problems_found:
                        problems_found = ba_mismatches(expect, reply["output"])
                    if module == "ht" and not problems_found:  # GradBench's rule passes 1% of entries below 0.01
                        problems_found = nested_mismatches(expect, reply["output"])
                    times = [t["nanoseconds"] for t in reply["timings"] if t["name"] == "evaluate"]
                    rows.append(
                        Row(
                            label,
                            module,
                            size,
                            function,
                            statistics.median(times),
                            len(times),
                            not problems_found,
                            "; ".join(problems_found[:3]) or None,
                        )
                    )
    finally:
        session.close()
    return rows


def parse_workloads(values: list[str]) -> list[tuple[str, str]]:
    """``MODULE:SIZE`` strings as pairs, each checked: a one-line ``UsageError`` naming what is allowed."""
    todo = []
    for value in values:
        module, colon, size = value.partition(":")
        if not colon or module not in MODULES:
            raise UsageError(f"--eval {value!r}: expected MODULE:SIZE with MODULE one of {', '.join(MODULES)}")
        if module == "hello":
            try:
                float(size)
            except ValueError:
                raise UsageError(f"--eval {value!r}: hello's size is the number it squares (hello:1)") from None
        else:
            try:
                problems.get(module).resolve_size(size)
            except (KeyError, ValueError) as exc:
                raise UsageError(f"--eval {value!r}: {str(exc).strip(chr(34) + chr(39))}") from None
        todo.append((module, size))
    return todo


def run(
    workloads: list[str],
    backend_names: list[str] | None = None,
    modes: list[str] | None = None,
    threads: int = 1,
    min_runs: int = 10,
    min_seconds: float = 1.0,
) -> int:
    """Replay ``workloads`` on each backend (default: every installed one) and variant; print one row each.

    0 when every output passes the check, else 1."""
    todo = parse_workloads(workloads)
    names = backend_names or [n for n in backends.NAMES if backends.installed(n)]
    rows: list[Row] = []
    for name in names:
        info = backends.info(name)
        for variant in info.variant_names:
            if modes and variant not in modes and info.variant(variant).mode not in modes:
                continue
            command = [
                sys.executable,
                "-m",
                "bench.gradbench",
                "--backend",
                name,
                "--mode",
                variant,
                "--threads",
                str(threads),
            ]
            rows += measure(command, info.label(variant), todo, min_runs, min_seconds)
    print(f"{'tool':<20} {'workload':<26} {'primal ms':>10} {'derivative ms':>14} {'ratio':>7} {'runs':>9}  valid")
    by_key = {(r.label, r.module, r.size, r.function): r for r in rows}
    for r in rows:
        if r.module in NESTED:  # one row an order, no primal
            workload, valid = f"{r.module}:{r.size} {r.function}", "yes" if r.valid else f"NO ({r.error})"
            print(f"{r.label:<20} {workload:<26} {'-':>10} {r.median_ns / 1e6:>14.3f} {'-':>7} {r.runs:>9}  {valid}")
            continue
        primal_name, derivative_name = FUNCTIONS[r.module]
        if r.function != derivative_name:
            continue
        primal = by_key.get((r.label, r.module, r.size, primal_name))
        ratio = r.median_ns / primal.median_ns if primal and primal.median_ns else float("nan")
        valid = "yes" if r.valid and primal and primal.valid else f"NO ({r.error or (primal and primal.error)})"
        print(
            f"{r.label:<20} {r.module + ':' + r.size:<26} {primal.median_ns / 1e6 if primal else float('nan'):>10.3f} "
            f"{r.median_ns / 1e6:>14.3f} {ratio:>7.2f} {f'{primal.runs if primal else 0}/{r.runs}':>9}  {valid}"
        )
    return 0 if all(r.valid for r in rows) else 1
