"""The report's charts, one module per topic, drawn with matplotlib (Agg, no display needed).

Every topic's ``charts(context)`` (its module named in :data:`bench.report.sections.SECTIONS`)
returns :class:`~.base.Chart` entries for a :class:`bench.report.context.Context`;
:func:`draw_all` saves each as PNG (and SVG).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from bench import safe_io

from .. import sections
from . import hover
from .base import Chart, save, unique_slugs


def groups() -> tuple[str, ...]:
    """Every chart group that can be drawn, in page order (:func:`bench.report.sections.chart_groups`)."""
    return sections.chart_groups()


def draw_all(
    context, folder: Path, formats=("png", "svg"), dpi: int = 100, only=None, select: list[str] | None = None
) -> list[Chart]:
    """Draw every chart group (or those in ``only``; or the charts whose file name matches
    a pattern in ``select``), save them under ``folder``; return the charts.

    Chart file names are made unique and short enough (:func:`~.base.unique_slugs`): names built from
    problem, size or row names never overwrite one another nor pass the file-name limit."""
    safe_io.make_dir(folder)
    charts: list[Chart] = []
    slugs: list[str] = []  #: every chart's own slug so far, drawn or not
    for group in groups():
        if only and group not in only:
            continue
        built = sections.builder(group)(context)
        slugs += [c.slug for c in built]
        for chart, slug in zip(built, unique_slugs(slugs)[len(slugs) - len(built) :]):
            chart.slug = slug
            if select and not any(fnmatch.fnmatchcase(chart.slug, pattern) for pattern in select):
                chart.figure = None
                continue
            hover.save(chart, folder, formats, dpi, save)  # the SVG with a title per row
            charts.append(chart)
    return charts


__all__ = ["Chart", "draw_all", "groups"]
