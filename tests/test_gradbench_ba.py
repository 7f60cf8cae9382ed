"""GradBench's ba eval and the ``jacobian`` kind: the problem, its inputs, the checks and the tool.

The objective is checked against a scalar transcription of GradBench's C++ (``ba.hpp``); the
hand Jacobian (the manual tool's formulas, vectorised) against complex steps of the objective,
both compressed (15 colours) and scattered through GradBench's pattern into the dense Jacobian
of every parameter. Every backend's Jacobian agrees with NumPy's in both dtypes; a 1% error
fails ``check``; every backend's replies validate under the eval driver's independent answer.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import backends
import problems
from bench import check
from bench.cells import Cell
from bench.gradbench import evals, jacobians
from problems import ba

from . import skewed_backend  # noqa: F401 - registers the plugin backend
from .support import require
from .test_gradbench_tool import ToolProcess, runs

STEP = 1e-30  #: complex step: exact to rounding


def small_instance(seed: int = 5, n: int = 3, m: int = 5, p: int = 12):
    data, params = ba.drawn(np.random.default_rng(seed), n, m, p)
    return data, params


# --- the objective and the hand Jacobian ---------------------------------------------------------------


def scalar_residuals(cams, x, w, data) -> list[float]:
    """GradBench's C++ objective (cpp/gradbench/evals/ba.hpp), one observation and one scalar at a time."""
    out = []
    for o in range(len(w)):
        cam, pt = cams[int(data["obs_cam"][o])], x[int(data["obs_pt"][o])]
        rot, xo = cam[:3], [pt[k] - cam[3 + k] for k in range(3)]
        sq = sum(r * r for r in rot)
        if sq != 0:
            theta = math.sqrt(sq)
            wv = [r / theta for r in rot]
            cross = [wv[1] * xo[2] - wv[2] * xo[1], wv[2] * xo[0] - wv[0] * xo[2], wv[0] * xo[1] - wv[1] * xo[0]]
            tmp = sum(a * b for a, b in zip(wv, xo)) * (1 - math.cos(theta))
            xcam = [xo[i] * math.cos(theta) + cross[i] * math.sin(theta) + wv[i] * tmp for i in range(3)]
        else:
            cross = [rot[1] * xo[2] - rot[2] * xo[1], rot[2] * xo[0] - rot[0] * xo[2], rot[0] * xo[1] - rot[1] * xo[0]]
            xcam = [xo[i] + cross[i] for i in range(3)]
        proj = [xcam[0] / xcam[2], xcam[1] / xcam[2]]
        rsq = proj[0] ** 2 + proj[1] ** 2
        distortion = 1 + cam[9] * rsq + cam[10] * rsq * rsq
        out += [w[o] * (proj[k] * distortion * cam[6] + cam[7 + k] - data["feats"][o][k]) for k in range(2)]
    return out + [1 - wo * wo for wo in w]


def test_the_objective_is_gradbenchs():
    data, params = small_instance()
    assert np.all(params[0][0, :3] == 0) and np.all(params[0][1:, :3] != 0)  # both of Rodrigues' branches
    np.testing.assert_allclose(ba.residuals(np, params, data), scalar_residuals(*params, data), rtol=1e-13)


def complex_columns(fn, c: np.ndarray, data) -> np.ndarray:
    return np.stack([np.imag(fn(np, c + 1j * STEP * e, data)) / STEP for e in np.eye(c.size)], axis=1)


def test_hand_compressed_jacobian_is_the_complex_step():
    data, (cams, x, w) = small_instance(p=40)
    inner = {**data, "cams": cams, "x": x, "w": w}
    blocks = ba.compressed_reprojection_jacobian(np.zeros(ba.COLOURS), inner)
    exact = complex_columns(ba.compressed_reprojection, np.zeros(ba.COLOURS), inner)
    assert blocks.shape == (80, 15)
    assert np.linalg.norm(blocks - exact) <= 1e-13 * np.linalg.norm(exact)
    diagonal = ba.compressed_weight_jacobian(np.zeros(1), inner)
    np.testing.assert_allclose(diagonal, complex_columns(ba.compressed_weight_error, np.zeros(1), inner), rtol=1e-14)


def test_values_and_pattern_are_the_dense_jacobian_of_every_parameter():
    data, params = small_instance()
    n, m, p = params[0].shape[0], params[1].shape[0], params[2].shape[0]
    vals = ba.PROBLEM.hand_jacobian(params, data)
    rows, cols = ba.sparsity(n, m, data["obs_cam"].astype(int), data["obs_pt"].astype(int))
    assert vals.shape == cols.shape == (31 * p,) and rows.shape == (3 * p + 1,) and rows[-1] == 31 * p
    sparse = np.zeros((3 * p, 11 * n + 3 * m + p))
    for r in range(3 * p):
        sparse[r, cols[rows[r] : rows[r + 1]]] = vals[rows[r] : rows[r + 1]]
    flat, shapes = np.concatenate([a.ravel() for a in params]), [a.shape for a in params]

    def split(v):
        return tuple(np.reshape(v[a:b], s) for (a, b), s in zip(pairwise_bounds(shapes), shapes))

    dense = np.stack(
        [np.imag(ba.residuals(np, split(flat + 1j * STEP * e), data)) / STEP for e in np.eye(flat.size)], 1
    )
    assert np.linalg.norm(sparse - dense) <= 1e-13 * np.linalg.norm(dense)


def pairwise_bounds(shapes):
    ends = np.cumsum([math.prod(s) for s in shapes])
    return list(zip([0, *ends[:-1]], ends))


# --- GradBench's inputs --------------------------------------------------------------------------------


def test_sizes_are_gradbenchs_workloads():
    problem = problems.get("ba")
    assert problem.gradbench_sizes == tuple(f"ba{i}" for i in range(1, 15))
    assert "ba" in problems.GRADBENCH_NAMES and "ba" not in problems.ARTICLE_NAMES
    assert problem.kinds() == ("objective", "jacobian") and problem.default_sizes == ("small",)
    inst = problem.instance("ba2")  # GradBench's ba2_n21_m11315_p36455.txt
    cams, x, w = inst.params
    assert cams.shape == (21, 11) and x.shape == (11315, 3) and w.shape == (36455,) and inst.n == 36455
    assert np.all(cams == cams[0]) and cams[0, 6] == 419.194514 and x[5, 1] == 0.001144 and np.all(w == 0.417022)
    assert inst.data["feats"].shape == (36455, 2) and np.all(inst.data["feats"] == [271.760969, 834.209256])
    o = np.arange(36455)
    np.testing.assert_array_equal(inst.data["obs_cam"], o % 21)
    np.testing.assert_array_equal(inst.data["obs_pt"], o % 11315)
    assert evals.workload("ba", "ba14") == {
        "n": 356,
        "m": 226730,
        "p": 1255268,
        "cam": list(ba.CAM),
        "x": list(ba.POINT),
        "w": ba.WEIGHT,
        "feat": list(ba.FEATURE),
    }
    n, m, data, params = jacobians.ba_input(evals.workload("ba", "ba2"))
    assert (n, m) == (21, 11315)
    for a, b in zip(params, inst.params):
        np.testing.assert_array_equal(a, b)


# --- the jacobian kind on every backend, and check ------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_backend_agrees_with_numpys_jacobian(backend, dtype):
    for kind in ("jacobian", "objective"):
        row = check.check_cell(Cell("ba", "tiny", backend.name, "eager", dtype, kind))
        assert row.ok, row
    assert {c.reference for c in row.checks} == {"hand"}
    references = check.references("ba", "tiny", dtype, "jacobian")  # differences of the 16 compressed columns
    assert set(references) == {"hand", "finite-difference"}


#: the compiled variants, float64; torch.compile takes half a minute a dtype on this problem (and agrees:
#: python -m bench check --problem ba --mode compile), its compiled jacobian verb is tested on a small one
COMPILED = [("jax", "jit"), ("tensorflow", "xla")]


@pytest.mark.parametrize("name, variant", COMPILED, ids=[f"{n}+{v}" for n, v in COMPILED])
def test_compiled_variants_agree_with_numpys_jacobian(name, variant):
    require(name, variant)
    row = check.check_cell(Cell("ba", "tiny", name, variant, "float64", "jacobian"))
    assert row.ok, row


ONE_PERCENT = [("tiny", "float64"), ("tiny", "float32"), ("ba1", "float64"), ("ba1", "float32")]


@pytest.mark.parametrize("size, dtype", ONE_PERCENT, ids=["-".join(c) for c in ONE_PERCENT])
def test_a_one_percent_error_fails_the_check(size, dtype):
    exact = check.check_cell(Cell("ba", size, "skewed", "exact", dtype, "jacobian"))
    assert exact.ok, exact
    row = check.check_cell(Cell("ba", size, "skewed", "scaled", dtype, "jacobian"))
    assert not row.ok and row.rel_error == pytest.approx(0.01, rel=1e-3), row


# --- python -m bench gradbench: every backend's replies valid per the eval driver ------------------------


def ba_inputs():
    return [evals.workload("ba", "tiny"), {**evals.workload("ba", "tiny"), "p": 7, "n": 2, "m": 9}]


#: jax's default (jit); PyTorch's and TensorFlow's eager variants: their compilers take a minute for the two
#: shapes here (torch+compile and tensorflow+xla are checked above, through the same problem code)
TOOLS = [("numpy", None), ("jax", None), ("torch", "func"), ("tensorflow", "tape")]
#: eager TensorFlow vectorises its forward mode again at every call: one input for it (and PyTorch)
EAGER = ("torch", "tensorflow")


@pytest.mark.parametrize("name, mode", TOOLS, ids=[n for n, _ in TOOLS])
def test_ba_validates_through_the_tool(name, mode, tmp_path):
    require(name, mode)
    tool = ToolProcess("--backend", name, *(["--mode", mode] if mode else []), stderr_path=tmp_path / "stderr")
    tool.send("start", eval="ba")
    assert tool.send("define", module="ba")["success"] is True
    failures = []
    for input in ba_inputs()[: 1 if name in EAGER else None]:
        for function in evals.FUNCTIONS["ba"]:
            reply = tool.send("evaluate", module="ba", function=function, input=runs(input))
            assert reply["success"], f"ba.{function}: {reply.get('error')}"
            want = evals.expected("ba", function, input)
            failures += evals.mismatches(want, reply["output"]) + evals.ba_mismatches(want, reply["output"])
    status, rest = tool.close()
    assert not failures, failures
    assert status == 0 and rest == ""


def test_the_driver_validates_ba_and_catches_a_wrong_answer():
    command = [sys.executable, "-m", "bench", "gradbench", "--backend", "numpy"]
    rows = evals.measure(command, "numpy", [("ba", "ba1")], 1, 0.0)
    assert [(r.function, r.valid) for r in rows] == [("objective", True), ("jacobian", True)], rows
    input = evals.workload("ba", "ba1")
    want = evals.expected("ba", "jacobian", input)
    assert (
        want["rows"][:3] == [0, 15, 30]
        and want["cols"][11] == 11 * 49
        and want["cols"][-1] == 11 * 49 + 3 * 7776 + 31842
    )
    largest = int(np.argmax(np.abs(want["vals"])))  # 2141.7: GradBench's rule allows it 2e-4 relative
    wrong = {**want, "vals": [v * 1.0001 if i == largest else v for i, v in enumerate(want["vals"])]}
    assert not evals.mismatches(want, wrong) and evals.ba_mismatches(want, wrong)  # GradBench's rule misses it
    assert evals.ba_mismatches(want, {**want, "cols": [*want["cols"][:-1], want["cols"][-1] + 1]})


def test_bad_ba_inputs_are_one_line_errors():
    from bench.gradbench.tool import Tool

    tool = Tool(backends.get("numpy"))
    good = evals.workload("ba", "tiny")
    for bad in ({**good, "p": 0}, {**good, "n": 2.5}, {**good, "cam": [1.0] * 10}, {**good, "w": [1.0]}, {"n": 1}):
        reply = tool.evaluate("ba", "jacobian", bad)
        assert reply["success"] is False and "\n" not in reply["error"], reply
