"""Scaling: median time against the problem's main dimension, log-log, with fitted
slopes and the crossovers where the fastest row label changes."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..analysis import FLOOR_FACTOR, MIN_SIZES, crossing_span, curve, scaling_axis, series_order, slope_text, timed
from .base import Chart, Styles, count_axis, grid, kinds, slugify, subtitle, time_axis


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
        fig = Figure(figsize=(4.6 * ncols + 0.4, (3.4 + 0.2 * n_series) * nrows + 0.5), layout="constrained")
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
                "solid, filled: compiled). The legend under each panel gives each line's log-log slope "
                "(1 = linear) ± its standard error, fitted only on the sizes above the dispatch floor: those "
                f"where the row takes more than {FLOOR_FACTOR:g}× its time at the smallest size (below, the "
                f"fixed cost of a call sets the time); with fewer than {MIN_SIZES} such sizes a row gets no "
                "slope. A shaded span marks where the fastest row changes (one overtakes another somewhere "
                "between the two measured sizes around it); every crossing is listed in the report's table.",
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
    legend: dict[str, Any] = {}
    for s in series_order(kframe):
        rows = curve(kframe[kframe["series"] == s], column)
        if rows.empty:
            continue
        slope = next(
            (
                r
                for r in context.slopes
                if r["problem"] == problem
                and _same(r["dtype"], dtype)
                and _same(r["device"], device)
                and r["kind"] == kind
                and r["series"] == s
            ),
            None,
        )
        # the line's label is its row label: the hover titles read it back (charts/hover.py)
        (line,) = ax.plot(
            np.asarray(rows.index, dtype=float),
            rows.values,
            **styles(s).line(),
            markersize=4,
            linewidth=1.4,
            label=s,
        )
        legend.setdefault(f"{s}: {slope_text(slope)}" if slope else s, line)
    crossings = [
        c
        for c in context.crossings
        if c["problem"] == problem and _same(c["dtype"], dtype) and _same(c["device"], device) and c["kind"] == kind
    ]
    marks = _winner_changes(crossings, kframe, column)
    for k, c in enumerate(marks):
        lo, hi = c["between"]
        ax.axvspan(lo, hi, color="#888888", alpha=0.12, linewidth=0)
        ax.text(
            lo,
            0.98 - 0.11 * k,
            f" {c['winner']} overtakes\n {c['loser']} {crossing_span(c)}",
            transform=ax.get_xaxis_transform(),
            fontsize=6.5,
            va="top",
            ha="left",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#999999", "alpha": 0.7},
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    count_axis(ax.xaxis)
    time_axis(ax.yaxis)
    ax.set_title(kind)
    ax.set_xlabel(f"{unit}, log scale")
    ax.set_ylabel("median time, log scale")
    # Each panel's own legend, below it: slopes differ from kind to kind.
    lines, labels = list(legend.values()), list(legend)
    if marks:
        lines.append(Patch(color="#888888", alpha=0.25))
        labels.append("the fastest row changes in this span")
    ax.legend(
        lines,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=1,
        frameon=False,
        fontsize=6.5,
        title=f"log-log slope ± s.e. (floor: {FLOOR_FACTOR:g}× the smallest size's time)",
        title_fontsize=6.5,
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
