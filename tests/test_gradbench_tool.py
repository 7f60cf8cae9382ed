"""``python -m bench gradbench``: our backends as a GradBench tool, driven by a small eval side.

The driver below does what GradBench's evals do (github.com/gradbench/gradbench,
python/gradbench/gradbench/evals/*/run.py): generate each module's smallest
workloads from its seeds, send start, define and evaluate messages one JSON line
at a time, and validate every output with GradBench's own rule (same keys and
list lengths; every number within |x - y| / max(1, |x| + |y|) <= 1e-4), here
against our NumPy hand derivatives instead of GradBench's C++ tool.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys

import numpy as np
import pytest

import backends
from problems import gmm, kmeans, llsq, lse, ode

from .support import require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4
TIMEOUT = 120  #: seconds for one reply (the first of a compiled variant traces and compiles)


def tool_command() -> list[str]:
    """``python -m bench gradbench`` once the subcommand is registered; its module until then."""
    import bench.__main__ as cli

    registered = "gradbench" in getattr(cli, "COMMANDS", {})
    return [sys.executable, "-m", "bench", "gradbench"] if registered else [sys.executable, "-m", "bench.gradbench"]


class ToolProcess:
    """The tool as GradBench's intermediary sees it: lines in, one line out per line."""

    def __init__(self, *args: str, stderr_path=None):
        self.stderr = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            tool_command() + list(args),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )
        self.next_id = 0

    def line(self, text: str) -> dict:
        """Send one raw line; the reply must be one line of JSON, within the timeout."""
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], TIMEOUT)
        assert ready, f"no reply to {text[:80]!r} within {TIMEOUT} s"
        reply = self.process.stdout.readline()
        assert reply.endswith("\n") and "\n" not in reply[:-1], reply
        return json.loads(reply)

    def send(self, kind: str, **fields) -> dict:
        mid, self.next_id = self.next_id, self.next_id + 1
        reply = self.line(json.dumps({"id": mid, "kind": kind, **fields}))
        assert reply["id"] == mid
        return reply

    def close(self) -> tuple[int, str]:
        """End of input: the tool must exit 0 and have written nothing more."""
        self.process.stdin.close()
        rest = self.process.stdout.read()
        status = self.process.wait(timeout=60)
        if self.stderr is not subprocess.DEVNULL:
            self.stderr.close()
        return status, rest


# --- GradBench's inputs, generated as its evals generate them (the smallest workloads) ---------------


def runs(input: dict, min_runs: int = 1) -> dict:
    return {**input, "min_runs": min_runs, "min_seconds": 0}


def lse_inputs():
    legacy = np.random.RandomState(31337)
    return [{"x": legacy.rand(n).tolist()} for n in (2500,)]


def llsq_inputs():
    legacy = np.random.RandomState(31337)
    return [{"x": legacy.rand(128).tolist(), "n": n} for n in (16, 32, 64)]


def kmeans_inputs():
    legacy = np.random.RandomState(31337)
    out = []
    for k, n, d in ((10, 1000, 8),):
        points = legacy.rand(n, d).tolist()
        out.append({"points": points, "centroids": points[-k:]})
    return out


def gmm_inputs():
    out = []
    for d, k in ((2, 5),):
        rng = np.random.default_rng(seed=31337)
        out.append(
            {
                "d": d,
                "k": k,
                "n": 1000,
                "x": [list(rng.normal(size=d)) for _ in range(1000)],
                "m": 0,
                "gamma": 1.0,
                "alpha": list(rng.normal(size=k)),
                "mu": [list(rng.uniform(size=d)) for _ in range(k)],
                "q": [list(rng.normal(size=d)) for _ in range(k)],
                "l": [list(rng.normal(size=d * (d - 1) // 2)) for _ in range(k)],
            }
        )
    return out


def ode_inputs():
    legacy = np.random.RandomState(31337)
    # GradBench's smallest (its gradient is zero there: n > 4s), and n = 12, s = 3 where it is not
    return [{"x": legacy.rand(n).tolist(), "s": s} for n, s in ((1000, 1), (12, 3))]


WORKLOADS = {
    "lse": (("primal", "gradient"), lse_inputs),
    "llsq": (("primal", "gradient"), llsq_inputs),
    "kmeans": (("cost", "dir"), kmeans_inputs),
    "gmm": (("objective", "jacobian"), gmm_inputs),
    "ode": (("primal", "gradient"), ode_inputs),
}


# --- the references: our NumPy hand derivatives ------------------------------------------------------


def expected(module: str, function: str, input: dict):
    if module == "lse":
        value, (g,) = lse.lse_value_and_grad((np.array(input["x"]),), {})
        return float(value) if function == "primal" else g.tolist()
    if module == "llsq":
        x = np.array(input["x"])
        value, (g,) = llsq.objective_value_and_grad((x,), llsq.grid(input["n"], x.size))
        return float(value) if function == "primal" else g.tolist()
    if module == "kmeans":
        x, mu = np.array(input["points"]), np.array(input["centroids"])
        data = {"x": x, "assign": kmeans.assign(np, x, mu)}
        value, (g,) = kmeans.cost_value_and_grad((mu,), data)
        hessian_diagonal = kmeans.cost_hvp(mu.ravel(), np.ones(mu.size), data).reshape(mu.shape)
        return float(value) if function == "cost" else (g / hessian_diagonal).tolist()
    if module == "gmm":
        k = input["k"]
        params = (np.array(input["alpha"]), *(np.array(input[key]).reshape(k, -1) for key in ("mu", "q", "l")))
        data = gmm.data_for(np.array(input["x"]), input["m"], input["gamma"], k)
        value, grads = gmm.log_posterior_value_and_grad(params, data)
        return float(value) if function == "objective" else {key: g.tolist() for key, g in zip(gmm.PARAMS, grads)}
    if module == "ode":
        x = np.array(input["x"])
        last = np.zeros_like(x)
        last[-1] = 1.0
        y, (g,) = ode.rk4_vjp((x,), last, {"h": ode.step_sizes(input["s"])})
        return (y if function == "primal" else g).tolist()
    raise KeyError(module)


def mismatches(expect, actual, path="output") -> list[str]:
    """GradBench's compare_json_objects: ints and floats interchangeable, same keys and lengths."""
    if isinstance(expect, (int, float)) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        rho = abs(actual - expect) / max(1.0, abs(actual) + abs(expect))
        return [] if rho <= TOLERANCE else [f"{path}: {expect} != {actual}"]
    if type(expect) is not type(actual):
        return [f"{path}: expected {type(expect).__name__}, got {type(actual).__name__}"]
    if isinstance(expect, dict):
        if set(expect) != set(actual):
            return [f"{path}: keys {sorted(actual)} != {sorted(expect)}"]
        return [m for key in expect for m in mismatches(expect[key], actual[key], f"{path}.{key}")]
    if isinstance(expect, list):
        if len(expect) != len(actual):
            return [f"{path}: length {len(actual)} != {len(expect)}"]
        return [m for i, (e, a) in enumerate(zip(expect, actual)) for m in mismatches(e, a, f"{path}[{i}]")]
    return [] if expect == actual else [f"{path}: {expect!r} != {actual!r}"]


def assert_timings(reply: dict, count: int = 1) -> None:
    timings = reply["timings"]
    assert len(timings) == count and all(t["name"] == "evaluate" for t in timings)
    assert all(isinstance(t["nanoseconds"], int) and t["nanoseconds"] >= 0 for t in timings)


# --- every module's small workloads, on every backend ---------------------------------------------


#: each backend once: its default (compiled) variant for jax, whose eager first calls compile
#: every operation apart; the eager variant for the others, whose compilers take longer
TOOLS = [(name, None if name == "jax" else backends.info(name).variants[0].name) for name in backends.NAMES]


@pytest.mark.parametrize("name, mode", TOOLS, ids=[f"{n}-{m or 'default'}" for n, m in TOOLS])
def test_every_module_validates_with_gradbenchs_rule(name, mode, tmp_path):
    require(name, mode)
    tool = ToolProcess("--backend", name, *(["--mode", mode] if mode else []), stderr_path=tmp_path / "stderr")
    start = tool.send("start", eval="all")
    assert start["tool"].startswith("autodiff-bench") and start["config"]["backend"] == name
    variant = mode or ("eager" if not backends.info(name).can_compile else "compiled")
    assert start["config"]["variant"] == backends.info(name).variant(variant).name

    assert tool.send("define", module="hello") == {"id": 1, "success": True}
    x = 1.0
    for _ in range(4):  # hello's eval: four chained rounds
        y = tool.send("evaluate", module="hello", function="square", input=x)
        assert y["success"] and y["output"] == pytest.approx(x * x) and len(y["timings"]) == 1
        z = tool.send("evaluate", module="hello", function="double", input=y["output"])
        assert z["success"] and z["output"] == pytest.approx(2 * y["output"])
        x = z["output"]

    failures = []
    for module, (functions, inputs) in WORKLOADS.items():
        assert tool.send("define", module=module)["success"] is True
        for input in inputs():
            for function in functions:
                reply = tool.send("evaluate", module=module, function=function, input=runs(input))
                assert reply["success"], f"{module}.{function}: {reply.get('error')}"
                assert_timings(reply)
                found = mismatches(expected(module, function, input), reply["output"])
                if found:
                    failures.append(f"{module}.{function}: {found[:3]}")
                tool.send("analysis", of=tool.next_id - 1, valid=not found)
    status, rest = tool.close()
    assert not failures, failures
    assert status == 0 and rest == "", (status, rest, (tmp_path / "stderr").read_text()[-2000:])


# --- the protocol's edges -------------------------------------------------------------------------


@pytest.fixture
def numpy_tool(tmp_path):
    tool = ToolProcess("--backend", "numpy", stderr_path=tmp_path / "stderr")
    yield tool
    if tool.process.poll() is None:
        tool.process.kill()
        tool.process.wait()


def test_unknown_module_malformed_lines_and_unknown_kinds(numpy_tool):
    tool = numpy_tool
    assert tool.send("start")["config"]["label"] == "numpy"
    undefined = tool.send("define", module="nosuch")
    assert undefined["success"] is False and "nosuch" in undefined["error"]
    garbage = tool.line("this is not JSON")
    assert garbage["id"] is None and garbage["success"] is False and garbage["error"]
    truncated = tool.line('{"id": 41, "kind": "evaluate", "module": "lse"')
    assert truncated["id"] == 41 and truncated["success"] is False
    not_an_object = tool.line("[1, 2, 3]")
    assert not_an_object["id"] is None and not_an_object["success"] is False
    no_kind = tool.line('{"id": 42}')
    assert no_kind["id"] == 42 and no_kind["success"] is False
    assert tool.send("shutdown") == {"id": 2}  # any other kind: the id alone
    assert tool.send("analysis", of=1, valid=False, error="wrong") == {"id": 3}
    wrong_function = tool.send("evaluate", module="lse", function="hessian", input={"x": [1.0]})
    assert wrong_function["success"] is False and "hessian" in wrong_function["error"]
    bad_input = tool.send("evaluate", module="llsq", function="primal", input={"x": [1.0]})
    assert bad_input["success"] is False and "error" in bad_input
    unknown = tool.send("evaluate", module="nosuch", function="objective", input={})
    assert unknown["success"] is False
    # the session goes on after every error
    assert tool.send("define", module="lse")["success"] is True
    ok = tool.send("evaluate", module="lse", function="gradient", input=runs({"x": [0.0, 0.0]}, min_runs=5))
    assert ok["success"] and ok["output"] == [0.5, 0.5]
    assert_timings(ok, count=5)
    status, rest = tool.close()
    assert status == 0 and rest == ""


def test_min_seconds_repeats_the_runs(numpy_tool):
    reply = numpy_tool.send(
        "evaluate", module="lse", function="primal", input={"x": [1.0, 2.0], "min_runs": 1, "min_seconds": 0.05}
    )
    assert reply["success"] and reply["output"] == pytest.approx(2 + math.log1p(math.exp(-1)))
    assert sum(t["nanoseconds"] for t in reply["timings"]) >= 0.05e9 and len(reply["timings"]) > 1
    assert numpy_tool.close() == (0, "")


def test_nothing_but_replies_reaches_stdout_even_when_a_library_prints():
    script = (
        "import os, sys\n"
        "import backends\n"
        "from bench.gradbench.tool import Tool, protocol_stdout, serve\n"
        "out = protocol_stdout()\n"
        "print('a library talking')\n"
        "os.write(1, b'a C library talking\\n')\n"
        "sys.exit(serve(Tool(backends.get('numpy')), sys.stdin, out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        input='{"id": 0, "kind": "start"}\n\n',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["id"] == 0
    assert "a library talking" in done.stderr and "a C library talking" in done.stderr


def test_mode_chooses_the_variant_and_bad_choices_stop_in_one_line():
    def tool(*args):
        command = tool_command() + list(args)
        return subprocess.run(
            command, check=False, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
        )

    bad = tool("--backend", "numpy", "--mode", "jit")
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    unknown = tool("--backend", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    two = tool("--backend", "numpy", "--backend", "jax")
    assert two.returncode == 2 and two.stdout == "" and len(two.stderr.strip().splitlines()) == 1


def test_bad_eval_workloads_are_one_line_errors_naming_what_is_allowed():
    from bench.cli import UsageError
    from bench.gradbench import evals

    for value, hint in [
        ("foo:1", "particle, saddle"),
        ("lse", "MODULE:SIZE"),
        ("hello:x", "hello:1"),
        ("lse:x", "n2500"),
    ]:
        with pytest.raises(UsageError, match=hint) as caught:
            evals.parse_workloads([value])
        assert "\n" not in str(caught.value)
    assert evals.parse_workloads(["hello:2", "particle:w0"]) == [("hello", "2"), ("particle", "w0")]
    assert set(evals.MODULES) == set(evals.FUNCTIONS) | set(evals.NESTED) and len(evals.MODULES) == 12


def test_the_front_door_replays_every_kind_of_eval_and_fails_a_wrong_answer(monkeypatch):
    """``python -m bench gradbench --eval``: hello's bare number, a primal and derivative, a nested eval's four
    orders, all valid; a wrong expected answer turns the exit status to 1."""
    command = tool_command() + ["--eval", "hello:3", "lse:n2500", "saddle:s1", "--backend", "numpy"]
    command += ["--min-runs", "1", "--min-seconds", "0"]
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r[1] for r in rows] == ["hello:3", "lse:n2500", *["saddle:s1"] * 4]
    assert all(r[-1] == "yes" for r in rows)
    wrong = evals_expected_off_by_one_percent(monkeypatch)
    assert wrong.run(["hello:3"], ["numpy"], min_runs=1, min_seconds=0.0) == 1


def evals_expected_off_by_one_percent(monkeypatch):
    from bench.gradbench import evals

    right = evals.expected
    monkeypatch.setattr(evals, "expected", lambda *args: 1.01 * right(*args))
    return evals
