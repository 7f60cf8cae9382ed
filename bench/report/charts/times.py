"""Time per row label: one chart per problem, size, dtype and device, one panel per kind."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bench.cells import WITNESS
from bench.fmt import fmt_n, is_missing
from bench.verdicts import row_interval

from ..analysis import series_order
from .base import STYLE_NAMES, Chart, Styles, grid, kinds, size_order, slugify, style_legend, subtitle, time_axis

CAPTION = (
    "Median time of one call per row label (the dot), log scale; the horizontal bar spans the median's 95% "
    "interval (its rounds and the variation between worker processes; none where a cell has no interval). "
    "★ marks the fastest row through the protocol (by median; where the run's close rows were timed again in "
    "the same rounds, python -m bench settle, the fastest in those rounds); ×k is each median over its median "
    "(an expert's witness below ×1 beats it). Colour is the backend, the marker the variant (legend under the "
    "panels: hollow markers eager, filled ones compiled, hand-derived or an expert's hand-written witness). Each "
    "panel lists the rows measured for its kind: a witness or the article's loop appears only where it exists."
)


def charts(context) -> list[Chart]:
    frame, styles = context.frame, Styles(context)
    out = []
    if frame.empty:
        return out
    settled: dict[tuple, str] = {}  # a comparison group (GROUP_KEYS) -> the fastest row of its call made in rounds
    table = context.fastest
    for r in [] if table is None or "basis" not in table else table[table["basis"] == "same rounds"].to_dict("records"):
        settled[tuple(str(r.get(k)) for k in GROUP_KEYS)] = r["fastest"]
    for (problem, dtype, device), pframe in frame.groupby(["problem", "dtype", "device"], sort=False, dropna=False):
        for size in size_order(pframe):
            rows = pframe[(pframe["size"] == size).fillna(False)]
            out.append(_chart(problem, size, dtype, device, rows, styles, settled))
    return out


#: a comparison group's columns, as the times chart keys the calls made in the same rounds
GROUP_KEYS = ("run", "problem", "size", "dtype", "device", "threads", "kind")


def _chart(problem, size, dtype, device, frame, styles: Styles, settled: dict[tuple, str] | None = None) -> Chart:
    panels = kinds(frame["kind"])
    series = series_order(frame)
    #: rows that exist for some kinds only: the article's loop (solve) and the expert's witness
    optional = set(frame.loc[(frame["role"] != "protocol").fillna(False).astype(bool), "series"])
    shown = {k: _shown(frame, k, series, optional) for k in panels}
    longest = max(len(v) for v in shown.values())
    nrows, ncols = grid(len(panels))
    height = max(2.2, 0.28 * longest + 1.2)
    fig = Figure(figsize=(4.4 * ncols + 0.8, height * nrows + 1.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    drawn: set = set()
    for ax, kind in zip(axes, panels):
        rows = frame[(frame["kind"] == kind).fillna(False)].drop_duplicates("series", keep="last").set_index("series")
        ok = rows[(rows["status"] == "ok").fillna(False) & rows["median"].notna()]
        contenders = ok[(ok["role"] != WITNESS).fillna(False).astype(bool)]  # the witness is no contender
        best = contenders["median"].idxmin() if len(contenders) else None
        # a call made in the same rounds, where the panel holds that one comparison group (one run, one thread count)
        groups = {tuple(str(r.get(k)) for k in GROUP_KEYS) for r in contenders.to_dict("records")}
        called = (settled or {}).get(next(iter(groups))) if len(groups) == 1 else None
        best = called if called in contenders.index else best
        lows, highs = [], []
        for i, s in enumerate(shown[kind]):
            if s not in rows.index:
                _note(ax, i, "not measured", color="#999999", fontsize=7)
                continue
            row = rows.loc[s]
            if row["status"] != "ok" or is_missing(row["median"]):
                _note(ax, i, f"✗ {row['status']}", color="#d62728", fontsize=8, fontweight="bold")
                continue
            med = float(row["median"])
            iv = row_interval(row.to_dict())
            lo, hi = (iv.lo, iv.hi) if iv.bounded else (med, med)
            lows.append(lo)
            highs.append(hi)
            style = styles(s)
            drawn.add(style.variant)
            ax.errorbar(
                med,
                i,
                xerr=[[med - lo], [hi - med]],
                fmt=style.variant.marker,
                color=style.colour,
                markerfacecolor=style.colour if style.variant.filled else "white",
                markeredgecolor=style.colour,
                markersize=6,
                elinewidth=1.4,
                capsize=3,
            )
            if s == best:
                ax.text(hi * 1.25, i, "★ fastest", va="center", fontsize=7.5, fontweight="bold")
            elif best is not None:
                ax.text(hi * 1.25, i, f"×{med / ok.loc[best, 'median']:.3g}", va="center", fontsize=7.5)
        ax.set_xscale("log")
        time_axis(ax.xaxis)
        ax.set_title(kind)
        ax.set_xlabel("median time, log scale")
        if lows:
            ax.set_xlim(min(lows) / 3, max(highs) * 12)
        ax.grid(axis="y", visible=False)
        ax.set_yticks(np.arange(len(shown[kind])), shown[kind])
        ax.set_ylim(longest - 0.5, -0.5)  # every panel's rows equally spaced, from the top
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    style_legend(fig, [(v, text) for v, text in STYLE_NAMES.items() if v in drawn])
    first = frame.iloc[0]
    n_params = first["n_params"]
    detail = f"n={fmt_n(first['n'])}" + ("" if is_missing(n_params) else f", {fmt_n(n_params)} parameters")
    title = f"{problem} · {size} ({detail}) · {subtitle(dtype, device)}"
    fig.suptitle(title, fontsize=11)
    return Chart("times", slugify("times", problem, size, dtype, device), title, CAPTION, fig)


def _shown(frame, kind: str, series: list[str], optional: set) -> list[str]:
    """The rows of a kind's panel: those it has a record for, and every protocol row (one it lacks says
    "not measured"); a witness or the article's loop without a record there is left out."""
    present = set(frame.loc[(frame["kind"] == kind).fillna(False), "series"])
    return [s for s in series if s in present or s not in optional]


def _note(ax, i: int, text: str, **style) -> None:
    ax.text(0.02, i, text, transform=ax.get_yaxis_transform(), va="center", **style)
