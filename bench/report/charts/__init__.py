"""The report's charts, one module per topic, drawn with matplotlib (Agg, no display needed).

Every topic's ``charts(context)`` returns :class:`~.base.Chart` entries for a
:class:`bench.report.context.Context`; :func:`draw_all` saves each as PNG (and SVG).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path

from bench import safe_io

from ..context import CHART_GROUPS
from . import agreement, article, compare, gradbench, hover, ratio, scaling, tax, times
from . import compile as compiling
from .base import Chart, save, unique_slugs

BUILDERS: dict[str, Callable[..., list[Chart]]] = {
    "times": times.charts,
    "scaling": scaling.charts,
    "ratio": ratio.charts,
    "compile": compiling.charts,
    "tax": tax.charts,
    "gradbench": gradbench.charts,
    "agreement": agreement.charts,
    "article": article.charts,
    "compare": compare.charts,
}
assert tuple(BUILDERS) == CHART_GROUPS  # a chart group added later is added to BUILDERS (see CONTRIBUTING.md)


def groups() -> tuple[str, ...]:
    """Every chart group that can be drawn (the built-in ones and any added to :data:`BUILDERS`)."""
    return tuple(BUILDERS)


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
    for group, build in BUILDERS.items():
        if only and group not in only:
            continue
        built = build(context)
        slugs += [c.slug for c in built]
        for chart, slug in zip(built, unique_slugs(slugs)[len(slugs) - len(built) :]):
            chart.slug = slug
            if select and not any(fnmatch.fnmatchcase(chart.slug, pattern) for pattern in select):
                chart.figure = None
                continue
            hover.save(chart, folder, formats, dpi, save)  # the SVG with a title per row
            charts.append(chart)
    return charts


__all__ = ["BUILDERS", "Chart", "draw_all"]
