"""Values on hover: an SVG ``<title>`` per row of a chart's panels, the row's label, panel, value and interval.

Read back from what the chart drew, so that it says what the picture shows: in each panel whose
y axis names rows (fixed tick labels), a bar's end (``barh``), an error bar's point and whiskers
(``errorbar``) or a scattered point gives the row's value and 95% interval. Each row gets a
transparent band across its panel, tagged with an id (matplotlib's ``gid``); after the SVG is
written, a ``<title>`` goes into each band's group, which a browser shows as a tooltip when the
SVG is inline in a page. In a panel of lines instead (the scaling chart: x a size, y a time), every
point of a labelled line gets a small transparent square around it, titled with the line's label,
the point's time and its size. The PNG is unchanged (the bands are transparent).
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import matplotlib.ticker
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.patches import Rectangle

from bench import safe_io
from bench.fmt import fmt_n, fmt_time

#: chart groups whose rows (or points) get a title (the page embeds their SVG)
GROUPS = ("times", "scaling")
#: the id of a row's band: ``hover-<k>``
PREFIX = "hover-"


def _row_labels(ax) -> dict[int, str]:
    """Row index -> its label, where the y axis names rows (ticks at fixed places, labelled by name)."""
    locator, formatter = ax.yaxis.get_major_locator(), ax.yaxis.get_major_formatter()
    if not isinstance(locator, matplotlib.ticker.FixedLocator):
        return {}
    locs = list(locator.locs)
    try:
        labels = formatter.format_ticks(locs)
    except (IndexError, TypeError, ValueError):
        return {}
    return {int(round(float(y))): str(text) for y, text in zip(locs, labels) if str(text)}


def _values(ax) -> dict[int, dict]:
    """Per row index: ``value`` (the mark's x) and ``lo``/``hi`` (its whiskers), from what the panel drew."""
    found: dict[int, dict] = {}

    def at(y: float) -> dict:
        return found.setdefault(int(round(float(y))), {})

    for container in ax.containers:
        if isinstance(container, BarContainer) and getattr(container, "orientation", None) == "horizontal":
            for patch in container.patches:
                at(patch.get_y() + patch.get_height() / 2)["value"] = patch.get_x() + patch.get_width()
        elif isinstance(container, ErrorbarContainer):
            data_line, _, bars = container.lines
            if data_line is not None:
                for x, y in zip(data_line.get_xdata(), data_line.get_ydata()):
                    at(y).setdefault("value", float(x))
            if container.has_xerr and bars:
                for segment in bars[0].get_segments():
                    (x0, y0), (x1, _) = segment[0], segment[-1]
                    at(y0).update(lo=min(x0, x1), hi=max(x0, x1))
    for collection in ax.collections:
        if isinstance(collection, PathCollection):
            for x, y in collection.get_offsets():
                at(y).setdefault("value", float(x))
    return {k: v for k, v in found.items() if "value" in v and math.isfinite(v["value"])}


def _number(x: float, as_time: bool) -> str:
    return fmt_time(x) if as_time else f"{x:.3g}"


def title(label: str, panel: str, mark: dict, as_time: bool) -> str:
    """``jax+jit · gradient: 1.23 ms (95% interval 1.20 ms – 1.26 ms)``."""
    text = f"{label}{f' · {panel}' if panel else ''}: {_number(mark['value'], as_time)}"
    lo, hi = mark.get("lo"), mark.get("hi")
    if lo is not None and hi is not None and hi > lo:
        text += f" (95% interval {_number(lo, as_time)} – {_number(hi, as_time)})"
    return text


def _points(ax) -> list[tuple[float, float, str]]:
    """``(x, y, title)`` of every finite point of the panel's labelled lines (a line's label is its row's)."""
    xname = ax.get_xlabel().replace(", log scale", "")
    as_time = "time" in ax.get_ylabel().lower()
    out = []
    for line in ax.get_lines():
        name = str(line.get_label())
        if not name or name[:1] == "_":  # matplotlib's own names for unlabelled artists
            continue
        for x, y in zip(line.get_xdata(), line.get_ydata()):
            x, y = float(x), float(y)
            if math.isfinite(x) and math.isfinite(y):
                text = f"{name} · {ax.get_title()}: {_number(y, as_time)} at {xname} = {fmt_n(x)}"
                out.append((x, y, text))
    return out


def _band(ax, gid: str, xy: tuple[float, float], size: tuple[float, float], transform) -> None:
    band = Rectangle(xy, *size, transform=transform, facecolor="white", alpha=0.0, linewidth=0, zorder=10)
    band.set_gid(gid)
    band.set_in_layout(False)
    ax.add_artist(band)


def tag(chart) -> dict[str, str]:
    """Add a transparent, tagged band per row of every panel (or per point of a panel of lines); return
    ``{id: title}``."""
    if chart.group not in GROUPS or chart.figure is None:
        return {}
    titles: dict[str, str] = {}
    for ax in chart.figure.axes:
        if not ax.get_visible():
            continue
        labels = _row_labels(ax)
        if not labels:
            _ = ax.get_xlim(), ax.get_ylim()  # the limits autoscaled now: the squares are placed in axes fractions
            to_axes = ax.transScale + ax.transLimits
            for x, y, text in _points(ax):
                fx, fy = to_axes.transform((x, y))
                gid = f"{PREFIX}{len(titles)}"
                _band(ax, gid, (fx - 0.025, fy - 0.03), (0.05, 0.06), ax.transAxes)
                titles[gid] = text
            continue
        as_time = "time" in ax.get_xlabel().lower()
        for row, mark in sorted(_values(ax).items()):
            if row not in labels:
                continue
            gid = f"{PREFIX}{len(titles)}"
            _band(ax, gid, (0.0, row - 0.45), (1.0, 0.9), ax.get_yaxis_transform())
            titles[gid] = title(labels[row], ax.get_title(), mark, as_time)
    return titles


GROUP_OPEN = re.compile(r'<g id="(' + PREFIX + r'\d+)">')


def add_titles(path: Path, titles: dict[str, str]) -> int:
    """Put each title into its band's group of the SVG at ``path``; return how many went in."""
    if not titles or not path.is_file():
        return 0
    count = 0

    def insert(match: re.Match) -> str:
        nonlocal count
        text = titles.get(match.group(1))
        if text is None:
            return match.group(0)
        count += 1
        # the band is drawn unfilled (transparent): pointer-events makes it catch the pointer all the same
        return f'<g id="{match.group(1)}" pointer-events="all"><title>{html.escape(text, quote=False)}</title>'

    svg = GROUP_OPEN.sub(insert, path.read_text(encoding="utf-8"))
    safe_io.write_text(path, svg)
    return count


def save(chart, folder: Path, formats, dpi: int, save_chart) -> None:
    """``save_chart`` (:func:`.base.save`) with a title per row in the SVG."""
    titles = tag(chart)
    save_chart(chart, folder, formats, dpi)
    if "svg" in chart.files and titles:
        add_titles(folder / Path(chart.files["svg"]).name, titles)
        chart.hover = len(titles)  # the page shows this chart's SVG inline, its titles as tooltips
