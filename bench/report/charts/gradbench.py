"""GradBench's workloads (lse, llsq, kmeans, gmm, ode at GradBench's own sizes), drawn as GradBench draws them:
per workload, each framework's derivative time and its derivative/primal ratio.

A workload is a size a problem lists in ``gradbench_sizes``. Per backend the
fastest protocol row of the derivative GradBench asks for (``gradient``) is shown,
as a GradBench tool reports one number per workload.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..analysis import backend_order, is_witness, timed
from .base import Chart, colour, grid, outside_legend, slugify, subtitle, time_axis


def workloads(frame) -> dict[str, list[str]]:
    """``{problem: [size label, ...]}`` of the GradBench workloads present, in the problem's order."""
    import problems

    out = {}
    for name in dict.fromkeys(frame["problem"].dropna()):
        try:
            order = list(getattr(problems.get(str(name)), "gradbench_sizes", ()))
        except KeyError:  # a problem this checkout does not know
            continue
        present = set(frame.loc[frame["problem"] == name, "size"].dropna())
        labels = [s for s in order if s in present]
        if labels:
            out[str(name)] = labels
    return out


def best_rows(frame):
    """Per problem, size, dtype, device and backend: the fastest protocol gradient row and its objective."""
    ok = timed(frame)
    ok = ok[~is_witness(ok)]
    grad = ok[ok["kind"] == "gradient"]
    if grad.empty:
        return grad
    keys = ["problem", "size", "dtype", "device", "backend"]
    best = grad.loc[grad.groupby(keys, dropna=False)["median"].idxmin()]
    return best.reset_index(drop=True)


def charts(context) -> list[Chart]:
    frame = context.frame
    loads = workloads(frame)
    if not loads:
        return []
    best = best_rows(frame)
    if best.empty:
        return []
    out = []
    for (dtype, device), dframe in best.groupby(["dtype", "device"], sort=False, dropna=False):
        problems_here = [p for p in loads if p in set(dframe["problem"])]
        if not problems_here:
            continue
        for what, column, axis_label in (
            ("times", "median", "derivative time (log scale)"),
            ("ratio", "ratio", "derivative / primal time"),
        ):
            nrows, ncols = grid(len(problems_here), 3)
            fig = Figure(figsize=(5.0 * ncols + 1.6, 3.4 * nrows + 0.6), layout="constrained")
            axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
            present = backend_order(dframe["backend"])
            for ax, problem in zip(axes, problems_here):
                labels = loads[problem]
                pframe = dframe[dframe["problem"] == problem]
                x = np.arange(len(labels))
                for backend in present:
                    rows = pframe[pframe["backend"] == backend].set_index("size")
                    y = [float(rows.loc[s, column]) if s in rows.index else np.nan for s in labels]
                    ax.plot(x, y, marker="o", color=colour(backend), linewidth=1.3, markersize=4)
                ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
                ax.set_title(problem)
                ax.set_ylabel(axis_label)
                if what == "times":
                    ax.set_yscale("log")
                    time_axis(ax.yaxis)
                else:
                    ax.axhline(1.0, color="#888888", linewidth=0.8, linestyle=":")
            for ax in axes[len(problems_here) :]:
                ax.set_visible(False)
            handles = [Line2D([], [], color=colour(b), marker="o") for b in present]
            outside_legend(fig, handles, present, title="fastest row of")
            title = (
                f"GradBench workloads: {'derivative time' if what == 'times' else 'derivative / primal'}"
                f" · {subtitle(dtype, device)}"
            )
            fig.suptitle(title, fontsize=11)
            caption = "Each framework's fastest row for the derivative GradBench asks for, per GradBench workload " + (
                "(median time, log scale)."
                if what == "times"
                else "(its time over the objective's: GradBench's own headline view; 1 = the derivative "
                "costs no more than the function)."
            )
            out.append(Chart("gradbench", slugify("gradbench", what, dtype, device), title, caption, fig))
    return out
