"""The cheap-gradient check: each derivative's time over the objective's, per row label and size."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..analysis import series_order
from .base import Chart, Styles, grid, kinds, outside_legend, size_order, slugify, subtitle

DERIVATIVES = ("gradient", "hvp", "vjp", "jvp", "hessian")


def charts(context) -> list[Chart]:
    frame, styles = context.frame, Styles(context)
    ok = frame[
        (frame["status"] == "ok").fillna(False) & frame["ratio"].notna() & (frame["kind"] != "objective").fillna(False)
    ]
    out = []
    for (dtype, device), dframe in ok.groupby(["dtype", "device"], sort=False, dropna=False):
        for kind in [k for k in kinds(dframe["kind"]) if k in DERIVATIVES]:
            out.append(_chart(dframe[dframe["kind"] == kind], kind, dtype, device, styles))
    return out


def _chart(kframe, kind, dtype, device, styles: Styles) -> Chart:
    probs = list(dict.fromkeys(kframe["problem"]))
    nrows, ncols = grid(len(probs), 4)
    series = series_order(kframe)
    fig = Figure(figsize=(max(3.4, 0.38 * len(series) + 1.2) * ncols + 1.8, 3.0 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, problem in zip(axes, probs):
        pframe = kframe[kframe["problem"] == problem]
        sizes = size_order(pframe)
        width = 0.8 / max(1, len(sizes))
        for j, size in enumerate(sizes):
            rows = pframe[pframe["size"] == size].drop_duplicates("series", keep="last").set_index("series")
            alpha = 0.35 + 0.65 * (j + 1) / len(sizes)
            for i, s in enumerate(series):
                if s in rows.index:
                    style = styles(s)
                    ax.bar(
                        i - 0.4 + width * (j + 0.5),
                        float(rows.loc[s, "ratio"]),
                        width=width * 0.95,
                        color=style.colour,
                        alpha=alpha,
                        edgecolor="black",
                        linewidth=0.4,
                        hatch=style.variant.hatch,
                    )
        ax.axhspan(1e-3, 5, color="#2ca02c", alpha=0.07, zorder=0)
        ax.axhline(1, color="black", linewidth=0.8)
        ax.axhline(5, color="#2ca02c", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_xticks(range(len(series)), series, rotation=45, ha="right")
        ax.set_title(problem)
        ax.set_xlabel("bars per row: " + ", ".join(sizes), fontsize=7)
        ax.set_ylabel(f"{kind} time / objective time")
        ax.set_ylim(min(0.5, float(pframe["ratio"].min()) / 2), max(10.0, float(pframe["ratio"].max()) * 2))
    for ax in axes[len(probs) :]:
        ax.set_visible(False)
    handles = [
        Patch(color="black", alpha=0.45, label="smaller size (lighter bar)"),
        Patch(color="black", alpha=1.0, label="larger size (darker bar)"),
        Patch(facecolor="white", edgecolor="black", hatch="///", label="eager variant (hatched)"),
        Line2D([], [], color="#2ca02c", linestyle="--", label="5× objective (cheap-gradient bound)"),
    ]
    outside_legend(fig, handles, [h.get_label() for h in handles])
    title = f"{kind} / objective time ratio · {subtitle(dtype, device)}"
    fig.suptitle(title, fontsize=11)
    return Chart(
        "ratio",
        slugify("ratio", kind, dtype, device),
        title,
        f"Median {kind} time over the median objective time of the same row label and size (log scale; "
        "darker bars are larger sizes). Reverse mode should stay within a small constant factor of the "
        "objective (the shaded band, up to 5×) at every size.",
        fig,
    )
