"""Everything a report shows, computed once from the loaded runs: the charts and
the page outline both read this, and neither computes anything of its own."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import analysis, checked, comparison
from .load import Run, combine, incomplete
from .sections import chart_groups

if TYPE_CHECKING:
    import pandas as pd

    from .charts.base import Chart


@dataclass
class Context:
    runs: list[Run]
    baseline: Run | None
    frame: pd.DataFrame  #: every run's rows (:func:`bench.report.load.combine`)
    command: str
    created: str = ""
    fastest: pd.DataFrame | None = None  #: :func:`bench.report.analysis.fastest`
    slopes: list[dict[str, Any]] = field(default_factory=list)  #: :func:`bench.report.analysis.scaling`
    crossings: list[dict[str, Any]] = field(default_factory=list)  #: :func:`bench.report.analysis.scaling`
    break_even: list[dict[str, Any]] = field(default_factory=list)  #: :func:`bench.report.analysis.break_even`
    tax: pd.DataFrame | None = None  #: :func:`bench.report.analysis.protocol_tax`
    best_variants: pd.DataFrame | None = None  #: :func:`bench.report.analysis.best_variants`
    agreement: pd.DataFrame | None = None  #: :func:`bench.report.analysis.agreement_table`
    unchecked: pd.DataFrame | None = None  #: timed rows no passing check covers (:func:`checked.unchecked`)
    compare: pd.DataFrame | None = None  #: :func:`comparison.compare`, with --compare
    env_changes: dict[str, list[comparison.EnvChange]] = field(default_factory=dict)  #: run tag -> differences
    charts: list[Chart] = field(default_factory=list)  #: the charts drawn
    #: the chart groups chosen: the page shows their sections (set by write_report)
    groups: tuple[str, ...] = field(default_factory=chart_groups)

    @property
    def tags(self) -> list[str]:
        return [run.tag for run in self.runs]

    @property
    def several(self) -> bool:
        return len(self.runs) > 1

    def article_notes(self) -> list[tuple[str, str]]:
        return [(run.tag, str(n)) for run in self.runs for doc in run.article.values() for n in doc.notes]

    def who_wins(self) -> list[dict]:
        """The "who wins" verdicts of every comparison group (:func:`.verdict_table.verdict_rows`), with the
        planned rows missing and the groups timed again in the same rounds."""
        from .verdict_table import verdict_rows

        return verdict_rows(self.frame, missing_cells(self.runs), settled=settled_groups(self.runs))

    def skipped(self) -> list[str]:
        return [line for run in self.runs + ([self.baseline] if self.baseline else []) for line in run.skipped]


def missing_cells(runs: list[Run]) -> list[dict]:
    """The planned cells of every run that have no ok record (their columns, with the run's tag)."""
    out = []
    for run in runs:
        missing, not_ok = incomplete(run)
        out += [{**c, "run": run.tag} for c in run.planned if c["cell"] in missing | not_ok]
    return out


def settled_groups(runs: list[Run]) -> list[dict]:
    """Every run's groups timed again in the same rounds (``python -m bench settle``), with the run's tag."""
    return [{**g, "run": run.tag} for run in runs for g in run.settled]


def build(runs: list[Run], baseline: Run | None = None, command: str = "", min_effect: float | None = None) -> Context:
    frame = combine(runs)
    slopes, crossings = analysis.scaling(frame)
    context = Context(
        runs=runs,
        baseline=baseline,
        frame=frame,
        command=command,
        created=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        fastest=analysis.fastest(frame, missing_cells(runs), settled_groups(runs)),
        slopes=slopes,
        crossings=crossings,
        break_even=analysis.break_even(frame),
        tax=analysis.protocol_tax(frame),
        best_variants=analysis.best_variants(frame),
        agreement=analysis.agreement_table(runs),
    )
    context.unchecked = checked.unchecked(frame, context.agreement)
    if baseline is not None:
        effect = comparison.MIN_EFFECT if min_effect is None else min_effect
        unlike = {run.tag: comparison.speed_change(baseline.env, run.env) for run in runs}
        context.compare = comparison.compare(frame, combine([baseline]), effect, unlike)
        context.env_changes = {run.tag: comparison.env_changes(baseline.env, run.env) for run in runs}
    return context
