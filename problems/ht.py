"""GradBench's ``ht`` (ADBench's hand tracking): the residuals of a skinned hand model and their Jacobian.

The model (GradBench's ``cpp/gradbench/evals/ht.hpp``): 22 bones (wrist, five
fingers of four, forearm), each with a base relative transform and an inverse
base absolute one, and vertices bound to the bones by skinning weights. The 26
pose parameters theta are a global rotation (angle-axis, the identity where its
norm is below 1e-4), a global translation and 20 finger angles: per finger, the
second bone's x and z Euler angles, then the third's and the fourth's x (the
rotation Rz Ry Rx, y always 0). Then

    relative_b = base_relative_b diag(R_b, 1);  absolute_b = absolute_parent(b) relative_b
    transform_b = absolute_b inverse_base_absolute_b
    vertex_v = sum_b weights[v, b] (transform_b base_v)[:3]     (linear blend skinning)
    vertex_v = R(theta[0:3]) vertex_v + theta[3:6]

and residual i is ``points[i] - vertex[correspondences[i]]`` (the *simple*
variant), or, in the *complicated* one, ``points[i]`` minus the point of
triangle ``correspondences[i]`` with barycentric coordinates
``u_i = (us[i, 0], us[i, 1], 1 - both)``. Rows 3 i + j, as GradBench's.

GradBench's Jacobian has 3c rows and 26 columns (simple) or 28 (complicated):
the derivative with respect to every u_i0, then every u_i1, each in one column
(residual i depends on u_i alone), then theta. Here the parameters are one flat
vector w = (du0, du1, theta) (complicated) or theta (simple), and the model
computes with ``us + du`` (du = 0): its dense Jacobian is exactly GradBench's
compressed one, 28 forward-mode columns. Work: the skinning is done for the
vertices the residuals use when they are fewer than the model's, else for every
vertex and then gathered, inside the timed function either way.

Golden derivative (NumPy's): complex-step differentiation of the same model,
J[:, k] = Im f(w + i h e_k) / h with h = 1e-20, exact to rounding: every
operation is analytic over the complex numbers (sin, cos, products, the sqrt
of a . a with no conjugation; the 1e-4 test reads the real part). It is not
the manual tool's forward formulas, so NumPy's timed Jacobian is 28 complex
evaluations of the model, not a hand-written derivative.

Data: GradBench ships its model and points as files (ADBench's, MIT). The small
model (544 vertices, 1,084 triangles) is vendored unchanged in ``data/ht``
(see its README); GradBench's big model is the same 544 vertices repeated to
10,000 (vertex v is small vertex v mod 544, checked on its files), built here
the same way. GradBench's point files (up to 3.3 MB each) are not vendored: our
inputs have their shapes (theta from a standard normal, correspondences
uniform over the vertices or triangles, us uniform on the triangle, points the
model posed nearby plus noise), drawn from the run's seeded generator; the tool
takes GradBench's own files as it sends them.

Sizes ``complicated-big-c100`` ... ``complicated-big-c100000`` are GradBench's
twelve default workloads (hand1 ... hand12: the big model, complicated variant,
c points; ``--size gradbench``), and the same c for its other three folders
(``simple-small-c100`` ...); any ``{simple,complicated}-{small,big}-c<n>`` resolves too. ``tiny``
and ``small`` use the small model, the others and integer sizes the big one;
all named sizes without a variant in their name are complicated.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from backends.base import Differentiable

from .base import Problem, Size, SizeError

DATA = Path(__file__).parent / "data" / "ht"
#: each bone's parent in GradBench's hand (the manual tool's Jacobian assumes this skeleton)
PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19, 0)
BONES, THETA = len(PARENTS), 26
BIG_VERTICES = 10_000  #: GradBench's big model: the small one's vertices repeated to this many
H = 1e-20  #: complex step
#: GradBench's hand1 ... hand12 (its default: --model big --variant complicated)
GRADBENCH_C = (100, 192, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 51_200, 100_000)
GRADBENCH_SIZES = tuple(f"complicated-big-c{c}" for c in GRADBENCH_C)
LABEL = re.compile(r"(simple|complicated)-(small|big)-c([0-9]{1,7})")
SIZES = {
    "tiny": 8,
    "small": 100,
    "medium": 3_200,
    "large": 100_000,
    **{label: c for label, c in zip(GRADBENCH_SIZES, GRADBENCH_C)},
    #: GradBench's other files: --model small, --variant simple
    **{
        f"{variant}-{model}-c{c}": c
        for variant, model in (("complicated", "small"), ("simple", "big"), ("simple", "small"))
        for c in GRADBENCH_C
    },
}
#: (variant, model) of the sizes whose label does not say; every other one: ("complicated", "big")
DEFAULT_VARIANT = {"tiny": ("complicated", "small"), "small": ("complicated", "small")}


def _pose_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each bone, the index in theta of its x and z Euler angles (THETA: an appended zero)."""
    x, z = np.full(BONES, THETA), np.full(BONES, THETA)
    for finger in range(5):
        first = 2 + 4 * finger  # the finger's second bone: two angles; the third and fourth: one each
        x[first : first + 3] = 6 + 4 * finger + np.array([0, 2, 3])
        z[first] = 7 + 4 * finger
    return x, z


# --- the model's files ---------------------------------------------------------------------------


@lru_cache(maxsize=2)
def hand_model(model: str = "small") -> dict:
    """GradBench's hand model, ``small`` (its files) or ``big`` (their vertices repeated to 10,000),
    read as GradBench's ``io.load_model`` reads it: homogeneous base positions, dense weights."""
    bones = [line.split(":") for line in (DATA / "bones.txt").read_text().splitlines()]
    if tuple(int(b[1]) for b in bones) != PARENTS:
        raise ValueError(f"{DATA / 'bones.txt'} is not GradBench's 22-bone hand")
    relatives = np.array([[float(v) for v in b[2:18]] for b in bones]).reshape(BONES, 4, 4)
    inverse = np.array([[float(v) for v in b[18:34]] for b in bones]).reshape(BONES, 4, 4)
    lines = [line.split(":") for line in (DATA / "vertices.txt").read_text().splitlines()]
    base, weights = np.ones((len(lines), 4)), np.zeros((len(lines), BONES))
    for v, atoms in enumerate(lines):
        base[v, :3] = [float(a) for a in atoms[:3]]
        for k in range(int(atoms[8])):
            weights[v, int(atoms[9 + 2 * k])] = float(atoms[10 + 2 * k])
    triangles = np.loadtxt(DATA / "triangles.txt", dtype=np.int64, delimiter=":")
    if model == "big":
        repeat = np.arange(BIG_VERTICES) % len(lines)
        base, weights = base[repeat], weights[repeat]
    elif model != "small":
        raise ValueError(f"unknown hand model {model!r}; GradBench has small and big")
    return {
        "bone_names": tuple(b[0] for b in bones),
        "base_relatives": relatives,
        "inverse_base_absolutes": inverse,
        "base_positions": base,
        "weights": weights,
        "triangles": triangles,
    }


def model_data(model: dict, correspondences, points, us=None, mirrored: bool = False) -> dict[str, np.ndarray]:
    """The data arrays of :func:`residuals` (indices as floats: data reach every backend as floats);
    ``us`` None: the simple variant."""
    pose_x, pose_z = _pose_tables()
    data = {
        "base_relatives": np.asarray(model["base_relatives"], dtype=np.float64),
        "inverse_base_absolutes": np.asarray(model["inverse_base_absolutes"], dtype=np.float64),
        "base_positions": np.asarray(model["base_positions"], dtype=np.float64),
        "weights": np.asarray(model["weights"], dtype=np.float64),
        "correspondences": np.asarray(correspondences, dtype=np.float64),
        "points": np.asarray(points, dtype=np.float64),
        "pose_x": pose_x.astype(np.float64),
        "pose_z": pose_z.astype(np.float64),
        "mirror": np.array([-1.0 if mirrored else 1.0, 1.0, 1.0]),
    }
    if us is not None:
        data["triangles"] = np.asarray(model["triangles"], dtype=np.float64)
        data["us"] = np.asarray(us, dtype=np.float64)
    return data


# --- the residuals, written once ---------------------------------------------------------------------


def global_rotation_t(xp, a):
    """The transpose of GradBench's angle-axis rotation of ``a`` (3,); the identity, with a zero
    derivative, where |a| < 1e-4 (both branches computed, one chosen: no branching on values)."""
    sq = xp.sum(a * a)
    small = sq < 1e-8
    norm = xp.sqrt(xp.where(small, xp.ones_like(sq), sq))
    x, y, z = a[0] / norm, a[1] / norm, a[2] / norm
    s = xp.where(small, xp.zeros_like(sq), xp.sin(norm))
    c = xp.where(small, xp.ones_like(sq), xp.cos(norm))  # c = 1, s = 0: exactly the identity
    entries = [
        [x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
        [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s],
        [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c],
    ]
    return xp.reshape(xp.stack([entries[j][i] for i in range(3) for j in range(3)]), (3, 3))


def bone_transforms(xp, theta, data):
    """Every bone's transform (22, 4, 4): posed relatives, chained down the skeleton a level at a time."""
    ext = xp.concat([theta, xp.zeros_like(theta[:1])])
    tx = xp.take(ext, xp.astype(data["pose_x"], xp.int64), axis=0)
    tz = xp.take(ext, xp.astype(data["pose_z"], xp.int64), axis=0)
    cx, sx, cz, sz = xp.cos(tx), xp.sin(tx), xp.cos(tz), xp.sin(tz)
    # Rz Ry Rx with Ry = I (every y angle is 0), entry by entry
    euler = xp.stack([cz, -sz * cx, sz * sx, sz, cz * cx, -cz * sx, xp.zeros_like(tx), sx, cx], axis=1)
    base = data["base_relatives"]
    relatives = xp.concat([xp.matmul(base[:, :, :3], xp.reshape(euler, (BONES, 3, 3))), base[:, :, 3:]], axis=2)
    wrist = relatives[0]
    level = xp.matmul(wrist, relatives[1:21:4])  # each finger's first bone (1, 5, 9, 13, 17)
    fingers = [level]
    for k in (2, 3, 4):  # each finger's next bone, whose parent is the one before
        level = xp.matmul(level, relatives[k : k + 17 : 4])
        fingers.append(level)
    absolutes = xp.concat(
        [
            xp.reshape(wrist, (1, 4, 4)),
            xp.reshape(xp.stack(fingers, axis=1), (20, 4, 4)),  # bones 1 .. 20, finger by finger
            xp.reshape(xp.matmul(wrist, relatives[21]), (1, 4, 4)),  # the forearm
        ],
        axis=0,
    )
    return xp.matmul(absolutes, data["inverse_base_absolutes"])


def residuals(xp, w, data):
    """GradBench's ht objective: the 3c residuals, of w = (du0, du1, theta) or theta (no ``us`` in data)."""
    complicated = "us" in data
    theta = w[2:] if complicated else w
    transforms = xp.reshape(bone_transforms(xp, theta, data)[:, :3, :], (BONES, 12))
    index = xp.astype(data["correspondences"], xp.int64)
    if complicated:  # the three vertices of each point's triangle
        index = xp.reshape(xp.take(xp.astype(data["triangles"], xp.int64), index, axis=0), (-1,))
    weights, base = data["weights"], data["base_positions"]
    gathered = index.shape[0] < weights.shape[0]
    if gathered:  # skin only the vertices used
        weights, base = xp.take(weights, index, axis=0), xp.take(base, index, axis=0)
    blended = xp.reshape(xp.matmul(weights, transforms), (-1, 3, 4))
    vertices = xp.sum(blended * xp.reshape(base, (-1, 1, 4)), axis=2) * data["mirror"]
    vertices = xp.matmul(vertices, global_rotation_t(xp, theta[0:3])) + theta[3:6]
    if not gathered:
        vertices = xp.take(vertices, index, axis=0)
    points = data["points"]
    if complicated:
        corners = xp.reshape(vertices, (points.shape[0], 3, 3))
        u = data["us"] + w[0:2]
        u0, u1 = u[:, 0:1], u[:, 1:2]
        vertices = u0 * corners[:, 0, :] + u1 * corners[:, 1, :] + (1.0 - u0 - u1) * corners[:, 2, :]
    return xp.reshape(points - vertices, (-1,))


# --- the golden Jacobian (NumPy): complex step ----------------------------------------------------------


def residuals_jacobian(w, data):
    """(3c, n): column k is Im residuals(w + i h e_k) / h, exact to rounding (see the module's docstring);
    in w's precision (complex64 for float32)."""
    w = np.asarray(w)
    complex_type = np.result_type(w.dtype, np.complex64)
    columns = []
    for k in range(w.size):
        z = w.astype(complex_type)
        z[k] += 1j * H
        columns.append(np.imag(residuals(np, z, data)) / H)
    return np.stack(columns, axis=1).astype(w.dtype, copy=False)


def objective(xp, params, data):
    """:func:`residuals` of the parameter tuple ``(w,)``: the problem's objective and model."""
    return residuals(xp, params[0], data)


#: the residuals of one flat w with the golden Jacobian: what the ``jacobian`` verb takes (GradBench's tool)
RESIDUALS = Differentiable(residuals, jacobian=residuals_jacobian)


# --- GradBench's JSON ------------------------------------------------------------------------------------


def gradbench_input(w: np.ndarray, data: dict, bone_names=None) -> dict:
    """GradBench's ``HTInput`` for our (w, data): theta, us ([] when simple), data.model ..."""
    complicated = "us" in data
    return {
        "theta": np.asarray(w[2:] if complicated else w).tolist(),
        "us": np.asarray(data["us"]).tolist() if complicated else [],
        "data": {
            "model": {
                "bone_count": BONES,
                "bone_names": list(bone_names or hand_model("small")["bone_names"]),
                "parents": list(PARENTS),
                "base_relatives": data["base_relatives"].tolist(),
                "inverse_base_absolutes": data["inverse_base_absolutes"].tolist(),
                "base_positions": data["base_positions"].tolist(),
                "weights": data["weights"].tolist(),
                "triangles": np.asarray(data.get("triangles", hand_model("small")["triangles"])).astype(int).tolist(),
                "is_mirrored": bool(data["mirror"][0] < 0),
            },
            "correspondences": data["correspondences"].astype(np.int64).tolist(),
            "points": data["points"].tolist(),
        },
    }


def _array(value, name: str, shape: tuple) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.shape != shape or not np.all(np.isfinite(a)):
        raise ValueError(f"ht's {name} has shape {a.shape}; expected {shape} finite numbers")
    return a


def from_gradbench(input: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(w, data) of GradBench's ``HTInput``; ``ValueError`` in one line for anything else."""
    model, given = input["data"]["model"], input["data"]
    if tuple(model["parents"]) != PARENTS:
        raise ValueError(f"ht's model must be GradBench's hand: parents {list(PARENTS)}")
    weights = np.asarray(model["weights"], dtype=np.float64)
    vertices = weights.shape[0] if weights.ndim == 2 else -1
    weights = _array(weights, "data.model.weights", (vertices, BONES))
    triangles = np.asarray(model["triangles"], dtype=np.int64).reshape(-1, 3)
    c = len(given["correspondences"])
    theta = _array(input["theta"], "theta", (THETA,))
    us = np.asarray(input.get("us", []), dtype=np.float64)
    complicated = us.size > 0
    correspondences = np.asarray(given["correspondences"], dtype=np.int64).reshape(c)
    limit = len(triangles) if complicated else vertices
    if c == 0 or correspondences.min() < 0 or correspondences.max() >= limit:
        raise ValueError(f"ht's correspondences are 1 or more indices below {limit}")
    if complicated and (triangles.min() < 0 or triangles.max() >= vertices):
        raise ValueError(f"ht's triangles index the model's {vertices} vertices")
    structure = {"base_relatives": model["base_relatives"], "inverse_base_absolutes": model["inverse_base_absolutes"]}
    hand = {
        "triangles": triangles,
        "weights": weights,
        "base_positions": _array(model["base_positions"], "data.model.base_positions", (vertices, 4)),
        **{key: _array(v, f"data.model.{key}", (BONES, 4, 4)) for key, v in structure.items()},
    }
    data = model_data(
        hand,
        correspondences,
        _array(given["points"], "data.points", (c, 3)),
        _array(us, "us", (c, 2)) if complicated else None,
        bool(model.get("is_mirrored", False)),
    )
    return (np.concatenate([np.zeros(2), theta]) if complicated else theta), data


# --- the problem ---------------------------------------------------------------------------------------


def uniform_on_triangle(rng: np.random.Generator, count: int) -> np.ndarray:
    u = rng.random((count, 2))
    flip = u.sum(axis=1) > 1.0
    u[flip] = 1.0 - u[flip]
    return u


class HandTracking(Problem):
    name = "ht"
    description = "GradBench's (ADBench's) hand tracking: residuals of a skinned hand and their dense Jacobian"
    size_unit = "points"
    sizes = SIZES
    gradbench_sizes = GRADBENCH_SIZES
    default_sizes = ("small",)
    check_size = "tiny"
    max_n = 200_000
    hessian_limit = 0
    loss = Differentiable(objective)  # GradBench's objective is the residuals themselves: no gradient
    model = Differentiable(objective, jacobian=residuals_jacobian)  # one flat w: its dense Jacobian is GradBench's

    def resolve_size(self, size: str | int) -> Size:
        text = str(size).strip()
        found = LABEL.fullmatch(text)
        if found is None or text in self.sizes:
            return super().resolve_size(size)
        n = int(found.group(3))
        if not 1 <= n <= self.max_n:
            raise SizeError(f"size {text} for {self.name}: c must be from 1 to {self.max_n:,}")
        return Size(text, n)

    def variant(self, size: Size) -> tuple[str, str]:
        """(``simple`` or ``complicated``, ``small`` or ``big``) of a size."""
        found = LABEL.fullmatch(size.label)
        if found:
            return found.group(1), found.group(2)
        return DEFAULT_VARIANT.get(size.label, ("complicated", "big"))

    def kinds(self, inst=None) -> tuple[str, ...]:
        return ("objective", "jacobian")  # the model has no hand jvp or vjp, the residuals no gradient

    def bytes_per_n(self):
        return 8.0 * 3 * 28 * 6  # the Jacobian's rows and the forward mode's tangents of them

    def make_data(self, rng, size):
        variant, model = self.variant(size)
        hand = hand_model(model)
        c, complicated = size.n, variant == "complicated"
        theta = rng.standard_normal(THETA)
        limit = len(hand["triangles"]) if complicated else len(hand["weights"])
        correspondences = rng.integers(0, limit, c)
        us = uniform_on_triangle(rng, c) if complicated else None
        data = model_data(hand, correspondences, np.zeros((c, 3)), us)
        posed = theta + 0.1 * rng.standard_normal(THETA)  # the points: the hand posed nearby, plus noise
        w = np.concatenate([np.zeros(2), posed]) if complicated else posed
        data["points"] = -residuals(np, w, data).reshape(c, 3) + 0.005 * rng.standard_normal((c, 3))
        data["init_w"] = np.concatenate([np.zeros(2), theta]) if complicated else theta
        return data

    def init_params(self, rng, size, data):
        return (data.pop("init_w"),)


PROBLEM = HandTracking()
