"""Scaling: median time against the problem's main dimension, log-log, with fitted
slopes and the crossovers where the fastest row label changes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.fmt import fmt_n

from ..analysis import curve, scaling_axis, series_order, timed
from .base import Chart, Styles, count_axis, grid, kinds, slugify, subtitle


def charts(context) -> list[Chart]:
    frame, styles = context.frame, Styles(context)
    out = []
    ok = timed(frame)
    for (problem, dtype, device), pframe in ok.groupby(["problem", "dtype", "device"], sort=False, dropna=False):
        if pframe["size"].nunique() < 2:
            continue
        column, unit = scaling_axis(frame[frame["problem"] == problem])
        panels = [k for k in kinds(pframe["kind"]) if pframe[pframe["kind"] == k]["size"].nunique() >= 2]
        if not panels:
            continue
        nrows, ncols = grid(len(panels), 3)
        n_series = pframe["series"].nunique()
        fig = Figure(figsize=(4.3 * ncols + 0.4, (3.2 + 0.16 * n_series) * nrows + 0.5), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, kind in zip(axes, panels):
            _panel(ax, context, styles, problem, dtype, device, kind, pframe[pframe["kind"] == kind], column, unit)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        title = f"Scaling: {problem} · {subtitle(dtype, device)}"
        fig.suptitle(title, fontsize=11)
        out.append(
            Chart(
                "scaling",
                slugify("scaling", problem, dtype, device),
                title,
                f"Median time against {unit}, log-log, one line per row label (dashed, hollow: eager; "
                "solid, filled: compiled). The legend under each panel gives each line's fitted log-log "
                "slope (1 = linear). ✕ marks where the fastest row changes (one overtakes another); every "
                "crossing is listed in the report's table.",
                fig,
            )
        )
    return out


def _same(a, b) -> bool:
    """Equal text, or both missing (a group key of ``groupby(dropna=False)``)."""
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return not isinstance(a, str) and not isinstance(b, str)


def _panel(ax, context, styles, problem, dtype, device, kind, kframe, column, unit) -> None:
    handles: dict[str, Any] = {}
    for s in series_order(kframe):
        rows = curve(kframe[kframe["series"] == s], column)
        if rows.empty:
            continue
        slope = next(
            (
                r["slope"]
                for r in context.slopes
                if r["problem"] == problem
                and _same(r["dtype"], dtype)
                and _same(r["device"], device)
                and r["kind"] == kind
                and r["series"] == s
            ),
            math.nan,
        )
        (line,) = ax.plot(
            np.asarray(rows.index, dtype=float),
            rows.values,
            **styles(s).line(),
            markersize=4,
            linewidth=1.4,
            label=f"{s}: slope {slope:.2f}" if math.isfinite(slope) else s,
        )
        handles.setdefault(s, line)
    crossings = [
        c
        for c in context.crossings
        if c["problem"] == problem and _same(c["dtype"], dtype) and _same(c["device"], device) and c["kind"] == kind
    ]
    marks = _winner_changes(crossings, kframe, column)
    for c in marks:
        ax.axvline(c["x"], color="#444444", linestyle=":", linewidth=1)
        ax.plot([c["x"]], [c["time"]], marker="X", color="black", markersize=7, zorder=5)
        ax.text(
            c["x"],
            0.98,
            f" {c['winner']} overtakes\n {c['loser']} ≈ {fmt_n(c['x'])}",
            transform=ax.get_xaxis_transform(),
            fontsize=6.5,
            va="top",
            ha="left",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#999999", "alpha": 0.7},
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    count_axis(ax.xaxis)
    ax.set_title(kind)
    ax.set_xlabel(f"{unit}, log scale")
    ax.set_ylabel("median time (s, log)")
    # Each panel's own legend, below it: slopes differ from kind to kind.
    lines, labels = ax.get_legend_handles_labels()
    if marks:
        lines.append(Line2D([], [], marker="X", color="black", linestyle=":"))
        labels.append("crossover: fastest changes")
    ax.legend(
        lines,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=2,
        frameon=False,
        fontsize=7,
        title="fitted log-log slope",
        title_fontsize=7,
    )


def _winner_changes(crossings: list[dict], kframe, column) -> list[dict]:
    """The crossings that change which series is fastest overall."""
    best = kframe.sort_values("median").groupby(column, sort=True).first()["series"]
    out = []
    xs = [float(x) for x in best.index]
    for k in range(len(xs) - 1):
        a, b = best.iloc[k], best.iloc[k + 1]
        if a == b:
            continue
        for c in crossings:
            if {c["winner"], c["loser"]} == {a, b} and c["winner"] == b and xs[k] <= c["x"] <= xs[k + 1]:
                out.append(c)
                break
    return out
