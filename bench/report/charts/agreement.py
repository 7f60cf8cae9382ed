"""The agreement heatmap: the check's own measure (normwise relative error) per problem and row label,
the check's tolerances on the colour bar, failures in red; hand code (NumPy) apart, on its own scale."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.patches
import numpy as np
from matplotlib.figure import Figure

from ..analysis import series_order
from .base import Chart, slugify

CAPTION = (
    "Worst normwise relative error ‖x − y‖ / ‖y‖ (the measure the check decides with) per problem and row "
    "label over every kind checked, against the hand-derived derivative (0: identical; darker is closer). "
    "The red lines on each colour bar are the check's tolerances for what that panel compares with. Red "
    "cells FAILED their tolerance and name the failing kind. † : the value is a solve's, against NumPy's "
    "solve (the cell's worst against its tolerance; a witness with only a solve has nothing else). Hand "
    "code (NumPy) is apart, at the left on its own colour "
    "scale: its derivative *is* the hand one, identical to it by construction, so it is shown against the "
    "independent references instead (central finite differences, up to the check's parameter limit, and SymPy); "
    "'hand only': no independent reference there."
)
#: the shown range, log10 of the error: 1e-17 (and exact zeros) to 1
LOW, HIGH = -17, 0
REFERENCE_NAMES = {
    "finite-difference": "finite differences",
    "numpy solve": "NumPy's solve",
    "numpy solve loss": "NumPy's solve",
}


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
    hand_code = set(dframe.loc[dframe["hand_code"].astype(bool), "label"])
    groups = [g for g in ([x for x in labels if x in hand_code], [x for x in labels if x not in hand_code]) if g]
    size = (1.05 * len(labels) + 2.4 + 1.6 * len(groups), max(3.4, 0.5 * len(rows) + 1.9))
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups), width_ratios=[len(g) for g in groups], squeeze=False)).ravel()
    failures = 0
    for ax, group in zip(axes, groups):
        hand = group[0] in hand_code
        failures += _panel(fig, ax, dframe[dframe["label"].isin(group)], rows, group, hand, show_rows=ax is axes[0])
    title = f"Agreement · {dtype}" + (f" · {failures} FAILED" if failures else " · all passed")
    fig.suptitle(title, fontsize=11, color="#d62728" if failures else "black")
    return Chart("agreement", slugify("agreement", dtype), title, CAPTION, fig)


def _panel(fig, ax, dframe, rows: list[str], labels: list[str], hand: bool, show_rows: bool) -> int:
    """One heatmap with its colour bar; returns how many cells failed."""
    error = np.full((len(rows), len(labels)), np.nan)
    fail = np.zeros_like(error, dtype=bool)
    worst_kind = np.full(error.shape, "", dtype=object)
    dagger = np.zeros_like(error, dtype=bool)
    checked = np.zeros_like(error, dtype=bool)
    tolerances: dict[float, list[str]] = {}  #: the tolerance of each shown value, and what it was against
    for (row, label), g in dframe.groupby(["row", "label"]):
        i, j = rows.index(row), labels.index(label)
        checked[i, j] = True
        fail[i, j] = not bool(g["ok"].all())
        ratio = g["error"] / g["error_tolerance"].where(g["error_tolerance"] > 0, 1.0)
        worst = g[~g["ok"]].iloc[0] if fail[i, j] else (g.loc[ratio.idxmax()] if ratio.notna().any() else None)
        if worst is not None and fail[i, j]:  # what failed: the binding check's error, against its tolerance
            error[i, j], worst_kind[i, j] = worst["rel_error"], worst["kind"]
        elif worst is not None:
            error[i, j], worst_kind[i, j] = worst["error"], worst["kind"]
            dagger[i, j] = not hand and worst["error_reference"] != "hand"
            _note_tolerance(tolerances, worst["error_tolerance"], worst["error_reference"])
    shown = np.log10(np.clip(error, 10.0**LOW, None))
    cmap = matplotlib.colormaps["cividis" if hand else "viridis"].with_extremes(bad="#eeeeee")
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=LOW, vmax=HIGH, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(labels)):
            if math.isnan(error[i, j]) and not fail[i, j]:
                text = "hand only" if checked[i, j] and hand else "—"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="#777777")
                continue
            value = "n/a" if math.isnan(error[i, j]) else ("0" if error[i, j] == 0 else f"{error[i, j]:.0e}")
            value += "†" if dagger[i, j] else ""
            if fail[i, j]:
                ax.add_patch(
                    matplotlib.patches.Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, facecolor="#d62728", edgecolor="black", linewidth=2, zorder=3
                    )
                )
                ax.text(j, i, f"FAIL {worst_kind[i, j]}\n{value}", ha="center", va="center", fontsize=7, zorder=4)
                ax.texts[-1].set(color="white", fontweight="bold")
            else:
                colour = "black" if shown[i, j] > -6 else "white"
                ax.text(j, i, value, ha="center", va="center", fontsize=7.5, color=colour)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="left")
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)), rows if show_rows else [""] * len(rows))
    ax.grid(False)
    against = "finite differences / SymPy" if hand else "the hand derivative"
    if hand:
        ax.set_xlabel("hand code: against\nindependent references", fontsize=8)
    bar = fig.colorbar(image, ax=ax, shrink=0.85, label=f"log10 worst ‖x − y‖ / ‖y‖ vs {against}")
    for tol, names in sorted(tolerances.items()):
        bar.ax.axhline(math.log10(tol), color="#d62728", linewidth=2)
        bar.ax.text(
            -0.3,
            math.log10(tol),
            f"tol. {tol:.0e}\n({', '.join(names)})",
            transform=bar.ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=6.5,
            color="#d62728",
        )
    return int(fail.sum())


def _note_tolerance(tolerances: dict[float, list[str]], tol, reference) -> None:
    if isinstance(tol, float) and math.isfinite(tol) and tol > 0 and reference:
        names = tolerances.setdefault(tol, [])
        if REFERENCE_NAMES.get(reference, reference) not in names:
            names.append(REFERENCE_NAMES.get(reference, reference))
