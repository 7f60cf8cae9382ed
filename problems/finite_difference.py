"""Finite differences against autodiff and SymPy, on the article's scalar functions.

The article's functions (x^2; x^2+3x+5; x^3-3x^2+2; the product x^2 sin x; the
quotient x^2/e^x; the chain sin(x)^2; and f(x, y) = x^2 + 3xy + y^2) are each
written once, as a lambda over a namespace, so the same text runs on a backend's
``xp`` and on SymPy. The benchmarked loss sums all of them over n points
(params ``(x, y)``), with the article's derivative rules applied by hand.

``step_sweep`` shows forward and central differences against the SymPy
derivative for h from 1e-1 down to 1e-14: truncation error falls with h until
round-off takes over; the best h sits near sqrt(eps) (forward) and cbrt(eps)
(central).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from backends.base import Differentiable

from .base import Problem

#: name -> (f(ns, x), the article's point)
FUNCTIONS = {
    "x^2": (lambda ns, x: x**2, 3.0),
    "x^2+3x+5": (lambda ns, x: x**2 + 3 * x + 5, 2.0),
    "x^3-3x^2+2": (lambda ns, x: x**3 - 3 * x**2 + 2, 3.0),
    "x^2 sin(x)": (lambda ns, x: x**2 * ns.sin(x), 1.0),
    "x^2/e^x": (lambda ns, x: x**2 / ns.exp(x), 1.0),
    "sin(x)^2": (lambda ns, x: ns.sin(x) ** 2, 1.0),
}


def two_variable(ns, x, y):
    """The article's reverse-mode example f(x, y) = x^2 + 3xy + y^2."""
    return x**2 + 3 * x * y + y**2


def loss(xp, params, data):
    x, y = params
    total = two_variable(xp, x, y)
    for f, _ in FUNCTIONS.values():
        total = total + f(xp, x)
    return xp.sum(total)


def loss_value_and_grad(params, data):
    x, y = params
    s, c, e = np.sin(x), np.cos(x), np.exp(-x)
    value = np.sum(
        x**2 + (x**2 + 3 * x + 5) + (x**3 - 3 * x**2 + 2) + x**2 * s + x**2 * e + s**2 + x**2 + 3 * x * y + y**2
    )
    dx = (
        2 * x  # power rule
        + (2 * x + 3)
        + (3 * x**2 - 6 * x)
        + (2 * x * s + x**2 * c)  # product rule
        + (2 * x - x**2) * e  # quotient rule: (2x e^x - x^2 e^x) / e^2x
        + 2 * s * c  # chain rule
        + (2 * x + 3 * y)
    )
    dy = 3 * x + 2 * y
    return value, (dx, dy)


def _hxx(x):
    s, c, e = np.sin(x), np.cos(x), np.exp(-x)
    return 2 + 2 + (6 * x - 6) + (2 * s + 4 * x * c - x**2 * s) + (2 - 4 * x + x**2) * e + 2 * (c**2 - s**2) + 2


def loss_hessian(w, data):
    n = w.size // 2
    h = np.zeros((2 * n, 2 * n), dtype=w.dtype)  # the dtype of the cell (float32 stays float32)
    i = np.arange(n)
    h[i, i] = _hxx(w[:n])
    h[i, n + i] = h[n + i, i] = 3.0
    h[n + i, n + i] = 2.0
    return h


def loss_hvp(w, v, data):
    n = w.size // 2
    return np.concatenate([_hxx(w[:n]) * v[:n] + 3 * v[n:], 3 * v[:n] + 2 * v[n:]])


def _sympy_terms():
    x, y = sp.symbols("x y")
    expr = two_variable(sp, x, y) + sum(f(sp, x) for f, _ in FUNCTIONS.values())
    return x, y, expr


def sympy_derivatives():
    """Lambdified SymPy gradient and Hessian entries of one summand of the loss."""
    x, y, expr = _sympy_terms()
    parts = {
        "dx": sp.diff(expr, x),
        "dy": sp.diff(expr, y),
        "dxx": sp.diff(expr, x, 2),
        "dxy": sp.diff(expr, x, y),
        "dyy": sp.diff(expr, y, 2),
    }
    return {k: sp.lambdify((x, y), v, "numpy") for k, v in parts.items()}


class FiniteDifference(Problem):
    name = "finite_difference"
    description = "the article's scalar functions and derivative rules; forward vs central differences"
    size_unit = "points"
    sizes = {"article": 1, "small": 100, "medium": 100_000, "large": 1_000_000}
    check_size = "small"
    loss = Differentiable(loss, value_and_grad=loss_value_and_grad, hessian=loss_hessian, hvp=loss_hvp)

    def bytes_per_n(self):
        return 8.0 * 16

    def make_data(self, rng, size):
        return {}

    def init_params(self, rng, size, data):
        n = size.n
        if size.article:
            return np.array([3.0]), np.array([2.0])
        return rng.uniform(-2.0, 2.0, n), rng.uniform(-2.0, 2.0, n)

    def learning_rate(self, size):
        return 0.01

    def iterations(self, size):
        return 100

    def sympy_reference(self, inst, kind, tangent=None):
        """Exact gradient, Hessian or HVP from SymPy at the instance's parameters."""
        d = sympy_derivatives()
        x, y = inst.params
        ones = np.ones_like(x)
        if kind == "gradient":
            return np.concatenate([d["dx"](x, y) * ones, d["dy"](x, y) * ones])
        hxx, hxy, hyy = d["dxx"](x, y) * ones, d["dxy"](x, y) * ones, d["dyy"](x, y) * ones
        if kind == "hessian":
            n = x.size
            h = np.zeros((2 * n, 2 * n))
            i = np.arange(n)
            h[i, i], h[i, n + i], h[n + i, i], h[n + i, n + i] = hxx, hxy, hxy, hyy
            return h.ravel()
        if kind == "hvp":
            n = x.size
            v = tangent
            return np.concatenate([hxx * v[:n] + hxy * v[n:], hxy * v[:n] + hyy * v[n:]])
        return None


STEPS = tuple(10.0**-k for k in range(1, 15))


def step_sweep(hs=STEPS, backend=None):
    """Forward and central difference errors against SymPy for each article function.

    Returns records ``{function, method, h, error, value, exact}``; with a
    ``backend``, also one ``method="autodiff"`` record per function (h None) for
    the backend's own derivative at the same point.
    """
    x = sp.symbols("x")
    records = []
    for name, (f, x0) in FUNCTIONS.items():
        exact = float(sp.diff(f(sp, x), x).subs(x, x0))
        fn = lambda t, f=f: f(np, t)  # noqa: E731
        for h in hs:
            forward = float((fn(x0 + h) - fn(x0)) / h)
            central = float((fn(x0 + h) - fn(x0 - h)) / (2 * h))
            for method, value in (("forward", forward), ("central", central)):
                records.append(
                    {
                        "function": name,
                        "method": method,
                        "h": h,
                        "value": value,
                        "exact": exact,
                        "error": float(abs(value - exact)),
                    }
                )
        if backend is not None and backend.has_autodiff:
            single = Differentiable(lambda xp, p, data, f=f: xp.sum(f(xp, p[0])))
            _, (g,) = backend.value_and_grad(single)((backend.asarray([x0], "float64"),), {})
            value = float(backend.to_numpy(g)[0])
            records.append(
                {
                    "function": name,
                    "method": "autodiff",
                    "h": None,
                    "value": value,
                    "exact": exact,
                    "error": abs(value - exact),
                }
            )
    return records


def best_steps(records):
    """``{(function, method): (h, error)}``: the step with the smallest error."""
    best = {}
    for r in records:
        if r["h"] is None:
            continue
        key = (r["function"], r["method"])
        if key not in best or r["error"] < best[key][1]:
            best[key] = (r["h"], r["error"])
    return best


def article_forward_difference(x: float = 3.0, h: float = 1e-5) -> float:
    """The article's first snippet: forward difference of x^2 at x = 3 with h = 1e-5."""
    f = FUNCTIONS["x^2"][0]
    return (f(np, x + h) - f(np, x)) / h


PROBLEM = FiniteDifference()
