"""Time per row label: one chart per problem, size, dtype and device, one panel per kind."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bench.cells import WITNESS
from bench.fmt import fmt_n, is_missing
from bench.uncertainty import row_interval

from ..analysis import series_order
from .base import Chart, Styles, grid, kinds, size_order, slugify, subtitle

CAPTION = (
    "Median time of one call per row label, log scale; whiskers span the median's 95% interval (its rounds "
    "and the variation between worker processes; none where a cell has no interval). ★ marks the fastest "
    "row through the protocol; ×k is how many times slower than it (an "
    "expert's witness below ×1 beats it). Colour is the backend; hatched, paler bars are eager variants, "
    "solid bars compiled ones (numpy: hand-derived), cross-hatched bars an expert's hand-written witness."
)


def charts(context) -> list[Chart]:
    frame, styles = context.frame, Styles(context)
    out = []
    if frame.empty:
        return out
    for (problem, dtype, device), pframe in frame.groupby(["problem", "dtype", "device"], sort=False, dropna=False):
        for size in size_order(pframe):
            out.append(_chart(problem, size, dtype, device, pframe[(pframe["size"] == size).fillna(False)], styles))
    return out


def _chart(problem, size, dtype, device, frame, styles: Styles) -> Chart:
    panels = kinds(frame["kind"])
    series = series_order(frame)
    #: rows that exist for some kinds only: the article's loop (solve) and the expert's witness
    optional = set(frame.loc[(frame["role"] != "protocol").fillna(False).astype(bool), "series"])
    nrows, ncols = grid(len(panels))
    height = max(2.2, 0.28 * len(series) + 1.2)
    fig = Figure(figsize=(3.2 * ncols + 1.6, height * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    for ax, kind in zip(axes, panels):
        rows = frame[(frame["kind"] == kind).fillna(False)].drop_duplicates("series", keep="last").set_index("series")
        ok = rows[(rows["status"] == "ok").fillna(False) & rows["median"].notna()]
        contenders = ok[(ok["role"] != WITNESS).fillna(False).astype(bool)]  # the witness is no contender
        best = contenders["median"].idxmin() if len(contenders) else None
        lows, highs = [], []
        for i, s in enumerate(series):
            if s not in rows.index:
                if s not in optional:
                    ax.text(
                        0.02,
                        i,
                        "not measured",
                        transform=ax.get_yaxis_transform(),
                        va="center",
                        fontsize=7,
                        color="#999999",
                    )
                continue
            row = rows.loc[s]
            if row["status"] != "ok" or is_missing(row["median"]):
                ax.text(
                    0.02,
                    i,
                    f"✗ {row['status']}",
                    transform=ax.get_yaxis_transform(),
                    va="center",
                    fontsize=8,
                    color="#d62728",
                    fontweight="bold",
                )
                continue
            med = float(row["median"])
            iv = row_interval(row.to_dict())
            lo, hi = (iv.lo, iv.hi) if iv.bounded else (med, med)
            lows.append(lo)
            highs.append(hi)
            ax.barh(i, med, height=0.7, **styles.bar(s))
            ax.errorbar(med, i, xerr=[[med - lo], [hi - med]], fmt="none", ecolor="black", elinewidth=1, capsize=2)
            if s == best:
                ax.text(hi * 1.15, i, "★ fastest", va="center", fontsize=7.5, fontweight="bold")
            elif best is not None:
                ax.text(hi * 1.15, i, f"×{med / ok.loc[best, 'median']:.3g}", va="center", fontsize=7.5)
        ax.set_xscale("log")
        ax.set_title(kind)
        ax.set_xlabel("median time (s), log scale")
        if lows:
            ax.set_xlim(min(lows) / 3, max(highs) * 12)
        ax.grid(axis="y", visible=False)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].set_yticks(np.arange(len(series)), series)
    axes[0].set_ylim(len(series) - 0.5, -0.5)
    first = frame.iloc[0]
    n_params = first["n_params"]
    detail = f"n={fmt_n(first['n'])}" + ("" if is_missing(n_params) else f", {fmt_n(n_params)} parameters")
    title = f"{problem} · {size} ({detail}) · {subtitle(dtype, device)}"
    fig.suptitle(title, fontsize=11)
    return Chart("times", slugify("times", problem, size, dtype, device), title, CAPTION, fig)
