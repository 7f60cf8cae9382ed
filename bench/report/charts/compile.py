"""Compile cost: the first call against the steady state, and the calls after which compiling pays off."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..analysis import kinds_in_order, series_order, timed
from .base import Chart, Styles, outside_legend, time_axis


def charts(context) -> list[Chart]:
    out = []
    ok = timed(context.frame)
    ok = ok[ok["first_call"].notna()]
    if not ok.empty:
        out.append(_first_call(ok, Styles(context)))
    if context.break_even:
        out.append(_break_even(context.break_even))
    return out


def _first_call(ok, styles: Styles) -> Chart:
    fig = Figure(figsize=(8.2, 5.0), layout="constrained")
    ax = fig.subplots()
    for s in series_order(ok):
        rows = ok[ok["series"] == s]
        ax.scatter(
            rows["median"],
            rows["first_call"],
            s=26 if styles(s).variant.marker == "*" else 22,
            label=s,
            **styles(s).marker(),
        )
    lo = float(min(ok["median"].min(), ok["first_call"].min())) / 2
    hi = float(max(ok["median"].max(), ok["first_call"].max())) * 2
    line = np.array([lo, hi])
    for factor, text in ((1, "first = steady"), (10, "10×"), (100, "100×"), (1000, "1000×")):
        ax.plot(line, line * factor, color="#888888", linewidth=0.7, linestyle="-" if factor == 1 else ":")
        x_at = min(hi / factor, hi) / 1.5
        if x_at > lo:
            ax.text(x_at, x_at * factor, text, fontsize=7, color="#666666", ha="right", va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi * 10)
    time_axis(ax.xaxis)
    time_axis(ax.yaxis)
    ax.set_xlabel("steady-state median time per call (log scale)")
    ax.set_ylabel("first call time, incl. tracing/compilation (log scale)")
    handles, labels = ax.get_legend_handles_labels()
    outside_legend(fig, handles, labels, title="row (hollow: eager)", ncol=2 if len(labels) > 16 else 1)
    title = "First call against steady state"
    fig.suptitle(title, fontsize=11)
    return Chart(
        "compile",
        "compile-first-call",
        title,
        "Each point is one cell (problem, size, kind). Distance above the grey diagonal is the one-off cost "
        "of the first call: tracing and compilation for the compiled variants (jit, compile, function, xla).",
        fig,
    )


def _break_even(rows: list[dict]) -> Chart:
    import pandas as pd

    table = pd.DataFrame(rows)
    table["n"] = pd.to_numeric(table["n"], errors="coerce")
    several = table["run"].nunique() > 1
    table["row"] = (
        table["problem"].astype(str)
        + " · "
        + table["size"].astype(str)
        + (" · " + table["dtype"].astype(str) if table["dtype"].nunique() > 1 else "")
        + (" @ " + table["run"].astype(str) if several else "")
    )
    table = table.sort_values(["problem", "n"], kind="stable")
    present = set(table["kind"])
    kinds = [k for k in ("objective", "gradient", "solve") if k in present] or kinds_in_order(present)[:3]
    table = table[table["kind"].isin(kinds)]
    cols = [(label, k) for label in series_order(table, "label") for k in kinds]
    row_names = list(dict.fromkeys(table["row"]))
    values = np.full((len(row_names), len(cols)), np.nan)
    for r in table.itertuples():
        if (r.label, r.kind) in cols:
            values[row_names.index(r.row), cols.index((r.label, r.kind))] = r.calls
    fig = Figure(figsize=(1.15 * len(cols) + 3.6, 0.3 * len(row_names) + 1.8), layout="constrained")
    ax = fig.subplots()
    shown = np.log10(np.clip(np.where(np.isfinite(values), values, np.nan), 1, None))
    vmax = max(1.0, float(np.nanmax(shown))) if np.isfinite(shown).any() else 1.0
    cmap = matplotlib.colormaps["YlOrRd"].with_extremes(bad="#e8e8e8")
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    for i in range(len(row_names)):
        for j in range(len(cols)):
            v = values[i, j]
            text = "—" if np.isnan(v) else ("never" if np.isinf(v) else f"{int(v):,}")
            dark = np.isfinite(v) and math.log10(max(v, 1)) > 0.6 * vmax
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if dark else "black",
                fontweight="bold" if np.isinf(v) else "normal",
            )
    ax.set_xticks(range(len(cols)), [f"{label}\n{k}" for label, k in cols])
    ax.set_yticks(range(len(row_names)), row_names)
    ax.grid(False)
    ax.xaxis.tick_top()
    fig.colorbar(image, ax=ax, label="calls until compiling pays off (log10)", shrink=0.8)
    title = "Calls after which compiling pays off"
    fig.suptitle(title, fontsize=11)
    return Chart(
        "compile",
        "compile-break-even",
        title,
        "Number of calls k from which a compiled variant's total time (first call + (k-1) steady calls) is "
        "below its backend's default eager variant's, for the objective, the gradient and the whole solve "
        "(every kind is in the table below). 'never': the compiled variant is not faster in steady state; "
        "'—': not measured in both.",
        fig,
    )
