"""The page model: what a report page says, independent of how it is written.

:mod:`bench.report.outline` describes the page once in these blocks;
:mod:`bench.report.render_md` and :mod:`bench.report.render_html` write it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bench.fmt import to_float


@dataclass
class Span:
    """Inline text with a meaning: ``strong``, ``ok`` (a pass), ``fail`` (a failure) or ``code``."""

    text: str
    style: str = "strong"


Inline = str | Span


@dataclass
class Text:
    """A paragraph: ``plain``, ``muted`` (a side note), ``box`` (a highlight) or ``warn`` (read this first)."""

    parts: list[Inline]
    kind: str = "plain"


@dataclass
class Bullets:
    items: list[list[Inline]]
    title: list[Inline] = field(default_factory=list)
    kind: str = "plain"  #: as :class:`Text`


@dataclass
class TableCell:
    """A table cell: its text, a number to sort by (numeric cells), and whether it reports a failure."""

    text: str
    value: float | None = None
    bad: bool = False

    @property
    def numeric(self) -> bool:
        return self.value is not None


@dataclass
class Table:
    header: list[str]
    rows: list[list[Any]]  #: each cell a :class:`TableCell` or plain text
    title: str = ""
    id: str = ""
    sortable: bool = False
    long: bool = False  #: shown in a scrolling box where the page can scroll

    def __bool__(self) -> bool:
        return bool(self.rows)


@dataclass
class Figure:
    chart: Any  #: a :class:`bench.report.charts.Chart`: slug, title, caption, files


Block = Text | Bullets | Table | Figure


@dataclass
class Section:
    id: str
    heading: str
    intro: str = ""
    blocks: list[Block] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(bool(b) if isinstance(b, Table) else True for b in self.blocks)


@dataclass
class Page:
    title: str
    intro: list[Block]
    sections: list[Section]
    folded: bool = False  #: in HTML, every section folded shut but the first and those holding a warning


def number(value: Any, text: str) -> TableCell:
    """A numeric cell; missing values sort last and print empty."""
    v = to_float(value)
    return TableCell(text if math.isfinite(v) else "", v)
