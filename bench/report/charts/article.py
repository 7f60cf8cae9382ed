"""The article's own pictures, drawn from real runs (``article-*.json``): gradient
descent's cost history on every backend, the learning-rate sweep, finite-difference
error against the step h, and a function with its first and second derivatives."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.article import ArticlePictures
from problems.newton import cubic

from ..analysis import backend_order
from .base import STATUS_COLOURS, Chart, grid, outside_legend
from .base import colour as backend_colour
from .base import finite as _finite


def _backends(docs) -> dict[str, str]:
    """``{name: backend}`` of the article documents (each names its backend)."""
    return {name: doc.backend for name, doc in docs}


def _article_docs(context) -> list[tuple[str, ArticlePictures]]:
    """(name, document) for every article file; names gain `` @ run`` with several runs."""
    out = []
    for run in context.runs:
        for backend in backend_order(run.article):
            out.append((f"{backend} @ {run.tag}" if context.several else backend, run.article[backend]))
    return out


def charts(context) -> list[Chart]:
    docs = _article_docs(context)
    out = []
    for builder in (_cost_history, _lr_sweep, _fd_steps, _derivatives):
        chart = builder(docs) if docs else None
        if chart is not None:
            out.append(chart)
    return out


def _cost_history(docs) -> Chart | None:
    backend = _backends(docs)
    items = [(n, d.pictures["cost_history"]) for n, d in docs if "cost_history" in d.pictures]
    if not items:
        return None
    fig = Figure(figsize=(10.5, 3.8), layout="constrained")
    ax, diff_ax = fig.subplots(1, 2)
    ref_source = next((n for n, _ in items if backend[n] == "numpy"), items[0][0])
    reference = _finite(dict(items)[ref_source]["history"])
    ref_name = f"{ref_source} (hand)" if backend[ref_source] == "numpy" else ref_source
    handles = []
    for k, (name, pic) in enumerate(items):
        history = _finite(pic["history"])
        steps = np.arange(1, len(history) + 1)
        (line,) = ax.plot(
            steps,
            history,
            color=backend_colour(backend[name]),
            linewidth=2.2 - 0.4 * k,
            linestyle=("-", "--", ":", "-.")[k % 4],
            label=name,
        )
        handles.append(line)
        if name != ref_source and len(history) == len(reference):
            diff = np.abs(history - reference)
            worst = float(np.nanmax(diff)) if np.isfinite(diff).any() else math.nan
            text = "identical at every step" if worst == 0 else f"at most {worst:.1e}"
            diff_ax.plot(
                steps,
                np.where(diff > 0, diff, np.nan),
                color=backend_colour(backend[name]),
                linewidth=1.0,
                marker=".",
                markersize=2,
                linestyle=("-", "--", ":", "-.")[k % 4],
                label=f"{name}: {text}",
            )
    pic = items[0][1]
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost J(θ) = MSE / 2 (log)")
    ax.set_title(f"Cost history: linear regression, rate {pic.get('rate')}, {pic.get('iterations')} steps")
    diff_ax.set_yscale("log")
    diff_ax.set_ylim(1e-20, 1e-10)
    diff_ax.axhline(2.2e-16, color="#888888", linestyle=":", linewidth=0.8)
    diff_ax.text(
        0.99,
        2.6e-16,
        "float64 machine epsilon",
        fontsize=7,
        color="#666666",
        ha="right",
        transform=diff_ax.get_yaxis_transform(),
    )
    diff_ax.set_title(f"|cost − cost of {ref_name}| per iteration")
    diff_ax.set_xlabel("iteration")
    diff_ax.set_ylabel("absolute difference (log; gaps: exactly equal)")
    if diff_ax.get_legend_handles_labels()[0]:
        diff_ax.legend(loc="upper right", fontsize=7, title="largest difference", title_fontsize=7)
    outside_legend(fig, handles, [h.get_label() for h in handles], title="backend")
    finals = ", ".join(
        f"{n}: θ = [{', '.join(f'{v:.8f}' for v in np.ravel(p.get('params', [[]])[0]))}]" for n, p in items[:2]
    )
    return Chart(
        "article",
        "article-cost-history",
        "Cost history of gradient descent, every backend",
        "The article's linear regression (three points, rate 0.01, 1000 steps) run by each backend's own "
        f"gradient step; every backend's curve lies on top of the others (right: their differences). {finals}.",
        fig,
    )


def _lr_sweep(docs) -> Chart | None:
    backend = _backends(docs)
    items = [(n, d.pictures["lr_sweep"]) for n, d in docs if "lr_sweep" in d.pictures]
    if not items:
        return None
    name, pic = next(((n, p) for n, p in items if backend[n] == "numpy"), items[0])
    records = pic["records"]
    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    ax = fig.subplots()
    handles = []
    rate_styles = ("-", "--", "-.", ":")
    by_status: dict[str, int] = {}
    for r in records:
        history = _finite(r["history"])
        k = by_status.get(r["status"], 0)
        by_status[r["status"]] = k + 1
        (line,) = ax.plot(
            np.arange(len(history)),
            np.clip(history, 1e-17, None),
            color=STATUS_COLOURS.get(r["status"], "#9467bd"),
            linestyle=rate_styles[k % 4],
            linewidth=1.6,
            label=f"η = {r['rate']:g}: {r['status']}",
        )
        handles.append(line)
    ax.set_yscale("log")
    ax.set_xlabel("gradient descent step")
    ax.set_ylabel("distance to the minimum |w − w*| (log)")
    ax.set_title(f"Learning-rate sweep on the quadratic ({name})")
    ax.axhline(1e-6, color="#888888", linestyle=":", linewidth=0.8)
    ax.text(0, 1.4e-6, "tolerance", fontsize=7, color="#666666")
    outside_legend(fig, handles, [h.get_label() for h in handles], title="learning rate")
    # How far apart the backends' sweeps are.
    spread = 0.0
    for _, other in items:
        for a, b in zip(records, other["records"]):
            ha, hb = _finite(a["history"]), _finite(b["history"])
            if len(ha) == len(hb):
                d = np.abs(ha - hb)
                d = d[np.isfinite(d)]
                spread = max(spread, float(d.max()) if d.size else 0.0)
    others = ", ".join(n for n, _ in items if n != name)
    agree = f" The sweeps of {others} differ from it by at most {spread:.1e}." if others else ""
    return Chart(
        "article",
        "article-lr-sweep",
        "Learning-rate sweep: converged, slow, diverged",
        "Gradient descent on L(w) = w² − 4w + 4 from w = 0 at each learning rate η: green converged, "
        f"orange slow, red diverged (oscillating or blowing up; capped). Drawn from {name}.{agree}",
        fig,
    )


def _fd_steps(docs) -> Chart | None:
    items = [(n, d.pictures["fd_steps"]) for n, d in docs if "fd_steps" in d.pictures]
    if not items:
        return None
    _, pic = items[0]
    records = pic["records"]
    functions = list(dict.fromkeys(r["function"] for r in records))
    nrows, ncols = grid(len(functions), 3)
    fig = Figure(figsize=(3.6 * ncols + 2.2, 2.9 * nrows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharex=True)).ravel()
    method_style = {"forward": ("#1f77b4", "o"), "central": ("#d62728", "s")}
    autodiff = {}
    for name, p in items:
        for r in p["records"]:
            if r["method"] == "autodiff" and r.get("h") is None:
                autodiff.setdefault(r["function"], []).append((name, r["error"]))
    for ax, fn in zip(axes, functions):
        for method, (c, m) in method_style.items():
            rows = sorted(
                (r for r in records if r["function"] == fn and r["method"] == method and r.get("h")),
                key=lambda r: r["h"],
            )
            if not rows:
                continue
            h = np.array([r["h"] for r in rows])
            err = np.clip(_finite([r["error"] for r in rows]), 1e-17, None)
            ax.plot(h, err, color=c, marker=m, markersize=3, linewidth=1.2, label=method)
            best = int(np.nanargmin(err))
            ax.plot(h[best], err[best], marker="*", color="black", markersize=11, zorder=5)
            ax.annotate(
                f"best h={h[best]:.0e}",
                (h[best], err[best]),
                xytext=(3, -11 if method == "central" else 6),
                textcoords="offset points",
                fontsize=6.5,
                color=c,
            )
        errs = [e for _, e in autodiff.get(fn, []) if e is not None]
        if errs:
            worst = max(errs)
            ax.axhline(max(worst, 1e-17), color="#2ca02c", linestyle="--", linewidth=1)
            ax.text(
                0.02,
                0.04,
                f"autodiff error ≤ {worst:.0e}" if worst else "autodiff: exact (0)",
                transform=ax.transAxes,
                fontsize=7,
                color="#2ca02c",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"f(x) = {fn}")
        ax.set_xlabel("step h (log)")
        ax.set_ylabel("|error| (log)")
    for ax in axes[len(functions) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=c, marker=m, label=f"{meth} difference") for meth, (c, m) in method_style.items()]
    handles += [
        Line2D([], [], marker="*", color="black", linestyle="", markersize=10, label="best step"),
        Line2D([], [], color="#2ca02c", linestyle="--", label="autodiff (worst backend)"),
    ]
    outside_legend(fig, handles, [h.get_label() for h in handles])
    fig.suptitle("Finite differences: error against step h", fontsize=11)
    return Chart(
        "article",
        "article-fd-steps",
        "Finite-difference error against step h",
        "Error of the forward (x+h) and central (x±h) differences against the exact derivative (SymPy) "
        "for each of the article's functions. Truncation error falls with h (slope 1 forward, 2 central) "
        "until rounding error takes over; ★ marks the best step. Autodiff has no step and no truncation "
        "error.",
        fig,
    )


def _derivatives(docs) -> Chart | None:
    backend = _backends(docs)
    items = [(n, d.pictures["derivatives"]) for n, d in docs if "derivatives" in d.pictures]
    if not items:
        return None
    _, pic = items[0]
    x = np.array(pic["x"], dtype=float)
    fine = np.linspace(x.min(), x.max(), 400)
    fig = Figure(figsize=(9.5, 4.6), layout="constrained")
    ax = fig.subplots()
    curves = (
        ("f", fine**3 - 3 * fine**2 + 2, f"f(x) = {pic['function']}", "#222222"),
        ("df", 3 * fine**2 - 6 * fine, f"f′(x) = {pic['first']}", "#8c564b"),
        ("d2f", 6 * fine - 6, f"f″(x) = {pic['second']}", "#17becf"),
    )
    handles = []
    for _key, y, label, c in curves:
        (line,) = ax.plot(fine, y, color=c, linewidth=1.6, label=f"{label} (exact)", zorder=1)
        handles.append(line)
    markers = ("o", "s", "^", "D", "v", "P")
    step = max(3, len(items))  # every backend on its own grid points
    for k, (name, p) in enumerate(items):
        for key, _, _, _ in curves[1:]:
            ax.plot(
                x[k % step :: step],
                _finite(p[key])[k % step :: step],
                linestyle="",
                marker=markers[k % 6],
                markersize=4.5,
                markerfacecolor="none",
                markeredgecolor=backend_colour(backend[name]),
            )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="",
                marker=markers[k % 6],
                markerfacecolor="none",
                markeredgecolor=backend_colour(backend[name]),
                label=f"{name}: f′ and f″ from its derivative verbs",
            )
        )
    for crit in pic.get("critical", []):
        cx = float(crit["x"])
        cy = cubic(cx)
        ax.plot(
            [cx], [cy], marker="*", markersize=13, color="#2ca02c" if crit["kind"] == "minimum" else "#9467bd", zorder=5
        )
        ax.annotate(
            f"f′=0, f″{'>' if crit['kind'] == 'minimum' else '<'}0: local {crit['kind']}",
            (cx, cy),
            xytext=(8, 10 if crit["kind"] == "maximum" else -16),
            textcoords="offset points",
            fontsize=8,
        )
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("value")
    ax.set_ylim(-30, 30)
    ax.set_title("A function with its first and second derivatives")
    outside_legend(fig, handles, [h.get_label() for h in handles])
    return Chart(
        "article",
        "article-derivatives",
        "f(x) = x³ − 3x² + 2 with f′ and f″",
        "Lines: the exact derivatives. Markers: f′ from each backend's value_and_grad and f″ from its "
        "Hessian-vector product, on a grid (a few points shown per backend). Stars: the critical points, "
        "classified by the sign of f″.",
        fig,
    )
