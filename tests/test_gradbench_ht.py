"""GradBench's ht eval (hand tracking): the model, its golden Jacobian, the checks and the tool.

The residuals are checked against a scalar transcription of GradBench's C++
objective (``cpp/gradbench/evals/ht.hpp``) and, at the identity pose, against the
model's rest positions; the golden Jacobian (complex step of the vectorised model)
against finite differences loosely and against the complex step of the scalar
transcription tightly. Every backend's forward-mode Jacobian agrees with it in both
dtypes and variants, a 1% error fails ``check``, and the tool's replies validate.
"""

from __future__ import annotations

import cmath
import hashlib
import sys

import numpy as np
import pytest

import backends
import problems
from bench import check
from bench.cells import Cell
from bench.gradbench import evals
from problems import ht

from . import skewed_backend  # noqa: F401 - registers the plugin backend
from .support import require
from .test_gradbench_tool import ToolProcess, runs

# --- the model's files -------------------------------------------------------------------------------

BLOBS = {
    "bones.txt": "7dbd7ef305ca6245642f9635d37fb10c13e86f3b",
    "vertices.txt": "a3b54da300896f226ca036f09f6f5e6bfdd6463a",
    "triangles.txt": "6bf38d8f91160a15110eef3cfcaf3d54625960ae",
}


def test_the_vendored_model_is_gradbenchs_files():
    for name, blob in BLOBS.items():
        content = (ht.DATA / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest() == blob, name
    assert (ht.DATA / "LICENSE.TXT").read_text().startswith("Copyright (c) Microsoft Corporation.")
    small, big = ht.hand_model("small"), ht.hand_model("big")
    assert small["base_positions"].shape == (544, 4) and small["weights"].shape == (544, 22)
    assert small["triangles"].shape == (1084, 3) and small["triangles"].max() == 543
    assert big["base_positions"].shape == (10_000, 4) and big["weights"].shape == (10_000, 22)
    np.testing.assert_array_equal(big["weights"][544 * 3 + 7], small["weights"][7])  # GradBench's: v mod 544
    np.testing.assert_allclose(small["weights"].sum(axis=1), 1.0, atol=1e-6)
    assert small["bone_names"][:2] == ("wrist", "thumb1") and small["bone_names"][-1] == "forearm"


# --- a scalar transcription of GradBench's C++ objective (complex numbers welcome) -------------------


def mat_mult(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


def euler(xzy):
    tx, ty, tz = xzy[0], xzy[2], xzy[1]
    rx = [[1, 0, 0], [0, cmath.cos(tx), -cmath.sin(tx)], [0, cmath.sin(tx), cmath.cos(tx)]]
    ry = [[cmath.cos(ty), 0, cmath.sin(ty)], [0, 1, 0], [-cmath.sin(ty), 0, cmath.cos(ty)]]
    rz = [[cmath.cos(tz), -cmath.sin(tz), 0], [cmath.sin(tz), cmath.cos(tz), 0], [0, 0, 1]]
    return mat_mult(mat_mult(rz, ry), rx)


def angle_axis(a):
    norm = cmath.sqrt(sum(v * v for v in a))
    if norm.real < 1e-4:
        return [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    x, y, z = (v / norm for v in a)
    s, c = cmath.sin(norm), cmath.cos(norm)
    return [
        [x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
        [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s],
        [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c],
    ]


def scalar_residuals(theta, us, data) -> list:
    """ht.hpp's objective, one number at a time (positions of the vertices used only)."""
    pose = [[0.0] * 3 for _ in range(ht.BONES + 3)]  # pose[column][row], GradBench's 3 x (bones + 3)
    pose[0], pose[1], pose[2] = list(theta[0:3]), [1.0] * 3, list(theta[3:6])
    i_theta, i_pose = 6, 5
    for _ in range(5):
        for i in (2, 3, 4):
            pose[i_pose][0] = theta[i_theta]
            i_theta += 1
            if i == 2:
                pose[i_pose][1] = theta[i_theta]
                i_theta += 1
            i_pose += 1
        i_pose += 1
    absolutes: list = []
    for b, parent in enumerate(ht.PARENTS):
        tr = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
        r = euler(pose[b + 3])
        for i in range(3):
            tr[i][:3] = r[i]
        relative = mat_mult(data["base_relatives"][b].tolist(), tr)
        absolutes.append(relative if parent == -1 else mat_mult(absolutes[parent], relative))
    transforms = [mat_mult(a, data["inverse_base_absolutes"][b].tolist()) for b, a in enumerate(absolutes)]
    rotation = angle_axis(pose[0])

    def vertex(v: int) -> list:
        base, weights = data["base_positions"][v], data["weights"][v]
        skinned = [
            sum(sum(t[i][k] * base[k] for k in range(4)) * weights[b] for b, t in enumerate(transforms))
            for i in range(3)
        ]
        skinned[0] *= data["mirror"][0]
        return [sum(rotation[i][k] * pose[1][k] * skinned[k] for k in range(3)) + pose[2][i] for i in range(3)]

    out = []
    for i, corr in enumerate(data["correspondences"].astype(int)):
        if us is None:
            point = vertex(corr)
        else:
            v0, v1, v2 = (vertex(v) for v in data["triangles"][corr].astype(int))
            u0, u1 = us[i]
            point = [u0 * v0[j] + u1 * v1[j] + (1.0 - u0 - u1) * v2[j] for j in range(3)]
        out += [data["points"][i][j] - point[j] for j in range(3)]
    return out


def scalar_jacobian(w, data) -> np.ndarray:
    """The complex step of the scalar transcription, columns (du0, du1, theta) or theta."""
    complicated = "us" in data
    columns = []
    for k in range(w.size):
        z = w.astype(complex)
        z[k] += 1e-20j
        us = data["us"] + z[:2] if complicated else None
        columns.append(np.imag(scalar_residuals(z[2:] if complicated else z, us, data)) / 1e-20)
    return np.stack(columns, axis=1)


VARIANTS = ["simple-small-c4", "complicated-small-c3", "complicated-big-c3"]


@pytest.mark.parametrize("size", VARIANTS)
def test_the_residuals_are_gradbenchs_and_the_golden_jacobian_their_derivative(size):
    inst = ht.PROBLEM.instance(size)
    (w,), data = inst.params, inst.data
    complicated = "us" in data
    r = ht.residuals(np, w, data)
    expect = scalar_residuals(w[2:] if complicated else w, data.get("us"), data)
    np.testing.assert_allclose(r, np.real(expect), rtol=1e-12, atol=1e-14)
    jac = ht.residuals_jacobian(w, data)
    assert jac.shape == (3 * inst.n, 28 if complicated else 26)
    exact = scalar_jacobian(w, data)
    assert np.linalg.norm(jac - exact) <= 1e-12 * np.linalg.norm(exact)
    steps = np.eye(w.size) * 1e-6
    differences = np.stack([(ht.residuals(np, w + e, data) - ht.residuals(np, w - e, data)) / 2e-6 for e in steps], 1)
    assert np.linalg.norm(jac - differences) <= 1e-7 * np.linalg.norm(jac)


def test_a_rotation_below_gradbenchs_threshold_is_the_identity_with_no_derivative():
    inst = ht.PROBLEM.instance("complicated-small-c2")
    (w,), data = inst.params, inst.data
    w = w.copy()
    w[2:5] = [3e-5, -4e-5, 5e-5]  # |a| = 7.1e-5 < 1e-4
    np.testing.assert_allclose(ht.residuals(np, w, data), np.real(scalar_residuals(w[2:], data["us"], data)))
    jac = ht.residuals_jacobian(w, data)
    assert np.all(jac[:, 2:5] == 0.0)
    np.testing.assert_allclose(ht.global_rotation_t(np, w[2:5]), np.eye(3), rtol=0, atol=0)


def test_the_identity_pose_puts_every_vertex_at_rest():
    """theta = 0: every bone transform is base relative products times their inverse (I to the files'
    float32 rounding), so each point's vertex is its base position; the weights sum to 1."""
    inst = ht.PROBLEM.instance("simple-small-c50")
    data = inst.data
    r = ht.residuals(np, np.zeros(26), data).reshape(-1, 3)
    rest = data["base_positions"][data["correspondences"].astype(int), :3]
    np.testing.assert_allclose(data["points"] - r, rest, atol=1e-6)
    transforms = ht.bone_transforms(np, np.zeros(26), data)
    np.testing.assert_allclose(transforms, np.broadcast_to(np.eye(4), (22, 4, 4)), atol=1e-6)
    # and a pure translation moves every point by it
    theta = np.zeros(26)
    theta[3:6] = [1.0, -2.0, 0.5]
    moved = data["points"] - ht.residuals(np, theta, data).reshape(-1, 3)
    np.testing.assert_allclose(moved, rest + theta[3:6], atol=1e-6)


def test_sizes_are_gradbenchs_workloads_and_shapes():
    p = problems.get("ht")
    c = (100, 192, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 100000)
    assert p.gradbench_sizes == tuple(f"complicated-big-c{n}" for n in c)
    assert [p.resolve_size(s).n for s in p.gradbench_sizes] == list(c)
    assert p.kinds() == ("objective", "jacobian")
    assert "ht" in problems.GRADBENCH_NAMES and "ht" not in problems.ARTICLE_NAMES
    shapes = (("tiny", 28, 544), ("simple-big-c7", 26, 10_000), ("complicated-big-c5", 28, 10_000))
    for size, columns, vertices in shapes:
        inst = p.instance(size)
        assert inst.params[0].shape == (columns,) and inst.data["weights"].shape == (vertices, 22)
        assert inst.data["points"].shape == (inst.n, 3)
    inst = p.instance("complicated-small-c200")
    us = inst.data["us"]
    assert us.shape == (200, 2) and us.min() >= 0 and us.sum(axis=1).max() <= 1
    assert inst.params[0][:2].tolist() == [0.0, 0.0] and inst.data["correspondences"].max() < 1084
    for bad in ("simple-small-c0", "complicated-big-c300000", "fancy-big-c10"):
        with pytest.raises(problems.SizeError):
            p.resolve_size(bad)


# --- check: every backend agrees with the golden Jacobian; a 1% error fails ---------------------------


def test_every_backend_agrees_in_the_simple_variant(backend):
    """tests/test_agreement.py checks ht at its check size (the complicated variant, 28 columns) on every eager and
    compiled variant in both dtypes (below: it does); here the simple variant (26 columns), default variants."""
    for kind in ("objective", "jacobian"):
        row = check.check_cell(Cell("ht", "simple-small-c8", backend.name, backend.variant.name, "float64", kind))
        assert row.ok, row
        assert kind == "objective" or {c.reference for c in row.checks} == {"hand", "finite-difference"}


def test_the_agreement_matrix_covers_ht_in_every_mode_and_dtype():
    from .test_agreement import CELLS

    covered = {(c.backend, c.mode, c.dtype, c.kind) for c in CELLS if c.problem == "ht" and c.size == "tiny"}
    for name in backends.NAMES:
        for mode in {v.mode for v in backends.info(name).variants}:
            assert {(name, mode, d, k) for d in ("float64", "float32") for k in ("objective", "jacobian")} <= covered


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("size", ["tiny", "complicated-big-c100"])
def test_a_one_percent_error_fails_the_check(size, dtype):
    exact = check.check_cell(Cell("ht", size, "skewed", "exact", dtype, "jacobian"))
    assert exact.ok, exact
    row = check.check_cell(Cell("ht", size, "skewed", "scaled", dtype, "jacobian"))
    assert not row.ok, row
    hand = next(c for c in row.checks if c.reference == "hand")
    assert not hand.ok and hand.rel_error == pytest.approx(0.01, rel=1e-3)


# --- python -m bench gradbench: GradBench's input and rule, every backend -------------------------------


def gradbench_inputs():
    out = []
    for size in ("complicated-small-c6", "simple-small-c5"):
        inst = ht.PROBLEM.instance(size)
        out.append(ht.gradbench_input(inst.params[0], inst.data))
    return out


def independent(function: str, input: dict):
    """The scalar transcription's residuals and complex-step Jacobian, from GradBench's JSON."""
    w, data = ht.from_gradbench(input)
    if function == "objective":
        us = data.get("us")
        return np.real(scalar_residuals(w[2:] if us is not None else w, us, data)).tolist()
    return scalar_jacobian(w, data).tolist()


TOOLS = [(name, None if name == "jax" else backends.info(name).variants[0].name) for name in backends.NAMES]


@pytest.mark.slow  # a tool process per backend
@pytest.mark.parametrize("name, mode", TOOLS, ids=[f"{n}-{m or 'default'}" for n, m in TOOLS])
def test_ht_validates_through_the_tool(name, mode, tmp_path):
    require(name, mode)
    tool = ToolProcess("--backend", name, *(["--mode", mode] if mode else []), stderr_path=tmp_path / "stderr")
    tool.send("start", eval="ht")
    assert tool.send("define", module="ht")["success"] is True
    failures = []
    for input in gradbench_inputs():
        for function in evals.FUNCTIONS["ht"]:
            reply = tool.send("evaluate", module="ht", function=function, input=runs(input))
            assert reply["success"], f"ht.{function}: {reply.get('error')}"
            want = independent(function, input)
            failures += [f"ht.{function}: {m}" for m in evals.mismatches(want, reply["output"])[:3]]
            assert check.rho(np.array(reply["output"]), np.array(want))[0] < 1e-9  # tighter than GradBench's
    status, rest = tool.close()
    assert not failures, failures
    assert status == 0 and rest == ""


@pytest.mark.slow  # the tool in a process
def test_the_eval_driver_validates_ht():
    command = [sys.executable, "-m", "bench", "gradbench", "--backend", "numpy"]
    rows = evals.measure(command, "numpy", [("ht", "tiny"), ("ht", "simple-small-c4")], 1, 0.0)
    assert [(r.module, r.function) for r in rows] == [("ht", "objective"), ("ht", "jacobian")] * 2
    assert all(r.valid for r in rows), [r.error for r in rows]
    input = evals.workload("ht", "tiny")
    expected = evals.expected("ht", "jacobian", input)
    assert np.array(expected).shape == (24, 28)
    assert evals.mismatches(independent("jacobian", input), expected) == []


def test_bad_ht_inputs_are_one_line_errors():
    from bench.gradbench.tool import Tool

    tool = Tool(backends.get("numpy"))
    good = gradbench_inputs()[0]
    model = good["data"]["model"]
    bad = [
        {**good, "theta": good["theta"][:25]},
        {**good, "us": good["us"][:-1]},
        {**good, "data": {**good["data"], "correspondences": [5000] * len(good["us"])}},
        {**good, "data": {**good["data"], "model": {**model, "parents": [-1] + [0] * 21}}},
        {**good, "data": {**good["data"], "points": [[0.0, 1.0]] * len(good["us"])}},
    ]
    for input in bad:
        reply = tool.evaluate("ht", "objective", input)
        assert reply["success"] is False and "\n" not in reply["error"], reply
