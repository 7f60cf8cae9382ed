"""The history's charts: each step among the worst few, as its cell's medians over the runs, and per
machine every cell's median over the runs relative to its own typical level. The x axis is the
machine's runs in date order, each labelled with its date, commit and the versions that changed."""

from __future__ import annotations

import math
import statistics

import matplotlib.ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report.charts.base import Chart, colour, outside_legend, slugify, time_axis
from bench.report.charts.compare import _percent, ticks

from .model import History, Series, Step, Timeline

STEP_COLOURS = {"slower": "#d62728", "faster": "#2ca02c"}
#: at most this many cells get a legend entry in a machine's overview
MAX_LEGEND = 14


def _runs_axis(ax, timeline: Timeline) -> None:
    n = len(timeline.runs)
    ax.set_xticks(range(n), [timeline.label(i) for i in range(n)], rotation=90, fontsize=7)
    ax.set_xlim(-0.5, n - 0.5)
    ax.grid(axis="x", alpha=0.15)


def _errorbars(ax, series: Series, scale: float, colour_of_point: str, label: str | None = None) -> None:
    for stable in (True, False):
        xs = [i for i, p in enumerate(series.points) if p is not None and series.stable[i] is stable]
        if not xs:
            continue
        ys, lows, highs = [], [], []
        for i in xs:
            p = series.points[i]
            assert p is not None
            ys.append(p.value / scale)
            bounded = p.bounded
            lows.append(p.value / scale - p.lo / scale if bounded else 0.0)
            highs.append(p.hi / scale - p.value / scale if bounded else 0.0)
        ax.errorbar(
            xs,
            ys,
            yerr=[lows, highs],
            fmt="o",
            markersize=4,
            capsize=2,
            color=colour_of_point if stable else "#999999",
            markerfacecolor=colour_of_point if stable else "white",
            label=label if stable else None,
            zorder=3,
        )


def step_chart(step: Step, timeline: Timeline, rank: int) -> Chart:
    series, found = step.series, step.found
    fig = Figure(figsize=(max(6.0, 0.45 * len(timeline.runs) + 3), 4.6), layout="constrained")
    ax = fig.subplots()
    _errorbars(ax, series, 1.0, colour(str(series.cell["backend"])))
    n = len(timeline.runs)
    for lo, hi, lev in (
        (_start(series, step), step.before + 0.5, found.before),
        (step.at - 0.5, _end(series, step, n), found.after),
    ):
        ax.hlines(
            lev.value, lo, hi, color=STEP_COLOURS[found.verdict] if lev is found.after else "#444444", linewidth=1.5
        )
        ax.fill_between([lo, hi], lev.lo, lev.hi, color="#888888", alpha=0.15, linewidth=0)
    ax.axvline((step.before + step.at) / 2, color=STEP_COLOURS[found.verdict], linestyle="--", linewidth=1)
    time_axis(ax.yaxis)
    ax.set_ylabel("median time of one call (95% interval)")
    _runs_axis(ax, timeline)
    c = found.change
    title = f"{series.name}: {found.verdict} {c.value - 1:+.1%} ({c.lo - 1:+.1%} to {c.hi - 1:+.1%})"
    fig.suptitle(f"{title} · {series.machine}", fontsize=10)
    caption = (
        "Each point is the cell's median in one run with its 95% interval (hollow grey: a run where the cell gives "
        "no verdict, left out of the step search). The lines are the levels before and after the step (the median "
        "of the runs' medians) with their bands; the dashed line marks the step."
    )
    slug = slugify(
        "history-step", rank, series.machine, *(series.cell[k] for k in ("problem", "size", "kind", "label"))
    )
    return Chart("history-step", slug, title, caption, fig)


def _start(series: Series, step: Step) -> float:
    earlier = [s.at for s in series.steps if s.at < step.at]
    return (max(earlier) - 0.5) if earlier else -0.5


def _end(series: Series, step: Step, n: int) -> float:
    later = [s.before for s in series.steps if s.at > step.at]
    return (min(later) + 0.5) if later else n - 0.5


def overview_chart(history: History, timeline: Timeline) -> Chart | None:
    """Every cell of one machine: its medians over the runs divided by its first level (:func:`_start_level`)."""
    series = [s for s in history.series if s.machine == timeline.machine]
    if not series:
        return None
    fig = Figure(figsize=(max(7.0, 0.45 * len(timeline.runs) + 4), 5.0), layout="constrained")
    ax = fig.subplots()
    handles: list[Line2D] = []
    labels: list[str] = []
    few = len(series) <= MAX_LEGEND
    for s in series:
        typical = _start_level(s)
        if typical is None:
            continue
        shown = few or bool(s.steps)  #: in colour with its intervals; else a faint grey line
        shade = colour(str(s.cell["backend"])) if shown else "#bbbbbb"
        xs = [i for i, p in enumerate(s.points) if p is not None]
        ys = [s.points[i].value / typical for i in xs]  # type: ignore[union-attr]
        ax.plot(xs, ys, color=shade, linewidth=0.8, alpha=0.6 if shown else 0.35, zorder=2 if shown else 1)
        if not shown:
            continue
        _errorbars(ax, s, typical, shade)
        for step in s.steps:
            p = s.points[step.at]
            assert p is not None
            ax.scatter(
                [step.at],
                [p.value / typical],
                s=90,
                facecolors="none",
                edgecolors=STEP_COLOURS[step.found.verdict],
                linewidths=1.6,
                zorder=4,
            )
        if len(handles) < MAX_LEGEND:
            handles.append(Line2D([], [], color=shade, marker="o", markersize=4))
            labels.append(s.name)
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    span = max(abs(math.log10(low)), abs(math.log10(high)), math.log10(1.25))
    ax.set_ylim(10**-span, 10**span)
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks(span)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_percent))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_ylabel("change against the cell's first level (log scale)")
    _runs_axis(ax, timeline)
    for verdict, shade in STEP_COLOURS.items():
        handles.append(
            Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor=shade, markersize=9)
        )
        labels.append(f"step: {verdict}")
    outside_legend(fig, handles, labels)
    steps = sum(len(s.steps) for s in series)
    title = f"{timeline.machine}: {len(series)} cells over {len(timeline.runs)} runs, {steps} step(s)"
    fig.suptitle(title, fontsize=11)
    caption = (
        "Each cell's median in each run against its first level (the median of its medians before its first "
        "step, or of all where it has none), with its 95% interval "
        "(hollow grey: no verdict in that run). A ring marks the first run of a step, red slower, green faster."
        + (
            ""
            if len(series) <= MAX_LEGEND
            else f" {len(series)} cells: those without a step are the faint grey lines, without their intervals."
        )
    )
    return Chart("history", slugify("history", timeline.machine), title, caption, fig)


def _start_level(series: Series) -> float | None:
    first = min((step.at for step in series.steps), default=len(series.points))
    values = [p.value for p in series.points[:first] if p is not None]
    return statistics.median(values) if values else None


def charts(history: History, worst: int) -> list[Chart]:
    out = [c for t in history.timelines.values() if (c := overview_chart(history, t)) is not None]
    for rank, step in enumerate(history.steps[:worst], start=1):
        out.append(step_chart(step, history.timelines[step.series.machine], rank))
    return out
