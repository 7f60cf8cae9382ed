"""``--compare``: the relative change of every cell, one row per row label, coloured by its verdict."""

from __future__ import annotations

import math

import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.stats import rule_words

from ..analysis import series_order
from .base import Chart, outside_legend

FLAG_COLOURS = {"slower": "#d62728", "faster": "#2ca02c", "": "#aaaaaa", "status": "#9467bd"}
FLAG_TEXT = (
    ("slower", "slower (beyond both intervals and the minimum effect)"),
    ("faster", "faster (beyond both intervals and the minimum effect)"),
    ("", "no difference seen, or cannot tell"),
    ("status", "status changed"),
)
#: ratios worth a tick, nearest to 1 first
TICKS = (
    1,
    1.05,
    1 / 1.05,
    1.1,
    1 / 1.1,
    1.25,
    0.8,
    1.5,
    1 / 1.5,
    2,
    0.5,
    3,
    1 / 3,
    5,
    0.2,
    10,
    0.1,
    20,
    0.05,
    50,
    0.02,
    100,
    0.01,
)
#: at most this many ticks across the axis, so that their labels never touch
MAX_TICKS = 9


def ticks(span: float) -> list[float]:
    """Ratios to label on an axis from 10**-span to 10**span: 1, then the ones nearest
    to it that are at least a ninth of the axis away from every tick already chosen."""
    gap = 2 * span / MAX_TICKS
    chosen: list[float] = []
    for t in TICKS:
        lt = math.log10(t)
        if abs(lt) <= span and all(abs(lt - math.log10(c)) >= gap for c in chosen):
            chosen.append(t)
    return sorted(chosen)


def _percent(v: float, _=None) -> str:
    if abs(v - 1) < 1e-9:
        return "0"
    change = v - 1
    return (
        f"{change:+.0%}" if abs(change) >= 0.1 or abs(change * 100 - round(change * 100)) < 1e-6 else f"{change:+.1%}"
    )


def charts(context) -> list[Chart]:
    table = context.compare
    if table is None or table.empty:
        return []
    timed = table[table["median"].notna() & table["median_before"].notna()]
    if timed.empty:
        return []
    labels = series_order(timed, "label")
    fig = Figure(figsize=(9.0, 0.42 * len(labels) + 1.8), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for i, label in enumerate(labels):
        rows = timed[timed["label"] == label]
        ratio = (rows["median"] / rows["median_before"]).to_numpy(dtype=float)
        jitter = rng.uniform(-0.25, 0.25, len(rows))
        flags = rows["flag"].to_numpy()
        for flag in ("", "faster", "slower", "status"):
            sel = flags == flag
            if sel.any():
                ax.scatter(
                    ratio[sel],
                    i + jitter[sel],
                    s=18 if flag else 10,
                    color=FLAG_COLOURS[flag],
                    edgecolors="black" if flag else "none",
                    linewidths=0.4,
                    zorder=3 if flag else 2,
                )
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    logs = np.abs(np.log10((timed["median"] / timed["median_before"]).to_numpy(dtype=float)))
    logs = logs[np.isfinite(logs)]
    span = max(math.log10(1.25), float(logs.max()) * 1.25 if logs.size else 0.1)
    ax.set_xlim(10**-span, 10**span)
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks(span)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_percent))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("change of the median time (log scale; right = slower, left = faster)")
    handles = [Line2D([], [], marker="o", linestyle="", color=FLAG_COLOURS[f], label=text) for f, text in FLAG_TEXT]
    outside_legend(fig, handles, [h.get_label() for h in handles])
    baseline = context.baseline.tag if context.baseline is not None else "baseline"
    flagged = int((table["flag"] != "").sum())
    title = f"Change against {baseline}: {flagged} of {len(table)} cells changed"
    fig.suptitle(title, fontsize=11)
    return [
        Chart(
            "compare",
            "compare",
            title,
            "Each point is one cell (problem, size, kind) of this row label. The change's 95% interval combines "
            "both runs' intervals of the median (variation between processes included). A coloured point is "
            f"called slower or faster: {rule_words()}, and the machine's own change of speed while the two runs "
            "timed the cell (its speed probe) cannot explain it.",
            fig,
        )
    ]
