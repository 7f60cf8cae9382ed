"""The report's charts, drawn with matplotlib (Agg, no display needed).

Every chart is a function of the report context (see :func:`bench.report.write_report`)
returning :class:`Chart` entries; :func:`draw_all` saves each as PNG (and SVG).
Colours follow the backend (numpy grey, jax blue, torch red, tensorflow orange);
the compiled mode is solid, the eager mode hatched or dashed. Times are seconds
on log axes; legends sit outside the plotting area so they never hide data.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .report import break_even, label_order, scaling_axis

COLOURS = {"article": "#222222", "numpy": "#7f7f7f", "jax": "#1f77b4", "torch": "#d62728", "tensorflow": "#ff7f0e"}
STATUS_COLOURS = {"converged": "#2ca02c", "slow": "#ff7f0e", "diverged": "#d62728"}
RUN_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
RUN_HATCHES = ("", "..", "xx", "oo", "--", "++")
KIND_ORDER = ("objective", "gradient", "hessian", "hvp", "jvp", "vjp", "solve")
TIME_UNITS = ((1e-6, "µs", 1e6), (1e-3, "ms", 1e3), (1.0, "s", 1.0))

matplotlib.rcParams.update({
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "svg.fonttype": "none",
    "axes.grid": True,
    "grid.alpha": 0.3,
})


@dataclass
class Chart:
    group: str  #: one of bench.report.CHART_GROUPS
    slug: str  #: file name without extension
    title: str
    caption: str
    figure: Any = None
    files: dict[str, str] = field(default_factory=dict)  #: format -> path relative to the report folder


# --- helpers ----------------------------------------------------------------------


def slugify(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(str(p) for p in parts if p != "")).strip("-").lower()


def backend_of(series: str) -> str:
    return series.split(" @ ")[0].split("+")[0]


def is_compiled(series: str) -> bool:
    return "+" in series.split(" @ ")[0]


def colour(series: str) -> str:
    return COLOURS.get(backend_of(series), "#9467bd")


def run_index(series: str, runs: list[str]) -> int:
    run = series.partition(" @ ")[2]
    return runs.index(run) if run in runs else 0


def fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "n/a"
    for limit, unit, scale in TIME_UNITS:
        if seconds < limit * 1000 or unit == "s":
            value = seconds * scale
            return f"{value:.3g} {unit}"
    return f"{seconds:.3g} s"


def fmt_n(x: float) -> str:
    """Counts as people write them: 3, 1,000, 86,200, 1.2e6."""
    if not math.isfinite(x):
        return "n/a"
    if x >= 1e6:
        exp = math.floor(math.log10(x))
        mant = x / 10**exp
        return f"{mant:.2g}e{exp}" if round(mant, 1) != 1 else f"1e{exp}"
    if x >= 100:
        return f"{float(f'{x:.3g}'):,.0f}"
    return f"{x:.3g}"


def count_axis(axis) -> None:
    """Tick labels of a log axis of counts as 10, 1,000, 1e6 rather than 10^1."""
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_n(v)))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def series_style(series: str, runs: list[str]) -> dict:
    return {
        "color": colour(series),
        "linestyle": "-" if is_compiled(series) or backend_of(series) in ("numpy", "article") else "--",
        "marker": RUN_MARKERS[run_index(series, runs) % len(RUN_MARKERS)],
        "markerfacecolor": colour(series) if _solid(series) else "white",
    }


def _solid(series: str) -> bool:
    """Compiled modes and the hand-derived rows are drawn solid, eager modes hollow or hatched."""
    return is_compiled(series) or backend_of(series) in ("numpy", "article")


def bar_style(series: str, runs: list[str]) -> dict:
    compiled = is_compiled(series)
    hatch = ("" if compiled or backend_of(series) in ("numpy", "article") else "///")
    hatch += RUN_HATCHES[run_index(series, runs) % len(RUN_HATCHES)]
    base = mcolors.to_rgb(colour(series))
    face = base if compiled or backend_of(series) in ("numpy", "article") else tuple(0.45 + 0.55 * c for c in base)
    return {"color": face, "edgecolor": base, "hatch": hatch, "linewidth": 0.8}


def outside_legend(fig: Figure, handles, labels, title: str | None = None, ncol: int = 1) -> None:
    """A legend to the right of every axes, never on top of data."""
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title=title,
               ncol=ncol)


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(max_cols, max(1, n))
    return math.ceil(n / cols), cols


def _kinds(kinds) -> list[str]:
    kinds = list(dict.fromkeys(kinds))
    return sorted(kinds, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER))


def _size_order(frame) -> list[str]:
    sizes = frame.groupby("size")["n"].max().sort_values(kind="stable")
    return list(sizes.index)


def _runs(context) -> list[str]:
    return [run.tag for run in context["runs"]]


def _subtitle(dtype: str, device: str) -> str:
    return " · ".join(p for p in (dtype, device) if p)


# --- 1. time per backend and mode -------------------------------------------------------


def times(context) -> list[Chart]:
    frame, runs = context["frame"], _runs(context)
    charts = []
    if frame.empty:
        return charts
    for (problem, dtype, device), pframe in frame.groupby(["problem", "dtype", "device"], sort=False):
        for size in _size_order(pframe):
            sframe = pframe[pframe["size"] == size]
            charts.append(_times_chart(problem, size, dtype, device, sframe, runs))
    return charts


def _times_chart(problem, size, dtype, device, frame, runs) -> Chart:
    kinds = _kinds(frame["kind"])
    series = label_order(frame["series"])
    nrows, ncols = _grid(len(kinds))
    height = max(2.2, 0.28 * len(series) + 1.2)
    fig = Figure(figsize=(3.2 * ncols + 1.6, height * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    y = np.arange(len(series))
    for ax, kind in zip(axes, kinds):
        rows = frame[frame["kind"] == kind].set_index("series")
        ok = rows[(rows["status"] == "ok") & rows["median"].notna()]
        best = ok["median"].idxmin() if len(ok) else None
        lo_all = []
        for i, s in enumerate(series):
            if s not in rows.index:
                if backend_of(s) == "article":
                    continue  # the article's own loop exists for ``solve`` only
                ax.text(0.02, i, "not measured", transform=ax.get_yaxis_transform(), va="center", fontsize=7,
                        color="#999999")
                continue
            row = rows.loc[s]
            if isinstance(row, type(rows)):
                row = row.iloc[0]
            if row["status"] != "ok" or not math.isfinite(row["median"]):
                ax.text(0.02, i, f"✗ {row['status']}", transform=ax.get_yaxis_transform(), va="center",
                        fontsize=8, color="#d62728", fontweight="bold")
                continue
            med, iqr = float(row["median"]), float(row["iqr"]) if math.isfinite(row["iqr"]) else 0.0
            lo, hi = max(med - iqr / 2, med * 0.05), med + iqr / 2
            lo_all.append(lo)
            ax.barh(i, med, height=0.7, **bar_style(s, runs))
            ax.errorbar(med, i, xerr=[[med - lo], [hi - med]], fmt="none", ecolor="black", elinewidth=1, capsize=2)
            if s == best:
                ax.text(hi * 1.15, i, "★ fastest", va="center", fontsize=7.5, fontweight="bold")
            elif best is not None:
                ax.text(hi * 1.15, i, f"×{med / ok.loc[best, 'median']:.3g}", va="center", fontsize=7.5)
        ax.set_xscale("log")
        ax.set_title(kind)
        ax.set_xlabel("median time (s), log scale")
        if lo_all:
            left = min(lo_all) / 3
            right = float(ok["median"].max() + ok["iqr"].fillna(0).max()) * 12
            ax.set_xlim(left, right)
        ax.grid(axis="y", visible=False)
    for ax in axes[len(kinds):]:
        ax.set_visible(False)
    axes[0].set_yticks(y, series)
    axes[0].set_ylim(len(series) - 0.5, -0.5)
    first = frame.iloc[0]
    n, n_params = first["n"], first["n_params"]
    detail = f"n={fmt_n(n)}" + (f", {fmt_n(n_params)} parameters" if math.isfinite(n_params) else "")
    title = f"{problem} · {size} ({detail}) · {_subtitle(dtype, device)}"
    fig.suptitle(title, fontsize=11)
    return Chart("times", slugify("times", problem, size, dtype, device), title,
                 "Median time of one call per backend and mode, log scale; whiskers span the interquartile range "
                 "(IQR) centred on the median. ★ marks the fastest; ×k is how many times slower than the fastest. "
                 "Hatched bars are eager modes, solid bars compiled (numpy: hand-derived).", fig)


# --- 2. scaling ---------------------------------------------------------------------------


def scaling(context) -> list[Chart]:
    frame, runs = context["frame"], _runs(context)
    slopes, crossings = context["scaling"]
    charts = []
    ok = frame[(frame["status"] == "ok") & frame["median"].notna()]
    for (problem, dtype, device), pframe in ok.groupby(["problem", "dtype", "device"], sort=False):
        if pframe["size"].nunique() < 2:
            continue
        column, unit = scaling_axis(frame[frame["problem"] == problem])
        kinds = [k for k in _kinds(pframe["kind"]) if pframe[pframe["kind"] == k]["size"].nunique() >= 2]
        if not kinds:
            continue
        nrows, ncols = _grid(len(kinds), 3)
        n_series = pframe["series"].nunique()
        fig = Figure(figsize=(4.3 * ncols + 0.4, (3.2 + 0.16 * n_series) * nrows + 0.5), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        handles: dict[str, Any] = {}
        for ax, kind in zip(axes, kinds):
            kframe = pframe[pframe["kind"] == kind]
            for s in label_order(kframe["series"]):
                rows = kframe[kframe["series"] == s].dropna(subset=[column]).groupby(column)["median"].median()
                if rows.empty:
                    continue
                slope = next((r["slope"] for r in slopes if r["problem"] == problem and r["dtype"] == dtype
                              and r["device"] == device and r["kind"] == kind and r["series"] == s), math.nan)
                line, = ax.plot(rows.index, rows.values, **series_style(s, runs), markersize=4, linewidth=1.4,
                                label=f"{s}: slope {slope:.2f}" if math.isfinite(slope) else s)
                handles.setdefault(s, line)
            marks = _winner_changes([c for c in crossings if c["problem"] == problem and c["dtype"] == dtype
                                     and c["device"] == device and c["kind"] == kind], kframe, column)
            for c in marks:
                ax.axvline(c["x"], color="#444444", linestyle=":", linewidth=1)
                ax.plot([c["x"]], [c["time"]], marker="X", color="black", markersize=7, zorder=5)
                ax.text(c["x"], 0.98, f" {c['winner']} overtakes\n {c['loser']} ≈ {fmt_n(c['x'])}",
                        transform=ax.get_xaxis_transform(), fontsize=6.5, va="top", ha="left",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#999999", "alpha": 0.7})
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
            ax.legend(lines, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False,
                      fontsize=7, title="fitted log-log slope", title_fontsize=7)
        for ax in axes[len(kinds):]:
            ax.set_visible(False)
        title = f"Scaling: {problem} · {_subtitle(dtype, device)}"
        fig.suptitle(title, fontsize=11)
        charts.append(Chart("scaling", slugify("scaling", problem, dtype, device), title,
                            f"Median time against {unit}, log-log, one line per backend and mode (dashed, hollow: eager). "
                            "The legend under each panel gives each line's fitted log-log slope (1 = linear). ✕ marks where the fastest series changes "
                            "(one backend overtakes another); every crossing is listed in the report's table.", fig))
    return charts


def _winner_changes(crossings: list[dict], kframe, column) -> list[dict]:
    """The crossings that change which series is fastest overall."""
    best = kframe.sort_values("median").groupby(column, sort=True).first()["series"]
    out = []
    xs = list(best.index)
    for k in range(len(xs) - 1):
        a, b = best.iloc[k], best.iloc[k + 1]
        if a == b:
            continue
        for c in crossings:
            if {c["winner"], c["loser"]} == {a, b} and c["winner"] == b and xs[k] <= c["x"] <= xs[k + 1]:
                out.append(c)
                break
    return out


# --- 3. derivative / objective ratio ------------------------------------------------------------


def ratio(context) -> list[Chart]:
    frame = context["frame"]
    ok = frame[(frame["status"] == "ok") & frame["ratio"].notna() & (frame["kind"] != "objective")]
    charts = []
    for (dtype, device), dframe in ok.groupby(["dtype", "device"], sort=False):
        for kind in [k for k in _kinds(dframe["kind"]) if k in ("gradient", "hvp", "vjp", "jvp", "hessian")]:
            kframe = dframe[dframe["kind"] == kind]
            probs = list(dict.fromkeys(kframe["problem"]))
            nrows, ncols = _grid(len(probs), 4)
            series = label_order(kframe["series"])
            fig = Figure(figsize=(max(3.4, 0.38 * len(series) + 1.2) * ncols + 1.8, 3.0 * nrows + 0.6),
                         layout="constrained")
            axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
            shades = {}
            for ax, problem in zip(axes, probs):
                pframe = kframe[kframe["problem"] == problem]
                sizes = _size_order(pframe)
                width = 0.8 / max(1, len(sizes))
                for j, size in enumerate(sizes):
                    rows = pframe[pframe["size"] == size].set_index("series")
                    alpha = 0.35 + 0.65 * (j + 1) / len(sizes)
                    for i, s in enumerate(series):
                        if s in rows.index:
                            value = float(np.atleast_1d(rows.loc[s, "ratio"])[0])
                            ax.bar(i - 0.4 + width * (j + 0.5), value, width=width * 0.95, color=colour(s),
                                   alpha=alpha, edgecolor="black", linewidth=0.4)
                    shades[size] = alpha
                ax.axhspan(1e-3, 5, color="#2ca02c", alpha=0.07, zorder=0)
                ax.axhline(1, color="black", linewidth=0.8)
                ax.axhline(5, color="#2ca02c", linestyle="--", linewidth=1)
                ax.set_yscale("log")
                ax.set_xticks(range(len(series)), series, rotation=45, ha="right")
                ax.set_title(problem)
                ax.set_xlabel("bars per backend: " + ", ".join(sizes), fontsize=7)
                ax.set_ylabel(f"{kind} time / objective time")
                top = max(10.0, float(pframe["ratio"].max()) * 2)
                bottom = min(0.5, float(pframe["ratio"].min()) / 2)
                ax.set_ylim(bottom, top)
            for ax in axes[len(probs):]:
                ax.set_visible(False)
            handles = [Patch(color="black", alpha=0.45, label="smaller size (lighter bar)"),
                       Patch(color="black", alpha=1.0, label="larger size (darker bar)")]
            handles += [Line2D([], [], color="#2ca02c", linestyle="--", label="5× objective (cheap-gradient bound)")]
            outside_legend(fig, handles, [h.get_label() for h in handles])
            title = f"{kind} / objective time ratio · {_subtitle(dtype, device)}"
            fig.suptitle(title, fontsize=11)
            charts.append(Chart("ratio", slugify("ratio", kind, dtype, device), title,
                                f"Median {kind} time over the median objective time of the same backend, mode and "
                                "size (log scale; darker bars are larger sizes). Reverse mode should stay within a "
                                "small constant factor of the objective (the shaded band, up to 5×) at every size.",
                                fig))
    return charts


# --- 4. first call against steady state ----------------------------------------------------------


def compile_cost(context) -> list[Chart]:
    frame, runs = context["frame"], _runs(context)
    ok = frame[(frame["status"] == "ok") & frame["median"].notna() & frame["first_call"].notna()]
    charts = []
    if not ok.empty:
        fig = Figure(figsize=(8.2, 5.0), layout="constrained")
        ax = fig.subplots()
        for s in label_order(ok["series"]):
            rows = ok[ok["series"] == s]
            style = series_style(s, runs)
            ax.scatter(rows["median"], rows["first_call"], s=22, marker=style["marker"], label=s,
                       facecolors=colour(s) if is_compiled(s) or backend_of(s) in ("numpy", "article") else "white",
                       edgecolors=colour(s), linewidths=1.0)
        lo = float(min(ok["median"].min(), ok["first_call"].min())) / 2
        hi = float(max(ok["median"].max(), ok["first_call"].max())) * 2
        grid = np.array([lo, hi])
        for factor, text in ((1, "first = steady"), (10, "10×"), (100, "100×"), (1000, "1000×")):
            ax.plot(grid, grid * factor, color="#888888", linewidth=0.7, linestyle="-" if factor == 1 else ":")
            x_at = min(hi / factor, hi) / 1.5
            if x_at > lo:
                ax.text(x_at, x_at * factor, text, fontsize=7, color="#666666", ha="right", va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi * 10)
        ax.set_xlabel("steady-state median time per call (s, log)")
        ax.set_ylabel("first call time, incl. tracing/compilation (s, log)")
        handles, labels = ax.get_legend_handles_labels()
        outside_legend(fig, handles, labels, title="series (filled: compiled)")
        title = "First call against steady state"
        fig.suptitle(title, fontsize=11)
        charts.append(Chart("compile", "compile-first-call", title,
                            "Each point is one cell (problem, size, kind). Distance above the grey diagonal is the "
                            "one-off cost of the first call: tracing and compilation for jit/compile/function modes.",
                            fig))
    rows = break_even(frame)
    if rows:
        charts.append(_break_even_chart(rows))
    return charts


def _break_even_chart(rows: list[dict]) -> Chart:
    import pandas as pd

    table = pd.DataFrame(rows)
    several = table["run"].nunique() > 1
    table["row"] = table["problem"] + " · " + table["size"] + (" · " + table["dtype"] if table["dtype"].nunique() > 1
                                                                else "") + (" @ " + table["run"] if several else "")
    table = table.sort_values(["problem", "n"])
    present = set(table["kind"])
    kinds = [k for k in ("objective", "gradient", "solve") if k in present] or _kinds(present)[:3]
    table = table[table["kind"].isin(kinds)]
    backends = list(dict.fromkeys(table["backend"]))
    cols = [(b, k) for b in backends for k in kinds]
    row_names = list(dict.fromkeys(table["row"]))
    values = np.full((len(row_names), len(cols)), np.nan)
    for r in table.itertuples():
        if (r.backend, r.kind) in cols:
            values[row_names.index(r.row), cols.index((r.backend, r.kind))] = r.calls
    fig = Figure(figsize=(1.15 * len(cols) + 3.6, 0.3 * len(row_names) + 1.8), layout="constrained")
    ax = fig.subplots()
    finite = np.where(np.isfinite(values), values, np.nan)
    shown = np.log10(np.clip(finite, 1, None))
    vmax = max(1.0, float(np.nanmax(shown))) if np.isfinite(shown).any() else 1.0
    cmap = matplotlib.colormaps["YlOrRd"].with_extremes(bad="#e8e8e8")
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    for i in range(len(row_names)):
        for j in range(len(cols)):
            v = values[i, j]
            text = "—" if np.isnan(v) else ("never" if np.isinf(v) else f"{int(v):,}")
            dark = np.isfinite(v) and math.log10(max(v, 1)) > 0.6 * vmax
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5, color="white" if dark else "black",
                    fontweight="bold" if np.isinf(v) else "normal")
    ax.set_xticks(range(len(cols)), [f"{b}\n{k}" for b, k in cols])
    ax.set_yticks(range(len(row_names)), row_names)
    ax.grid(False)
    ax.xaxis.tick_top()
    fig.colorbar(image, ax=ax, label="calls until compiling pays off (log10)", shrink=0.8)
    title = "Calls after which compiling pays off"
    fig.suptitle(title, fontsize=11)
    return Chart("compile", "compile-break-even", title,
                 "Number of calls k from which the compiled mode's total time (first call + (k-1) steady calls) "
                 "is below the eager mode's, for the objective, the gradient and the whole solve (every kind is in "
                 "the table below). 'never': the compiled mode is not faster in steady state; '—': not measured "
                 "in both modes.", fig)


# --- 5. agreement heatmap --------------------------------------------------------------------------


def agreement(context) -> list[Chart]:
    table = context["agreement"]
    charts = []
    if table is None or table.empty:
        return charts
    several = table["run"].nunique() > 1
    for dtype, dframe in table.groupby("dtype", sort=False):
        dframe = dframe.copy()
        dframe["row"] = dframe["problem"] + (" @ " + dframe["run"] if several else "")
        rows = list(dict.fromkeys(dframe["row"]))
        labels = label_order(dframe["label"])
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
                worst = g[~g["ok"]].iloc[0] if (~g["ok"]).any() else worst
            worst_kind[i, j] = worst["kind"]
            not_hand[i, j] = (g["reference"] != "hand").any()
        fig = Figure(figsize=(1.05 * len(labels) + 3.4, max(3.4, 0.5 * len(rows) + 1.9)), layout="constrained")
        ax = fig.subplots()
        shown = np.log10(np.clip(np.nan_to_num(rho, nan=np.nan), 1e-17, None))
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
                    ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="#d62728",
                                                              edgecolor="black", linewidth=2, zorder=3))
                    ax.text(j, i, f"FAIL {worst_kind[i, j]}\n{value}{mark}", ha="center", va="center",
                            fontsize=7, color="white", fontweight="bold", zorder=4)
                else:
                    light = shown[i, j] > -6
                    ax.text(j, i, f"{value}{mark}", ha="center", va="center", fontsize=7.5,
                            color="black" if light else "white")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="left")
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(rows)), rows)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="log10 worst ρ vs hand", shrink=0.85)
        failures = int(fail.sum())
        title = f"Agreement · {dtype}" + (f" · {failures} FAILED" if failures else " · all passed")
        fig.suptitle(title, fontsize=11, color="#d62728" if failures else "black")
        charts.append(Chart("agreement", slugify("agreement", dtype), title,
                            "Worst ρ(x, y) = |x − y| / max(1, |x| + |y|) over every entry and derivative kind, "
                            "against the hand-derived derivative (darker is closer; 0: identical). Red cells FAILED "
                            "their tolerance and name the failing kind. † : no hand derivative, ρ against the "
                            "binding reference (finite differences or SymPy).", fig))
    return charts


# --- 6. the article's pictures ----------------------------------------------------------------------


def _article_docs(context) -> list[tuple[str, dict]]:
    """(name, document) for every article file; names gain `` @ run`` with several runs."""
    several = len(context["runs"]) > 1
    out = []
    for run in context["runs"]:
        for backend in label_order(run.article):
            out.append((f"{backend} @ {run.tag}" if several else backend, run.article[backend]))
    return out


def _finite(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def article(context) -> list[Chart]:
    docs = _article_docs(context)
    if not docs:
        return []
    charts = []
    for builder in (_cost_history, _lr_sweep, _fd_steps, _derivatives):
        chart = builder(docs, _runs(context))
        if chart is not None:
            charts.append(chart)
    return charts


def _cost_history(docs, runs) -> Chart | None:
    items = [(n, d["pictures"]["cost_history"]) for n, d in docs if "cost_history" in d["pictures"]]
    if not items:
        return None
    fig = Figure(figsize=(10.5, 3.8), layout="constrained")
    ax, diff_ax = fig.subplots(1, 2)
    ref_source = next((n for n, _ in items if backend_of(n) == "numpy"), items[0][0])
    reference = _finite(dict(items)[ref_source]["history"])
    ref_name = f"{ref_source} (hand)" if backend_of(ref_source) == "numpy" else ref_source
    handles = []
    for k, (name, pic) in enumerate(items):
        history = _finite(pic["history"])
        steps = np.arange(1, len(history) + 1)
        line, = ax.plot(steps, history, color=colour(name), linewidth=2.2 - 0.4 * k, linestyle=("-", "--", ":",
                        "-.")[k % 4], label=name)
        handles.append(line)
        if name != ref_source and len(history) == len(reference):
            diff = np.abs(history - reference)
            worst = float(np.nanmax(diff)) if np.isfinite(diff).any() else math.nan
            text = "identical at every step" if worst == 0 else f"at most {worst:.1e}"
            diff_ax.plot(steps, np.where(diff > 0, diff, np.nan), color=colour(name), linewidth=1.0,
                         marker=".", markersize=2, linestyle=("-", "--", ":", "-.")[k % 4], label=f"{name}: {text}")
    pic = items[0][1]
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost J(θ) = MSE / 2 (log)")
    ax.set_title(f"Cost history: linear regression, rate {pic.get('rate')}, {pic.get('iterations')} steps")
    diff_ax.set_yscale("log")
    diff_ax.set_ylim(1e-20, 1e-10)
    diff_ax.axhline(2.2e-16, color="#888888", linestyle=":", linewidth=0.8)
    diff_ax.text(0.99, 2.6e-16, "float64 machine epsilon", fontsize=7, color="#666666", ha="right",
                 transform=diff_ax.get_yaxis_transform())
    diff_ax.set_title(f"|cost − cost of {ref_name}| per iteration")
    diff_ax.set_xlabel("iteration")
    diff_ax.set_ylabel("absolute difference (log; gaps: exactly equal)")
    if diff_ax.get_legend_handles_labels()[0]:
        diff_ax.legend(loc="upper right", fontsize=7, title="largest difference", title_fontsize=7)
    outside_legend(fig, handles, [h.get_label() for h in handles], title="backend")
    finals = ", ".join(f"{n}: θ = [{', '.join(f'{v:.8f}' for v in np.ravel(p.get('params', [[]])[0]))}]"
                       for n, p in items[:2])
    return Chart("article", "article-cost-history", "Cost history of gradient descent, every backend",
                 "The article's linear regression (three points, rate 0.01, 1000 steps) run by each backend's own "
                 f"gradient step; every backend's curve lies on top of the others (right: their differences). {finals}.",
                 fig)


def _lr_sweep(docs, runs) -> Chart | None:
    items = [(n, d["pictures"]["lr_sweep"]) for n, d in docs if "lr_sweep" in d["pictures"]]
    if not items:
        return None
    name, pic = next(((n, p) for n, p in items if backend_of(n) == "numpy"), items[0])
    records = pic["records"]
    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    ax = fig.subplots()
    handles = []
    rate_styles = ("-", "--", "-.", ":")
    by_status: dict[str, int] = {}
    for r in records:
        history = _finite(r["history"])
        k = by_status.get(r["status"], 0)
        by_status[r["status"]] = k + 1
        line, = ax.plot(np.arange(len(history)), np.clip(history, 1e-17, None),
                        color=STATUS_COLOURS.get(r["status"], "#9467bd"), linestyle=rate_styles[k % 4],
                        linewidth=1.6, label=f"η = {r['rate']:g}: {r['status']}")
        handles.append(line)
    ax.set_yscale("log")
    ax.set_xlabel("gradient descent step")
    ax.set_ylabel("distance to the minimum |w − w*| (log)")
    ax.set_title(f"Learning-rate sweep on the quadratic ({name})")
    ax.axhline(1e-6, color="#888888", linestyle=":", linewidth=0.8)
    ax.text(0, 1.4e-6, "tolerance", fontsize=7, color="#666666")
    outside_legend(fig, handles, [h.get_label() for h in handles], title="learning rate")
    # How far apart the backends' sweeps are.
    spread = 0.0
    for _, other in items:
        for a, b in zip(records, other["records"]):
            ha, hb = _finite(a["history"]), _finite(b["history"])
            if len(ha) == len(hb):
                d = np.abs(ha - hb)
                d = d[np.isfinite(d)]
                spread = max(spread, float(d.max()) if d.size else 0.0)
    others = ", ".join(n for n, _ in items if n != name)
    agree = f" The sweeps of {others} differ from it by at most {spread:.1e}." if others else ""
    return Chart("article", "article-lr-sweep", "Learning-rate sweep: converged, slow, diverged",
                 "Gradient descent on L(w) = w² − 4w + 4 from w = 0 at each learning rate η: green converged, "
                 f"orange slow, red diverged (oscillating or blowing up; capped). Drawn from {name}.{agree}", fig)


def _fd_steps(docs, runs) -> Chart | None:
    items = [(n, d["pictures"]["fd_steps"]) for n, d in docs if "fd_steps" in d["pictures"]]
    if not items:
        return None
    _, pic = items[0]
    records = pic["records"]
    functions = list(dict.fromkeys(r["function"] for r in records))
    nrows, ncols = _grid(len(functions), 3)
    fig = Figure(figsize=(3.6 * ncols + 2.2, 2.9 * nrows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharex=True)).ravel()
    method_style = {"forward": ("#1f77b4", "o"), "central": ("#d62728", "s")}
    autodiff = {}
    for name, p in items:
        for r in p["records"]:
            if r["method"] == "autodiff" and r.get("h") is None:
                autodiff.setdefault(r["function"], []).append((name, r["error"]))
    for ax, fn in zip(axes, functions):
        for method, (c, m) in method_style.items():
            rows = sorted((r for r in records if r["function"] == fn and r["method"] == method and r.get("h")),
                          key=lambda r: r["h"])
            if not rows:
                continue
            h = np.array([r["h"] for r in rows])
            err = np.clip(_finite([r["error"] for r in rows]), 1e-17, None)
            ax.plot(h, err, color=c, marker=m, markersize=3, linewidth=1.2, label=method)
            best = int(np.nanargmin(err))
            ax.plot(h[best], err[best], marker="*", color="black", markersize=11, zorder=5)
            ax.annotate(f"best h={h[best]:.0e}", (h[best], err[best]), xytext=(3, -11 if method == "central" else 6),
                        textcoords="offset points", fontsize=6.5, color=c)
        errs = [e for _, e in autodiff.get(fn, []) if e is not None]
        if errs:
            worst = max(errs)
            ax.axhline(max(worst, 1e-17), color="#2ca02c", linestyle="--", linewidth=1)
            ax.text(0.02, 0.04, f"autodiff error ≤ {worst:.0e}" if worst else "autodiff: exact (0)",
                    transform=ax.transAxes, fontsize=7, color="#2ca02c")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"f(x) = {fn}")
        ax.set_xlabel("step h (log)")
        ax.set_ylabel("|error| (log)")
    for ax in axes[len(functions):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=c, marker=m, label=f"{meth} difference") for meth, (c, m) in method_style.items()]
    handles += [Line2D([], [], marker="*", color="black", linestyle="", markersize=10, label="best step"),
                Line2D([], [], color="#2ca02c", linestyle="--", label="autodiff (worst backend)")]
    outside_legend(fig, handles, [h.get_label() for h in handles])
    fig.suptitle("Finite differences: error against step h", fontsize=11)
    return Chart("article", "article-fd-steps", "Finite-difference error against step h",
                 "Error of the forward (x+h) and central (x±h) differences against the exact derivative (SymPy) "
                 "for each of the article's functions. Truncation error falls with h (slope 1 forward, 2 central) "
                 "until rounding error takes over; ★ marks the best step. Autodiff has no step and no truncation "
                 "error.", fig)


def _derivatives(docs, runs) -> Chart | None:
    items = [(n, d["pictures"]["derivatives"]) for n, d in docs if "derivatives" in d["pictures"]]
    if not items:
        return None
    _, pic = items[0]
    x = np.array(pic["x"], dtype=float)
    fine = np.linspace(x.min(), x.max(), 400)
    fig = Figure(figsize=(9.5, 4.6), layout="constrained")
    ax = fig.subplots()
    curves = (("f", fine**3 - 3 * fine**2 + 2, f"f(x) = {pic['function']}", "#222222"),
              ("df", 3 * fine**2 - 6 * fine, f"f′(x) = {pic['first']}", "#8c564b"),
              ("d2f", 6 * fine - 6, f"f″(x) = {pic['second']}", "#17becf"))
    handles = []
    for key, y, label, c in curves:
        line, = ax.plot(fine, y, color=c, linewidth=1.6, label=f"{label} (exact)", zorder=1)
        handles.append(line)
    markers = ("o", "s", "^", "D", "v", "P")
    step = max(3, len(items))  # every backend on its own grid points
    for k, (name, p) in enumerate(items):
        for key, _, _, _ in curves[1:]:
            ax.plot(x[k % step::step], _finite(p[key])[k % step::step], linestyle="", marker=markers[k % 6],
                    markersize=4.5, markerfacecolor="none", markeredgecolor=colour(name))
        handles.append(Line2D([], [], linestyle="", marker=markers[k % 6], markerfacecolor="none",
                              markeredgecolor=colour(name), label=f"{name}: f′ and f″ from its derivative verbs"))
    for crit in pic.get("critical", []):
        cx = float(crit["x"])
        cy = cx**3 - 3 * cx**2 + 2
        ax.plot([cx], [cy], marker="*", markersize=13, color="#2ca02c" if crit["kind"] == "minimum" else "#9467bd",
                zorder=5)
        ax.annotate(f"f′=0, f″{'>' if crit['kind'] == 'minimum' else '<'}0: local {crit['kind']}", (cx, cy),
                    xytext=(8, 10 if crit["kind"] == "maximum" else -16), textcoords="offset points", fontsize=8)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("value")
    ax.set_ylim(-30, 30)
    ax.set_title("A function with its first and second derivatives")
    outside_legend(fig, handles, [h.get_label() for h in handles])
    return Chart("article", "article-derivatives", "f(x) = x³ − 3x² + 2 with f′ and f″",
                 "Lines: the exact derivatives. Markers: f′ from each backend's value_and_grad and f″ from its "
                 "Hessian-vector product, on a grid (a few points shown per backend). Stars: the critical points, "
                 "classified by the sign of f″.", fig)


# --- --compare ------------------------------------------------------------------------------------


def compare(context) -> list[Chart]:
    table = context.get("compare")
    if table is None or table.empty:
        return []
    timed = table[table["median"].notna() & table["median_before"].notna()]
    if timed.empty:
        return []
    labels = label_order(timed["label"])
    fig = Figure(figsize=(9.0, 0.42 * len(labels) + 1.8), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    colours = {"slower": "#d62728", "faster": "#2ca02c", "": "#aaaaaa", "status": "#9467bd"}
    for i, label in enumerate(labels):
        rows = timed[timed["label"] == label]
        ratio = (rows["median"] / rows["median_before"]).to_numpy()
        jitter = rng.uniform(-0.25, 0.25, len(rows))
        for flag in ("", "faster", "slower", "status"):
            sel = (rows["flag"] == flag).to_numpy()
            if sel.any():
                ax.scatter(ratio[sel], i + jitter[sel], s=18 if flag else 10, color=colours[flag],
                           edgecolors="black" if flag else "none", linewidths=0.4, zorder=3 if flag else 2)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    finite = np.abs(np.log10((timed["median"] / timed["median_before"]).to_numpy()))
    span = max(math.log10(1.25), float(np.nanmax(finite)) * 1.25 if finite.size else 0.1)
    ax.set_xlim(10**-span, 10**span)
    ticks = [t for t in (0.01, 0.1, 0.2, 0.5, 0.67, 0.8, 0.9, 0.95, 1, 1.05, 1.1, 1.25, 1.5, 2, 5, 10, 100)
             if 10**-span <= t <= 10**span]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v - 1:+.0%}" if v != 1 else "0"))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("change of the median time (log scale; right = slower, left = faster)")
    handles = [Line2D([], [], marker="o", linestyle="", color=colours[f], label=text) for f, text in
               (("slower", "slower, beyond noise"), ("faster", "faster, beyond noise"), ("", "within noise"),
                ("status", "status changed"))]
    outside_legend(fig, handles, [h.get_label() for h in handles])
    baseline = context["baseline"].tag if context.get("baseline") else "baseline"
    flagged = int((table["flag"] != "").sum())
    title = f"Change against {baseline}: {flagged} of {len(table)} cells beyond the noise"
    fig.suptitle(title, fontsize=11)
    return [Chart("compare", "compare", title,
                  "Each point is one cell (problem, size, kind) of this backend and mode. The noise of a cell is its "
                  "relative IQR in both runs combined; coloured points changed by more than that.", fig)]


# --- drawing --------------------------------------------------------------------------------------


BUILDERS: dict[str, Callable[[dict], list[Chart]]] = {
    "times": times,
    "scaling": scaling,
    "ratio": ratio,
    "compile": compile_cost,
    "agreement": agreement,
    "article": article,
    "compare": compare,
}


def draw_all(context, folder: Path, formats=("png", "svg"), dpi: int = 100, only=None,
             select: list[str] | None = None) -> list[Chart]:
    """Draw every chart group (or those in ``only``; or the charts whose file name matches
    a pattern in ``select``), save them under ``folder``; return the charts."""
    folder.mkdir(parents=True, exist_ok=True)
    charts: list[Chart] = []
    for group, build in BUILDERS.items():
        if only and group not in only:
            continue
        for chart in build(context):
            if select and not any(fnmatch.fnmatchcase(chart.slug, pattern) for pattern in select):
                continue
            for fmt in formats:
                path = folder / f"{chart.slug}.{fmt}"
                chart.figure.savefig(path, dpi=dpi, bbox_inches="tight", metadata=_metadata(fmt))
                if fmt == "png":
                    compact_png(path)
                chart.files[fmt] = f"{folder.name}/{path.name}"
            chart.figure = None  # free the memory
            charts.append(chart)
    return charts


def compact_png(path: Path) -> None:
    """Rewrite a chart PNG with a 256-colour palette: about a third of the size, no visible change."""
    from PIL import Image  # matplotlib's own dependency

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                dither=Image.Dither.NONE)
    palette.save(path, format="PNG", optimize=True)


def _metadata(fmt: str) -> dict:
    # No creation date: the same run gives byte-identical charts.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": None}
    return {}
