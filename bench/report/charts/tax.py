"""The protocol tax: for each headline cell with an expert's witness, each backend's
best protocol row over the witness (1.0: the harness costs nothing; the goal: at most 1.10)."""

from __future__ import annotations

import math

import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bench.tax import GOAL

from ..analysis import backend_order
from .base import Chart, colour, outside_legend


def row_names(tax) -> list[str]:
    """One name per headline cell: problem · size · kind, with dtype, device and run where they vary."""
    names = tax["problem"].astype(str) + " · " + tax["size"].astype(str) + " · " + tax["kind"].astype(str)
    for column, sep in (("dtype", " · "), ("device", " · "), ("run", " @ ")):
        if tax[column].nunique(dropna=False) > 1:
            names = names + sep + tax[column].astype(str)
    return list(names)


def charts(context) -> list[Chart]:
    tax = context.tax
    if tax is None or not len(tax):
        return []
    tax = tax.copy()
    tax["row"] = row_names(tax)
    rows = list(dict.fromkeys(tax["row"]))
    order = backend_order(tax["backend"])
    height = 0.8 / len(order)
    fig = Figure(figsize=(9.0, max(2.6, 0.35 * len(rows) * len(order) + 1.6)), layout="constrained")
    ax = fig.subplots()
    for r in tax.itertuples():
        i, j = rows.index(r.row), order.index(r.backend)
        y = i - 0.4 + height * (j + 0.5)
        good = r.call != "above"  # hatched: above the goal beyond the noise (its whole interval)
        # a bar from 1.0 (no tax) to the tax: right of the line our code is slower than the expert's
        ax.barh(
            y,
            r.tax - 1.0,
            left=1.0,
            height=height * 0.9,
            color=colour(r.backend),
            alpha=1.0 if good else 0.55,
            edgecolor="black",
            linewidth=0.5,
            hatch="" if good else "//",
        )
        bounded = math.isfinite(r.tax_lo) and math.isfinite(r.tax_hi) and r.tax_lo > 0
        if bounded:  # the tax's 95% interval
            xerr = [[max(0.0, r.tax - r.tax_lo)], [max(0.0, r.tax_hi - r.tax)]]
            ax.errorbar(r.tax, y, xerr=xerr, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
        # the label sits right of a bar above 1.0 (and of its interval) and over a bar below it, never over the
        # row names
        right = r.tax >= 1.0
        ax.text(
            max(r.tax, r.tax_hi if bounded else r.tax) * 1.02 if right else 1 / 1.02,
            y,
            f"{r.best} ×{r.tax:.2f}",
            va="center",
            fontsize=7,
            ha="left" if right else "right",
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    values = np.concatenate([tax[c].to_numpy(dtype=float) for c in ("tax", "tax_lo", "tax_hi")])
    values = values[np.isfinite(values) & (values > 0)]
    lo = min(0.8, float(np.nanmin(values)) / 1.5)
    hi = max(1.5, float(np.nanmax(values)) * 1.6)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.axvspan(lo, GOAL, color="#2ca02c", alpha=0.08, zorder=0)
    ax.axvline(1.0, color="black", linewidth=1.0)
    ax.axvline(GOAL, color="#2ca02c", linestyle="--", linewidth=1.2)
    candidates = (0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2, 3, 5, 10, 20, 50, 100)  # the goal is the dashed line
    ax.xaxis.set_major_locator(
        matplotlib.ticker.FixedLocator(
            [t for t in candidates if lo <= t <= hi and (t <= 2 or math.log10(hi / lo) > 0.8)]
        )
    )
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(
        "best protocol row / the witness: the median of their per-round ratios where timed in interleaved rounds, "
        "else of their medians\n(log scale; lower is better; whiskers: 95% interval)"
    )
    handles = [Patch(facecolor=colour(b), edgecolor="black", label=b) for b in order]
    handles += [
        Line2D([], [], color="black", label="1.0: no tax"),
        Line2D([], [], color="#2ca02c", linestyle="--", label=f"{GOAL:.2f}: the goal"),
        Patch(facecolor="white", edgecolor="black", hatch="//", label="above the goal\n(whole interval)"),
    ]
    outside_legend(fig, handles, [h.get_label() for h in handles], title="backend")
    calls = tax["call"].value_counts()
    within, above = int(calls.get("within", 0)), int(calls.get("above", 0))
    title = (
        f"Protocol tax: {within} of {len(tax)} within {1 / GOAL:.2f}-{GOAL:.2f}× of the expert's code with their "
        f"95% interval, {above} above"
    )
    fig.suptitle(title, fontsize=11)
    return [
        Chart(
            "tax",
            "protocol-tax",
            title,
            "For each headline cell with an expert's hand-written witness, each backend's fastest row through "
            "the protocol (named on the bar) over the witness, timed in interleaved rounds where the run did, with "
            f"its 95% interval. 1.0: writing the problem once costs nothing; the goal is at most {GOAL:.2f} "
            "(dashed); paler hatched bars miss it with their whole interval.",
            fig,
        )
    ]
