"""The agreement heatmap: worst rho per problem and row label, failures in red."""

from __future__ import annotations

import matplotlib
import matplotlib.patches
import numpy as np
from matplotlib.figure import Figure

from ..analysis import series_order
from .base import Chart, slugify

CAPTION = (
    "Worst ρ(x, y) = |x − y| / max(1, |x| + |y|) over every entry and derivative kind, against the hand-derived "
    "derivative (darker is closer; 0: identical). Red cells FAILED their tolerance and name the failing kind. "
    "† : no hand derivative, ρ against the binding reference (finite differences or SymPy)."
)


def charts(context) -> list[Chart]:
    table = context.agreement
    out = []
    if table is None or table.empty:
        return out
    several = table["run"].nunique() > 1
    for dtype, dframe in table.groupby("dtype", sort=False):
        dframe = dframe.copy()
        dframe["row"] = dframe["problem"] + (" @ " + dframe["run"] if several else "")
        out.append(_chart(dtype, dframe))
    return out


def _chart(dtype, dframe) -> Chart:
    rows = list(dict.fromkeys(dframe["row"]))
    labels = series_order(dframe, "label")
    rho = np.full((len(rows), len(labels)), np.nan)
    fail = np.zeros_like(rho, dtype=bool)
    worst_kind = np.full(rho.shape, "", dtype=object)
    not_hand = np.zeros_like(rho, dtype=bool)
    for (row, label), g in dframe.groupby(["row", "label"]):
        i, j = rows.index(row), labels.index(label)
        worst = g.loc[g["rho"].fillna(np.inf).idxmax()]
        rho[i, j] = worst["rho"]
        fail[i, j] = not bool(g["ok"].all())
        if fail[i, j]:
            worst = g[~g["ok"]].iloc[0]
        worst_kind[i, j] = worst["kind"]
        derivatives = g[g["kind"] != "solve"]  # a solve is compared with NumPy's solve, never with a hand derivative
        not_hand[i, j] = (derivatives["reference"] != "hand").any() if len(derivatives) else True
    fig = Figure(figsize=(1.05 * len(labels) + 3.4, max(3.4, 0.5 * len(rows) + 1.9)), layout="constrained")
    ax = fig.subplots()
    shown = np.log10(np.clip(rho, 1e-17, None))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#eeeeee")
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=-17, vmax=0, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(labels)):
            if np.isnan(rho[i, j]) and not fail[i, j]:
                ax.text(j, i, "—", ha="center", va="center", fontsize=8, color="#777777")
                continue
            value = "0" if rho[i, j] == 0 else f"{rho[i, j]:.0e}"
            mark = "†" if not_hand[i, j] else ""
            if fail[i, j]:
                ax.add_patch(
                    matplotlib.patches.Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, facecolor="#d62728", edgecolor="black", linewidth=2, zorder=3
                    )
                )
                ax.text(
                    j,
                    i,
                    f"FAIL {worst_kind[i, j]}\n{value}{mark}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white",
                    fontweight="bold",
                    zorder=4,
                )
            else:
                ax.text(
                    j,
                    i,
                    f"{value}{mark}",
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="black" if shown[i, j] > -6 else "white",
                )
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="left")
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)), rows)
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="log10 worst ρ vs hand", shrink=0.85)
    failures = int(fail.sum())
    title = f"Agreement · {dtype}" + (f" · {failures} FAILED" if failures else " · all passed")
    fig.suptitle(title, fontsize=11, color="#d62728" if failures else "black")
    return Chart("agreement", slugify("agreement", dtype), title, CAPTION, fig)
