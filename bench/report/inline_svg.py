"""Values on hover over a chart's PNG: a small SVG laid over the image, holding only the chart's hover
bands (:mod:`bench.report.charts.hover`), each a transparent rectangle with its ``<title>``, in the
coordinates of the chart's own SVG file (same figure, same tight crop), stretched over the image.

The page keeps the light PNG (a times chart's SVG is five times its size, mostly hatch patterns and
log-axis ticks) and still shows each row's value and interval as a tooltip; an ``<img>`` alone
shows none, and the whole SVG inline would double the page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

#: an SVG file larger than this is not read
MAX_BYTES = 5_000_000
VIEWBOX = re.compile(r'<svg\b[^>]*\bviewBox="([-\d.eE ]+)"')
BAND = re.compile(r'<g id="(hover-\d+)"[^>]*>\s*<title>(.*?)</title>\s*<path d="([^"]+)"', re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def safe_prefix(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "chart"


def bands(text: str) -> list[tuple[str, str, tuple[float, float, float, float]]]:
    """``(id, title, (x, y, width, height))`` of every hover band in an SVG text."""
    out = []
    for gid, title, path in BAND.findall(text):
        numbers = [float(n) for n in NUMBER.findall(path)]
        xs, ys = numbers[0::2], numbers[1::2]
        if len(xs) < 2 or len(ys) < 2:
            continue
        box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        out.append((gid, html.unescape(title), box))
    return out


def overlay(path: Path, name: str, label: str) -> str | None:
    """The hover layer for the chart whose SVG is at ``path`` (None where it has no bands)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    view = VIEWBOX.search(text)
    found = bands(text)
    if view is None or not found:
        return None
    prefix = safe_prefix(name) + "-"
    marks = "".join(
        f'<g id="{prefix}{gid}"><title>{html.escape(title, quote=False)}</title>'
        f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}"/></g>'
        for gid, title, (x, y, w, h) in found
    )
    return (
        f'<svg id="{prefix}svg" class="hover" viewBox="{html.escape(view.group(1))}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{html.escape(label, quote=True)}: values on hover">'
        f"{marks}</svg>"
    )
