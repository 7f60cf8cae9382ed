"""The report's sections between "At a glance" and the summary, declared once, in page order.

A :class:`Section` names the module that draws its charts (imported by name only when
drawing: matplotlib stays off the import path of ``--help`` and ``--only``) and, where it
shows more than its charts, the function that adds its tables and notes. The chart groups
(``--only``), the drawing and the page outline are all read from :data:`SECTIONS`: a new
chart is its module under ``bench/report/charts/`` plus one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from bench.fmt import fmt_x
from bench.tax import CALLS, interleaved

from . import compare_tables, tables
from .comparison import NOT_REGRESSIONS, NOTHING_TO_COMPARE, not_comparable
from .page import Bullets, Span, Text

SAME_ENVIRONMENT = "Both runs come from the same environment (machine, CPU, cores, threads and framework versions)."


def _figures_only(context, figures):
    return figures


@dataclass(frozen=True)
class Section:
    ident: str  #: the section's anchor, and the chart group of the charts it draws
    heading: str
    intro: str
    charts: str | None = None  #: the module whose ``charts(context)`` draws this section's charts
    blocks: Callable = _figures_only  #: ``(context, figures) -> blocks``: what the section shows
    group: str | None = None  #: the chart group whose choice (``--only``) shows it, if not its own

    @property
    def shown_with(self) -> str:
        return self.group or self.ident


def chart_groups() -> tuple[str, ...]:
    """Every chart group, in page order (``--only`` chooses among them)."""
    return tuple(s.ident for s in SECTIONS if s.charts)


def builder(group: str) -> Callable:
    """The ``charts(context)`` function of a chart group, its module imported now."""
    for s in SECTIONS:
        if s.ident == group and s.charts:
            return importlib.import_module(s.charts).charts
    raise KeyError(f"unknown chart group {group!r}; choose from {', '.join(chart_groups())}")


# --- what a section shows besides its charts -------------------------------------------------


def joined(groups: list[list]) -> list:
    """Groups of spans one after another, separated by commas."""
    out: list = []
    for k, group in enumerate(groups):
        out += ([", "] if k else []) + group
    return out


def _variants(context, figures):
    return figures + [tables.best_variants(context)]


def _scaling(context, figures):
    cross = tables.crossings(context)
    return figures + [cross, tables.slopes(context)] if (figures or cross) else []


def _compile(context, figures):
    return figures + [tables.break_even(context)]


def _tax(context, figures):
    table = tables.tax(context)
    return figures + [table] + _tax_gaps(context) if table else []


def _tax_gaps(context) -> list:
    """One sentence per tax that is not within the goal with its whole interval: above it, the witness
    beaten, or not told apart from the goal by this run."""
    items = []
    for _, r in context.tax[context.tax["call"] != "within"].iterrows():
        head = [Span(f"{r['best']} {fmt_x(r['tax'])}"), f" on {r['problem']} {r['size']} {r['kind']}"]
        rounds = ", interleaved rounds" if interleaved(r.get("interleaved")) else ""
        interval = (
            f" (95% interval {r['tax_lo']:.2f}-{r['tax_hi']:.2f}{rounds})"
            if r["tax_lo"] == r["tax_lo"]
            else " (no interval)"
        )
        text = f"{interval}: {CALLS.get(r['call'], r['call'])}"
        if r["like_best"] and r["like_best"] != r["best"]:
            text += f"; like for like ({r['like_best']}, the witness's mode): {fmt_x(r['like_tax'])}"
        items.append(head + [text + "."])
    if not items:
        return []
    return [Bullets(items)]


def _article(context, figures):
    notes = context.article_notes()
    if figures and notes:
        figures = figures + [Text(["Left out: "] + joined([[f"{tag}: {note}"] for tag, note in notes]) + ["."])]
    return figures


def _compare(context, figures):
    if context.baseline is None:
        return []
    blocks = []
    if any(not_comparable(found) for found in context.env_changes.values()):
        blocks.append(Text([Span(NOT_REGRESSIONS)], "warn"))
    differences = compare_tables.env_changes(context)
    if differences:
        blocks.append(differences)
    else:
        blocks.append(Text([SAME_ENVIRONMENT]))
    if context.compare is None or context.compare.empty:
        blocks.append(Text([Span(NOTHING_TO_COMPARE)], "warn"))
    return blocks + figures + [compare_tables.changes(context)]


_CHARTS = "bench.report.charts."

SECTIONS: tuple[Section, ...] = (
    Section(
        "agreement",
        "Do the backends agree?",
        "A timing of a wrong derivative means nothing: every row label's derivatives against the hand-derived ones.",
        _CHARTS + "agreement",
    ),
    Section(
        "times",
        "Time per row label",
        "Median time of one call for every problem, size and kind; lower is better.",
        _CHARTS + "times",
    ),
    Section(
        "variants",
        "Each framework's best variant",
        "Per framework and derivative kind: which way of running it is fastest most often, and by how much.",
        blocks=_variants,
        group="times",
    ),
    Section(
        "scaling",
        "Scaling with size",
        "How each row's time grows with the problem's main dimension, and where the fastest row changes.",
        _CHARTS + "scaling",
        _scaling,
    ),
    Section(
        "ratio",
        "Derivative / objective ratio",
        "The cheap-gradient check: a derivative should cost a small constant times the objective.",
        _CHARTS + "ratio",
    ),
    Section(
        "compile",
        "Compile time and when it pays off",
        "The first call (tracing, compilation) is timed apart from the steady state.",
        _CHARTS + "compile",
        _compile,
    ),
    Section(
        "tax",
        "Protocol tax: our code against an expert's",
        (
            "A ranking is the framework's only if our code is as good as an expert's: for a few headline cells, each "
            "backend's best row through the protocol against the expert's hand-written witness, timed in the same run. "
            "Below 1.0 the protocol's path, chosen by measurement, beats the code an expert writes first (PyTorch's "
            "torch.func.hessian, forward over reverse, against reverse over reverse on the Newton Hessian). Each "
            "witness is timed again in rounds that alternate it with its backend's protocol rows within 1.5x of the "
            "fastest by median (at most three) and the fastest of its own mode, so that a drift of the machine hits "
            "them alike; the best row is the fastest against the witness there, and a tax marked interleaved and "
            "its interval come from those rounds (the median of the per-round ratios), any other from two medians "
            "timed apart, which a busy machine can move either way (python -m bench diagnose tax settles one)."
        ),
        _CHARTS + "tax",
        _tax,
    ),
    Section(
        "gradbench",
        "GradBench's workloads",
        (
            "GradBench's evals (lse, llsq, kmeans, gmm, ode) at its own workload sizes, as GradBench shows them: per "
            "workload, each framework's derivative time and derivative/primal ratio (github.com/gradbench/gradbench)."
        ),
        _CHARTS + "gradbench",
    ),
    Section("article", "The article's pictures, from real runs", "", _CHARTS + "article", _article),
    Section(
        "compare",
        "Change against another run",
        "What differs between the two runs' environments first, then the change of every cell beyond its noise.",
        _CHARTS + "compare",
        _compare,
    ),
)
