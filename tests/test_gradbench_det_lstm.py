"""GradBench's det and lstm evals: the problems, their inputs, the checks and the tool.

det is checked against the recursion it stands for and against linear algebra (the
determinant; its gradient, the cofactor matrix, is det(A) A^-T); lstm against a scalar
transcription of GradBench's C++ objective and against finite differences. A 1% error
in either derivative fails ``check`` in both dtypes, and both modules validate through
``python -m bench gradbench`` with GradBench's rule on every backend.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import backends
import problems
from bench import check, gradbench
from bench.cells import Cell
from bench.gradbench import evals
from problems import det, lstm
from problems.base import flatten

from . import skewed_backend  # noqa: F401 - registers the plugin backend
from .support import require
from .test_gradbench_tool import ToolProcess, runs

# --- det ------------------------------------------------------------------------------------------


def naive_det(a: np.ndarray) -> float:
    """Expansion by minors along the first row, recursively (cmpad's definition)."""
    if a.shape[0] == 1:
        return float(a[0, 0])
    rest = a[1:]
    return sum((-1) ** j * a[0, j] * naive_det(np.delete(rest, j, axis=1)) for j in range(a.shape[0]))


def cofactors(a: np.ndarray) -> np.ndarray:
    return np.linalg.det(a) * np.linalg.inv(a).T


@pytest.mark.parametrize("ell", [1, 2, 3, 5, 7])
def test_det_is_the_expansion_by_minors(ell):
    a = np.random.default_rng(ell).standard_normal((ell, ell))
    value, (g,) = det.det_value_and_grad((a,), det.level_data(ell))
    assert value == pytest.approx(naive_det(a), rel=1e-12, abs=1e-14)
    assert float(det.det_by_minors(np, (a,), det.level_data(ell))) == pytest.approx(value, rel=1e-13, abs=1e-15)
    cofactor = np.array([[naive_det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(ell)] for i in range(ell)])
    signs = (-1.0) ** np.add.outer(np.arange(ell), np.arange(ell))
    np.testing.assert_allclose(g, signs * cofactor if ell > 1 else np.ones((1, 1)), rtol=1e-11, atol=1e-13)


def test_det_gradient_is_the_cofactor_matrix_at_gradbenchs_largest_workload():
    inst = problems.get("det").instance("ell11")
    (a,) = inst.params
    value, (g,) = det.det_value_and_grad(inst.params, inst.data)
    assert value == pytest.approx(np.linalg.det(a), rel=1e-10)
    assert np.linalg.norm(g - cofactors(a)) <= 1e-10 * np.linalg.norm(g)


def test_det_of_a_singular_matrix_still_has_its_cofactors():
    a = np.arange(16.0).reshape(4, 4)  # rank 2: det 0, and every cofactor 0 too
    a[3] = [1.0, 0.0, 2.0, 5.0]  # rank 3: det 0, cofactors not all 0
    value, (g,) = det.det_value_and_grad((a,), det.level_data(4))
    assert abs(value) < 1e-12 and np.max(np.abs(g)) > 1
    assert np.max(np.abs(g @ a.T)) < 1e-10  # adj(A) A = det(A) I = 0


def test_det_sizes_are_gradbenchs_inputs():
    legacy = np.random.RandomState(31337)  # GradBench: one seed, then rand(ell * ell) per ell in 5 .. 11
    drawn = {ell: legacy.rand(ell * ell) for ell in range(5, 12)}
    p = problems.get("det")
    assert p.gradbench_sizes == tuple(f"ell{ell}" for ell in range(5, 12))
    for ell in (5, 8, 11):
        np.testing.assert_array_equal(p.instance(f"ell{ell}").params[0].ravel(), drawn[ell])
    assert evals.workload("det", "ell5") == {"A": drawn[5].tolist(), "ell": 5}


# --- lstm -----------------------------------------------------------------------------------------


def scalar_lstm_objective(main, extra, state, sequence) -> float:
    """GradBench's C++ objective (cpp/gradbench/evals/lstm.hpp), one scalar at a time."""
    layers, b = main.shape[0] // 2, main.shape[1] // 4
    h = [list(state[2 * j]) for j in range(layers)]
    c = [list(state[2 * j + 1]) for j in range(layers)]
    total, count = 0.0, 0
    for t in range(sequence.shape[0] - 1):
        x = [sequence[t, k] * extra[0, k] for k in range(b)]
        for j in range(layers):
            w, bias = main[2 * j], main[2 * j + 1]
            for k in range(b):
                forget = 1 / (1 + math.exp(-(x[k] * w[k] + bias[k])))
                ingate = 1 / (1 + math.exp(-(h[j][k] * w[b + k] + bias[b + k])))
                outgate = 1 / (1 + math.exp(-(x[k] * w[2 * b + k] + bias[2 * b + k])))
                change = math.tanh(h[j][k] * w[3 * b + k] + bias[3 * b + k])
                c[j][k] = c[j][k] * forget + ingate * change
                h[j][k] = outgate * math.tanh(c[j][k])
            x = list(h[j])
        y = [x[k] * extra[1, k] + extra[2, k] for k in range(b)]
        lse = math.log(sum(math.exp(v) for v in y) + 2)
        total += sum(sequence[t + 1, k] * (y[k] - lse) for k in range(b))
        count += b
    return -total / count


def test_lstm_objective_is_gradbenchs_and_the_hand_gradient_its_derivative():
    data, params = lstm.make_input(np.random.default_rng(7), 3, 6, bits=5)
    value, grads = lstm.lstm_value_and_grad(params, data)
    assert value == pytest.approx(scalar_lstm_objective(*params, data["state"], data["sequence"]), rel=1e-13)
    assert float(lstm.lstm_loss(np, params, data)) == pytest.approx(value, rel=1e-14)
    flat, shapes = flatten(params), [p.shape for p in params]

    def f(w):
        main = w[: params[0].size].reshape(shapes[0])
        return float(lstm.lstm_loss(np, (main, w[params[0].size :].reshape(shapes[1])), data))

    steps = np.eye(flat.size) * 1e-6
    differences = np.array([(f(flat + e) - f(flat - e)) / 2e-6 for e in steps])
    assert np.linalg.norm(flatten(grads) - differences) <= 1e-7 * np.linalg.norm(differences)


def test_lstm_sizes_have_gradbenchs_shapes_and_encoding():
    p = problems.get("lstm")
    order = [(2, 1024), (4, 1024), (6, 1024), (2, 4096), (2, 8192), (4, 4096), (6, 4096), (4, 8192), (6, 8192)]
    assert p.gradbench_sizes == tuple(f"l{l}-c{c}" for l, c in order)
    inst = p.instance("l4-c1024")
    main, extra = inst.params
    assert main.shape == (8, 56) and extra.shape == (3, 14)
    assert inst.data["state"].shape == (8, 14) and inst.data["sequence"].shape == (1024, 14)
    assert 0 <= main.min() and main.max() < 1 and 0 <= inst.data["state"].min() and inst.data["state"].max() < 1
    # each row is a character's code, most significant bit first (GradBench: bin(ord(c)).zfill(bits))
    codes = np.array([ord(ch) for ch in "a\u2019 \n"])
    expect = [[int(bit) for bit in bin(code)[2:].zfill(14)] for code in codes]
    np.testing.assert_array_equal(lstm.text_bits(codes), expect)
    assert p.instance(50).params[0].shape == (4, 56)  # any other size: two layers
    assert set(evals.workload("lstm", "tiny")) == {"main_params", "extra_params", "state", "sequence"}


def test_check_and_default_sizes_stay_small():
    for name in ("det", "lstm"):
        problem = problems.get(name)
        assert problem.instance(problem.check_size).n_params <= 300, name
        assert problem.default_sizes == ("small",)
    assert "det" in problems.GRADBENCH_NAMES and "det" not in problems.ARTICLE_NAMES  # timed only when named
    assert "lstm" in problems.GRADBENCH_NAMES and "lstm" not in problems.ARTICLE_NAMES


# --- check: every backend agrees; a 1% error fails, in both dtypes ---------------------------------


@pytest.mark.parametrize("problem", ["det", "lstm"])
def test_every_backend_agrees_at_the_check_size(backend, problem):
    row = check.check_cell(Cell(problem, "tiny", backend.name, "eager", "float64", "gradient"))
    assert row.ok, row


def hand_only(problem_name, size, dtype, kind):
    """The hand reference alone, where finite differences over every parameter cost minutes."""
    inst = problems.get(problem_name).instance(size)
    return {"hand": flatten(inst.problem.loss.value_and_grad(inst.params, inst.data)[1])}


ONE_PERCENT = [
    (problem, size, dtype)
    for problem, size in (("det", "tiny"), ("det", "ell11"), ("lstm", "tiny"))
    for dtype in ("float64", "float32")
] + [("lstm", "l2-c1024", "float64")]


@pytest.mark.parametrize("problem, size, dtype", ONE_PERCENT, ids=["-".join(c) for c in ONE_PERCENT])
def test_a_one_percent_error_fails_the_check(monkeypatch, problem, size, dtype):
    if size == "l2-c1024":
        monkeypatch.setattr(check, "references", hand_only)
    exact = check.check_cell(Cell(problem, size, "skewed", "exact", dtype, "gradient"))
    assert exact.ok, exact
    row = check.check_cell(Cell(problem, size, "skewed", "scaled", dtype, "gradient"))
    assert not row.ok, row
    hand = next(c for c in row.checks if c.reference == "hand")
    assert not hand.ok and hand.rel_error == pytest.approx(0.01, rel=1e-3)


# --- python -m bench gradbench: both modules, GradBench's rule, every backend -----------------------


def det_inputs():
    legacy = np.random.RandomState(31337)
    return [{"A": legacy.rand(ell * ell).tolist(), "ell": ell} for ell in (5, 6)]


def lstm_inputs():
    data, (main, extra) = lstm.make_input(np.random.default_rng(3), 2, 12)
    names = ("main_params", "extra_params", "state", "sequence")
    return [{name: a.tolist() for name, a in zip(names, (main, extra, data["state"], data["sequence"]))}]


def independent(module: str, function: str, input: dict):
    """Answers computed apart from the problems' code: linear algebra, the scalar transcription."""
    if module == "det":
        a = np.reshape(input["A"], (input["ell"], input["ell"]))
        return float(np.linalg.det(a)) if function == "primal" else cofactors(a).ravel().tolist()
    arrays = [np.asarray(input[name]) for name in ("main_params", "extra_params", "state", "sequence")]
    if function == "objective":
        return scalar_lstm_objective(*arrays)
    _, grads = lstm.lstm_value_and_grad(tuple(arrays[:2]), {"state": arrays[2], "sequence": arrays[3]})
    return np.concatenate([g.ravel() for g in grads]).tolist()  # the hand gradient, checked above


TOOLS = [(name, None if name == "jax" else backends.info(name).variants[0].name) for name in backends.NAMES]


@pytest.mark.parametrize("name, mode", TOOLS, ids=[f"{n}-{m or 'default'}" for n, m in TOOLS])
def test_det_and_lstm_validate_through_the_tool(name, mode, tmp_path):
    require(name, mode)
    tool = ToolProcess("--backend", name, *(["--mode", mode] if mode else []), stderr_path=tmp_path / "stderr")
    tool.send("start", eval="det")
    failures = []
    sessions = (("det", evals.FUNCTIONS["det"], det_inputs), ("lstm", evals.FUNCTIONS["lstm"], lstm_inputs))
    for module, functions, inputs in sessions:
        assert tool.send("define", module=module)["success"] is True
        for input in inputs():
            for function in functions:
                reply = tool.send("evaluate", module=module, function=function, input=runs(input))
                assert reply["success"], f"{module}.{function}: {reply.get('error')}"
                want = independent(module, function, input)
                found = evals.mismatches(want, reply["output"])
                if function in ("gradient", "jacobian"):  # and tighter than GradBench's rule
                    assert check.rho(np.array(reply["output"]), np.array(want))[0] < 1e-9
                failures += [f"{module}.{function}: {m}" for m in found[:3]]
    status, rest = tool.close()
    assert not failures, failures
    assert status == 0 and rest == ""


def test_the_eval_driver_validates_both_modules():
    command = [sys.executable, "-m", "bench", "gradbench", "--backend", "numpy"]
    rows = evals.measure(command, "numpy", [("det", "ell5"), ("lstm", "tiny")], 1, 0.0)
    assert [(r.module, r.function) for r in rows] == [
        ("det", "primal"),
        ("det", "gradient"),
        ("lstm", "objective"),
        ("lstm", "jacobian"),
    ]
    assert all(r.valid for r in rows), [r.error for r in rows]
    a = np.array(evals.workload("det", "ell5")["A"]).reshape(5, 5)
    expected = evals.expected("det", "gradient", evals.workload("det", "ell5"))
    assert evals.mismatches(cofactors(a).ravel().tolist(), expected) == []
    wrong = [1.01 * v for v in expected]
    assert evals.mismatches(expected, wrong)  # GradBench's rule sees 1% on entries near 1


def test_bad_det_and_lstm_inputs_are_one_line_errors():
    from bench.gradbench.tool import Tool

    tool = Tool(backends.get("numpy"))
    bad = [
        ("det", "primal", {"A": [1.0, 2.0, 3.0], "ell": 2}),
        ("det", "primal", {"A": [1.0], "ell": 0}),
        ("lstm", "objective", {"main_params": [[1.0] * 8] * 3, "extra_params": [[1.0] * 2] * 3, "state": []}),
        ("lstm", "objective", {**lstm_inputs()[0], "sequence": [[0.0] * 14]}),
    ]
    for module, function, input in bad:
        reply = tool.evaluate(module, function, input)
        assert reply["success"] is False and "\n" not in reply["error"], reply


def test_a_long_loop_runs_in_the_backends_long_loop_variant_unless_a_mode_is_asked(tmp_path):
    """torch.compile unrolls lstm's c - 1 steps: the tool's default (compiled) serves lstm through
    torch+autograd, says so, and still validates; ``--mode compile`` keeps every module compiled."""
    require("torch", "compile")
    assert gradbench.long_loop_modules("torch", "func") == {} and gradbench.long_loop_modules("numpy", "hand") == {}
    tool = ToolProcess("--backend", "torch", stderr_path=tmp_path / "stderr")
    start = tool.send("start", eval="lstm")
    assert start["config"]["label"] == "torch+compile" and start["config"]["modules"] == {"lstm": "torch+autograd"}
    assert tool.send("define", module="lstm")["success"] is True
    (input,) = lstm_inputs()
    for function in evals.FUNCTIONS["lstm"]:
        reply = tool.send("evaluate", module="lstm", function=function, input=runs(input))
        assert reply["success"] and not evals.mismatches(independent("lstm", function, input), reply["output"])
    status, _ = tool.close()
    assert status == 0 and "lstm runs torch+autograd" in (tmp_path / "stderr").read_text()
    asked = ToolProcess("--backend", "torch", "--mode", "compile", stderr_path=tmp_path / "stderr-asked")
    assert "modules" not in asked.send("start", eval="lstm")["config"]
    asked.close()
