"""Newton's method with second derivatives and Hessians.

* The benchmarked problem: Newton's method on L2-regularised logistic regression,
  ``w <- w - H^{-1} g`` with the full Hessian from the backend (``hessian`` verb)
  and a linear solve, 8 steps. The bias is the last column of X (all ones).
* The article's 1-D example: Newton on L(w) = w^2 - 4w + 4 from w = 0 reaches
  the minimum w = 2 (``newton_1d``).
* Critical-point classification by the Hessian's eigenvalues
  (``classify_critical_points``): the article's x^3 - 3x^2 + 2 (maximum at 0,
  minimum at 2) and the 2-D saddle x^2 - y^2.
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from . import quadratic
from .base import Problem, as_flat, sigmoid, softplus
from .logistic_regression import make_classification, small_random_weights

REGULARISATION = 1e-3


def _features(n: int) -> int:
    return {100: 2, 1_000: 10, 10_000: 100}.get(n, 10 if n <= 5_000 else 100)


def loss(xp, params, data):
    (w,) = params
    z = xp.matmul(data["x"], w)
    return xp.mean(softplus(xp, z) - data["y"] * z) + 0.5 * REGULARISATION * xp.sum(w * w)


def loss_value_and_grad(params, data):
    (w,) = params
    x, y = data["x"], data["y"]
    z = x @ w
    value = np.mean(softplus(np, z) - y * z) + 0.5 * REGULARISATION * w @ w
    return value, (x.T @ (sigmoid(np, z) - y) / y.shape[0] + REGULARISATION * w,)


def loss_hessian(w, data):
    x = data["x"]
    s = sigmoid(np, x @ w)
    return (x.T * (s * (1 - s))) @ x / x.shape[0] + REGULARISATION * np.eye(w.size, dtype=w.dtype)


def loss_hvp(w, v, data):
    x = data["x"]
    s = sigmoid(np, x @ w)
    return x.T @ (s * (1 - s) * (x @ v)) / x.shape[0] + REGULARISATION * v


class Newton(Problem):
    name = "newton"
    description = "Newton's method with the full Hessian (regularised logistic regression)"
    default_sizes = ("article", "small", "medium")  # cheap enough for the 10-minute default run
    sizes = {"article": 100, "small": 1_000, "medium": 10_000, "large": 100_000}
    hessian_limit = 2_000
    loss = Differentiable(loss, value_and_grad=loss_value_and_grad, hessian=loss_hessian, hvp=loss_hvp)

    def bytes_per_n(self):
        return 8.0 * 2 * 101

    def make_data(self, rng, size):
        x, y = make_classification(rng, size.n, _features(size.n))
        return {"x": np.column_stack([x, np.ones(size.n)]), "y": y}

    def init_params(self, rng, size, data):
        return (small_random_weights(rng, data["x"].shape[1]),)

    def iterations(self, size):
        return 8

    def step(self, backend, inst):
        xp = backend.xp
        value_and_grad = backend.value_and_grad(self.loss)
        hessian = backend.hessian(self.flat_loss(inst))

        def body(params, data):
            (w,) = params
            _, (g,) = value_and_grad(params, data)
            return (w - xp.linalg.solve(hessian(w, data), g),)

        return body


# --- the article's examples -------------------------------------------------


def newton_1d(backend, w0: float = 0.0, tolerance: float = 1e-5, max_iter: int = 100, dtype="float64"):
    """The article's ``newtons_method`` on L(w) = w^2 - 4w + 4 with backend derivatives.

    Returns ``(w, iterations)``; the article's answer is w = 2.0.
    """
    inst = quadratic.PROBLEM.instance("article")
    loss_fn = quadratic.PROBLEM.loss
    data = {k: backend.asarray(v, dtype) for k, v in inst.data.items()}
    value_and_grad = backend.value_and_grad(loss_fn)
    hessian = backend.hessian(quadratic.PROBLEM.flat_loss(inst))
    w = backend.asarray([w0], dtype)
    for i in range(max_iter):
        _, (g,) = value_and_grad((w,), data)
        if abs(float(backend.to_numpy(g)[0])) < tolerance:
            return float(backend.to_numpy(w)[0]), i
        h = hessian(w, data)
        w = w - g / h[0]
    return float(backend.to_numpy(w)[0]), max_iter


def cubic(x):
    """The article's cubic x^3 - 3x^2 + 2, pointwise (the seed article's derivative picture draws it)."""
    return x**3 - 3 * x**2 + 2


def _cubic(xp, params, data):
    return xp.sum(cubic(params[0]))


def _saddle(xp, params, data):
    x = params[0]
    return x[0] ** 2 - x[1] ** 2


#: the article's cubic x^3 - 3x^2 + 2 summed over its points x, with its hand derivatives: the gradient is
#: f'(x) = 3x^2 - 6x pointwise, the Hessian diag(f''(x)) = diag(6x - 6) (its hvp: the Hessian times v)
CUBIC = Differentiable(
    _cubic,
    value_and_grad=lambda p, d: (np.sum(cubic(p[0])), (3 * p[0] ** 2 - 6 * p[0],)),
    hessian=lambda w, d: np.diag(6 * w - 6),
)
#: the 2-D saddle x^2 - y^2
SADDLE = Differentiable(
    _saddle,
    value_and_grad=lambda p, d: (p[0][0] ** 2 - p[0][1] ** 2, (np.array([2 * p[0][0], -2 * p[0][1]]),)),
    hessian=lambda w, d: np.diag([2.0, -2.0]),
)
EXAMPLES = {"x^3-3x^2+2": (CUBIC, [[-1.0], [0.5], [3.0]]), "x^2-y^2": (SADDLE, [[0.7, -0.4]])}


def classify(eigenvalues, tol: float = 1e-8) -> str:
    if np.all(eigenvalues > tol):
        return "minimum"
    if np.all(eigenvalues < -tol):
        return "maximum"
    if np.any(eigenvalues > tol) and np.any(eigenvalues < -tol):
        return "saddle"
    return "degenerate"


def classify_critical_points(backend, fn: Differentiable, starts, steps: int = 50, dtype="float64"):
    """Find critical points by Newton on the gradient from each start, then
    classify each by the eigenvalues of the backend's Hessian there.

    Returns sorted records ``{point, kind, eigenvalues}`` (duplicates merged).
    """
    xp = backend.xp
    value_and_grad = backend.value_and_grad(fn)
    hessian = backend.hessian(as_flat(fn, [(len(starts[0]),)]))
    found: list[dict] = []
    for start in starts:
        w = backend.asarray(start, dtype)
        for _ in range(steps):
            _, (g,) = value_and_grad((w,), {})
            w = w - xp.linalg.solve(hessian(w, {}), g)
        point = np.round(backend.to_numpy(w), 8) + 0.0
        if not any(np.allclose(point, f["point"]) for f in found):
            eig = np.linalg.eigvalsh(backend.to_numpy(hessian(w, {})))
            found.append({"point": point.tolist(), "kind": classify(eig), "eigenvalues": eig.tolist()})
    return sorted(found, key=lambda r: r["point"])


PROBLEM = Newton()
