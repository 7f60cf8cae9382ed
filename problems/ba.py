"""GradBench's ``ba`` (ADBench's bundle adjustment): reprojection residuals and their sparse Jacobian.

n cameras of 11 parameters (Rodrigues rotation r, centre C, focal length f,
principal point x0, radial distortion k1, k2), m points X of 3 coordinates, p
observations (camera i_o, point j_o, weight w_o, feature u_o). Each observation
projects its point through its camera,

    Xcam = R(r) (X - C)          (Rodrigues: cos, sin of |r|; I + [r]x where r = 0)
    q = Xcam[:2] / Xcam[2];  q *= 1 + k1 |q|^2 + k2 |q|^4;  proj = f q + x0,

and the objective is GradBench's: the 2p reprojection errors w_o (proj - u_o)
then the p weight errors 1 - w_o^2 (``residuals``, one vector of 3p).

The Jacobian is (3p) x (11n + 3m + p) and sparse: each reprojection residual
depends on one camera, one point and one weight, each weight error on its weight.
It is computed as an expert would, never densely: column compression. All
cameras' k-th parameter share one colour, all points' k-th coordinate one, all
weights one: 15 colours, so the Jacobian of ``g(c) = residuals(x + S c)`` at c = 0
(S the 0/1 colouring, applied as a gather and a broadcast, never a matrix) holds
every nonzero, 15 to a row. The backend's ``jacobian`` verb computes it (its
forward mode, 15 directions batched; NumPy: the hand formulas of GradBench's C++
``manual`` tool, vectorised over observations), then the weight errors' diagonal
by one direction. Row by row in GradBench's CSR order (for observation o, rows
2o and 2o + 1: camera's 11, point's 3, weight's 1; then the weight rows) these
values *are* GradBench's ``vals``: the ``jacobian`` kind returns them (31p numbers).
Their pattern (``rows``, ``cols``) depends on the observations alone: :func:`sparsity`.

Sizes ``ba1`` ... ``ba14`` are GradBench's default workloads (its files, ADBench's:
(n, m, p) and one camera, point, weight and feature, replicated; observation o
sees camera o mod n and point o mod m). Every other size (main dimension p) draws
the cameras, points, weights, features and observations at random around that
camera, camera 0 without rotation (the r = 0 branch); n = max(3, p // 650),
m = max(5, p // 4), GradBench's first file's proportions.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem

CAMERA = 11  #: parameters of a camera
COLOURS = CAMERA + 3 + 1  #: nonzeros of a reprojection row: its camera's, its point's, its weight
#: GradBench's (ADBench's) one camera, point, weight and feature, the same in every file
CAM = (
    -0.758453,
    -1.109613,
    -0.845551,
    34.556073,
    39.676747,
    53.881673,
    419.194514,
    5.864426,
    -8.51887,
    0.087812,
    0.002739,
)
POINT = (7.203245, 0.001144, 3.023326)
WEIGHT = 0.417022
FEATURE = (271.760969, 834.209256)
#: GradBench's ba workloads (its eval's default --max 14): (n, m, p) of the files ba1 ... ba14, in its order
GRADBENCH_WORKLOADS = {
    "ba1": (49, 7776, 31843),
    "ba2": (21, 11315, 36455),
    "ba3": (161, 48126, 182072),
    "ba4": (372, 47423, 204472),
    "ba5": (257, 65132, 225911),
    "ba6": (539, 65220, 277273),
    "ba7": (93, 61203, 287451),
    "ba8": (88, 64298, 383937),
    "ba9": (810, 88814, 393775),
    "ba10": (1197, 126327, 563734),
    "ba11": (1723, 156502, 678718),
    "ba12": (253, 163691, 899155),
    "ba13": (245, 198739, 1091386),
    "ba14": (356, 226730, 1255268),
}
SIZES = {
    "tiny": 12,
    "small": 1_000,
    "medium": 100_000,
    "large": 1_000_000,
    **{label: p for label, (_, _, p) in GRADBENCH_WORKLOADS.items()},
}


def dims(label: str, p: int) -> tuple[int, int, int]:
    """(n cameras, m points, p observations) of a size."""
    return GRADBENCH_WORKLOADS.get(label, (max(3, p // 650), max(5, p // 4), p))


def replicated(n: int, m: int, p: int, cam=CAM, point=POINT, weight=WEIGHT, feature=FEATURE):
    """(data, params) as GradBench's tools build them from its input: everything replicated,
    observation o seeing camera o mod n and point o mod m."""
    o = np.arange(p)
    cams, x = np.tile(np.asarray(cam, dtype=np.float64), (n, 1)), np.tile(np.asarray(point, dtype=np.float64), (m, 1))
    data = {"obs_cam": (o % n).astype(np.float64), "obs_pt": (o % m).astype(np.float64)}
    data["feats"] = np.tile(np.asarray(feature, dtype=np.float64), (p, 1))
    return data, (cams, x, np.full(p, float(weight)))


def drawn(rng: np.random.Generator, n: int, m: int, p: int):
    """(data, params) drawn around GradBench's camera and point; camera 0 without rotation."""
    spread = np.array([0.1] * 3 + [1.0] * 3 + [10.0, 1.0, 1.0, 0.01, 0.001])
    cams = np.asarray(CAM) + spread * rng.standard_normal((n, CAMERA))
    cams[0, :3] = 0.0
    x = np.asarray(POINT) + 2.0 * rng.standard_normal((m, 3))
    w = rng.uniform(0.5, 1.5, p)
    data = {
        "obs_cam": rng.integers(0, n, p).astype(np.float64),
        "obs_pt": rng.integers(0, m, p).astype(np.float64),
        "feats": np.asarray(FEATURE) + 10.0 * rng.standard_normal((p, 2)),
    }
    return data, (cams, x, w)


# --- the objective, written once -------------------------------------------------------------------


def _rotate(xp, r, v):
    """Rodrigues' rotation of v by the angle-axis r (each three (p,) arrays), GradBench's two branches:
    the r = 0 one selected apart, its square root kept off 0 so that neither branch's derivative is NaN."""
    r0, r1, r2 = r
    v0, v1, v2 = v
    sq = r0 * r0 + r1 * r1 + r2 * r2
    nonzero = sq != 0
    theta = xp.sqrt(xp.where(nonzero, sq, xp.ones_like(sq)))
    cos, sin, inverse = xp.cos(theta), xp.sin(theta), 1.0 / theta
    w0, w1, w2 = r0 * inverse, r1 * inverse, r2 * inverse
    tmp = (w0 * v0 + w1 * v1 + w2 * v2) * (1.0 - cos)
    turned = (
        v0 * cos + (w1 * v2 - w2 * v1) * sin + w0 * tmp,
        v1 * cos + (w2 * v0 - w0 * v2) * sin + w1 * tmp,
        v2 * cos + (w0 * v1 - w1 * v0) * sin + w2 * tmp,
    )
    small = (v0 + (r1 * v2 - r2 * v1), v1 + (r2 * v0 - r0 * v2), v2 + (r0 * v1 - r1 * v0))
    return tuple(xp.where(nonzero, a, b) for a, b in zip(turned, small))


def reprojection(xp, cam, pt, w, feats):
    """The 2p reprojection errors (x, y of each observation in turn) from each observation's
    camera (p, 11), point (p, 3), weight (p,) and feature (p, 2)."""
    x, y, z = _rotate(xp, (cam[:, 0], cam[:, 1], cam[:, 2]), tuple(pt[:, k] - cam[:, 3 + k] for k in range(3)))
    qx, qy = x / z, y / z
    rsq = qx * qx + qy * qy
    distortion = 1.0 + cam[:, 9] * rsq + cam[:, 10] * rsq * rsq
    f = cam[:, 6]
    ex = w * ((qx * distortion) * f + cam[:, 7] - feats[:, 0])
    ey = w * ((qy * distortion) * f + cam[:, 8] - feats[:, 1])
    return xp.reshape(xp.stack([ex, ey], axis=1), (-1,))


def _indices(xp, data):
    return xp.astype(data["obs_cam"], xp.int64), xp.astype(data["obs_pt"], xp.int64)


def residuals(xp, params, data):
    """GradBench's objective: the 2p reprojection errors, then the p weight errors 1 - w^2."""
    cams, x, w = params
    cam_index, pt_index = _indices(xp, data)
    cam, pt = xp.take(cams, cam_index, axis=0), xp.take(x, pt_index, axis=0)
    return xp.concat([reprojection(xp, cam, pt, w, data["feats"]), 1.0 - w * w])


def compressed_reprojection(xp, c, data):
    """g(c): the reprojection errors at cameras + c[:11], points + c[11:14], weights + c[14]
    (the parameters in ``data``), each observation's camera and point gathered before c is added."""
    cam_index, pt_index = _indices(xp, data)
    cam = xp.take(data["cams"], cam_index, axis=0) + c[:CAMERA]
    pt = xp.take(data["x"], pt_index, axis=0) + c[CAMERA : CAMERA + 3]
    return reprojection(xp, cam, pt, data["w"] + c[CAMERA + 3], data["feats"])


def compressed_weight_error(xp, c, data):
    """The weight errors at weights + c[0]: one colour, the diagonal."""
    w = data["w"] + c[0]
    return 1.0 - w * w


# --- hand derivatives (NumPy): GradBench's manual tool (ba_d.cpp), vectorised over observations ----


def _cross_matrix(v):
    """[v]x for each row of v (p, 3): (p, 3, 3)."""
    zero = np.zeros_like(v[:, 0])
    rows = ((zero, -v[:, 2], v[:, 1]), (v[:, 2], zero, -v[:, 0]), (-v[:, 1], v[:, 0], zero))
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def rodrigues_d(rot, v):
    """Rotated points and their Jacobians with respect to the rotation and the point, (p, 3), (p, 3, 3) twice
    (manual's ``rodrigues_rotate_point_d``)."""
    eye = np.eye(3, dtype=rot.dtype)
    sq = np.sum(rot * rot, axis=1)
    nonzero = sq != 0
    theta = np.sqrt(np.where(nonzero, sq, 1.0))
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    w = rot / theta[:, None]
    w_d = (eye - w[:, :, None] * w[:, None, :]) / theta[:, None, None]  # d w / d rot
    wv = np.sum(w * v, axis=1)[:, None]
    wxv = np.cross(w, v)
    rotated = v * cos + wxv * sin + w * (wv * (1.0 - cos))
    tmp_d = (1.0 - cos) * np.einsum("pi,pij->pj", v, w_d) + (wv * sin) * w
    m = -sin[:, :, None] * _cross_matrix(v) + ((1.0 - cos) * wv)[:, :, None] * eye
    d_rot = (cos * wxv - sin * v)[:, :, None] * w[:, None, :] + m @ w_d + w[:, :, None] * tmp_d[:, None, :]
    d_v = (
        sin[:, :, None] * _cross_matrix(w)
        + (1.0 - cos)[:, :, None] * w[:, :, None] * w[:, None, :]
        + cos[:, :, None] * eye
    )
    small = v + np.cross(rot, v)
    keep, keep3 = nonzero[:, None], nonzero[:, None, None]
    return (
        np.where(keep, rotated, small),
        np.where(keep3, d_rot, -_cross_matrix(v)),
        np.where(keep3, d_v, eye + _cross_matrix(rot)),
    )


def reprojection_blocks(cam, pt, w, feats):
    """The reprojection errors (p, 2) and each observation's 2 x 15 block of their Jacobian (p, 2, 15):
    columns rotation 3, centre 3, f, x0 2, k 2, point 3, weight (manual's ``compute_reproj_error_d``)."""
    xcam, d_rot, d_v = rodrigues_d(cam[:, 0:3], pt - cam[:, 3:6])
    z = xcam[:, 2]
    q = xcam[:, :2] / z[:, None]
    rsq = np.sum(q * q, axis=1)
    k1, k2, f = cam[:, 9], cam[:, 10], cam[:, 6]
    distortion = 1.0 + k1 * rsq + k2 * rsq * rsq
    coef = 2.0 * k1 + 4.0 * k2 * rsq
    eye = np.eye(2, dtype=z.dtype)
    d_q = coef[:, None, None] * q[:, :, None] * q[:, None, :] + distortion[:, None, None] * eye
    hnorm = np.zeros((len(z), 2, 3), dtype=z.dtype)
    hnorm[:, 0, 0] = hnorm[:, 1, 1] = 1.0 / z
    hnorm[:, :, 2] = -xcam[:, :2] / (z * z)[:, None]
    chain = f[:, None, None] * (d_q @ hnorm)  # d proj / d Xcam
    distorted = q * distortion[:, None]
    proj = distorted * f[:, None] + cam[:, 7:9]
    d_point = chain @ d_v
    block = (
        np.concatenate(
            [
                chain @ d_rot,
                -d_point,
                distorted[:, :, None],
                np.broadcast_to(eye, (len(z), 2, 2)),
                f[:, None, None] * np.stack([rsq[:, None] * q, (rsq * rsq)[:, None] * q], axis=-1),
                d_point,
            ],
            axis=2,
        )
        * w[:, None, None]
    )
    difference = proj - feats
    return w[:, None] * difference, np.concatenate([block, difference[:, :, None]], axis=2)


def _gathered(c, data):
    cam_index, pt_index = data["obs_cam"].astype(np.int64), data["obs_pt"].astype(np.int64)
    return data["cams"][cam_index] + c[:CAMERA], data["x"][pt_index] + c[CAMERA : CAMERA + 3], data["w"] + c[-1]


def compressed_reprojection_jacobian(c, data):
    cam, pt, w = _gathered(c, data)
    return reprojection_blocks(cam, pt, w, data["feats"])[1].reshape(-1, COLOURS)


def compressed_weight_jacobian(c, data):
    return (-2.0 * (data["w"] + c[0]))[:, None]


REPROJECTION = Differentiable(compressed_reprojection, jacobian=compressed_reprojection_jacobian)
WEIGHT_ERROR = Differentiable(compressed_weight_error, jacobian=compressed_weight_jacobian)


def sparsity(n: int, m: int, cam_index, pt_index) -> tuple[np.ndarray, np.ndarray]:
    """GradBench's ``rows`` (CSR row pointers, 3p + 1) and ``cols`` (31p) of the values the ``jacobian`` kind
    returns, from the observations' camera and point indices (integers)."""
    p = len(cam_index)
    kind: type[np.signedinteger] = np.int32 if CAMERA * n + 3 * m + p < 2**31 else np.int64
    rows = np.concatenate(
        [np.arange(2 * p + 1, dtype=kind) * COLOURS, 2 * p * COLOURS + np.arange(1, p + 1, dtype=kind)]
    )
    block = np.empty((p, COLOURS), dtype=kind)
    block[:, :CAMERA] = CAMERA * np.asarray(cam_index, dtype=kind)[:, None] + np.arange(CAMERA, dtype=kind)
    block[:, CAMERA : CAMERA + 3] = (
        CAMERA * n + 3 * np.asarray(pt_index, dtype=kind)[:, None] + np.arange(3, dtype=kind)
    )
    block[:, -1] = CAMERA * n + 3 * m + np.arange(p, dtype=kind)
    cols = np.concatenate([np.repeat(block, 2, axis=0).ravel(), block[:, -1]])
    return rows, cols


class BundleAdjustment(Problem):
    name = "ba"
    description = "GradBench's (ADBench's) bundle adjustment: residuals and their sparse Jacobian (p up to 1.26M)"
    size_unit = "observations"
    sizes = SIZES
    gradbench_sizes = tuple(GRADBENCH_WORKLOADS)
    default_sizes = ("small",)
    check_size = "tiny"
    max_n = 5_000_000
    hessian_limit = 0
    loss = Differentiable(residuals)  #: GradBench's objective, a vector: no gradient
    model = Differentiable(residuals)

    def kinds(self, inst=None):
        return ("objective", "jacobian")

    def bytes_per_n(self):
        return 8.0 * 2 * COLOURS * 12  # the compressed columns and a dozen tangents of their size

    def make_data(self, rng, size):
        n, m, p = dims(size.label, size.n)
        data, params = replicated(n, m, p) if size.label in GRADBENCH_WORKLOADS else drawn(rng, n, m, p)
        return {**data, "init_cams": params[0], "init_x": params[1], "init_w": params[2]}

    def init_params(self, rng, size, data):
        return data.pop("init_cams"), data.pop("init_x"), data.pop("init_w")

    def jacobian(self, backend, inst):
        """GradBench's ``vals`` (31p): the 15 compressed columns of the reprojection rows, then the weights'."""
        xp = backend.xp
        blocks, diagonal = backend.jacobian(REPROJECTION), backend.jacobian(WEIGHT_ERROR)

        def jacobian(params, data):
            cams, x, w = params
            inner = {**data, "cams": cams, "x": x, "w": w}
            c = xp.zeros_like(xp.concat([cams[0], x[0], w[:1]]))  # the 15 colours, at 0
            # the weights' colour afresh, not a view of c: torch.compile's forward mode fails on the view
            at = xp.reshape(blocks(c, inner), (-1,)), xp.reshape(diagonal(xp.zeros_like(w[:1]), inner), (-1,))
            return xp.concat(at)

        return jacobian

    def jacobian_differences(self, params, data, differences):
        """The same values by differences of the compressed functions (16 columns, not 11n + 3m + p)."""
        cams, x, w = params
        inner = {**data, "cams": cams, "x": x, "w": w}
        blocks = differences(lambda c: compressed_reprojection(np, c, inner), np.zeros(COLOURS))
        diagonal = differences(lambda c: compressed_weight_error(np, c, inner), np.zeros(1))
        return np.concatenate([np.ravel(blocks), np.ravel(diagonal)])

    def hand_jacobian(self, params, data):
        cams, x, w = params
        inner, c = {**data, "cams": cams, "x": x, "w": w}, np.zeros(COLOURS)
        blocks = compressed_reprojection_jacobian(c, inner)
        return np.concatenate([blocks.ravel(), compressed_weight_jacobian(c[-1:], inner).ravel()])


PROBLEM = BundleAdjustment()
