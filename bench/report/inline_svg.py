"""A chart's SVG file made fit to sit inside an HTML page: its XML prolog and metadata dropped, every id
(and every reference to one) prefixed with the chart's name so that two charts never share an id, its
global style scoped to itself, and a role and label for screen readers. Its ``<title>`` elements (values
on hover, :mod:`bench.report.charts.hover`) are kept: an SVG inline in the page shows them as tooltips,
an ``<img>`` would not."""

from __future__ import annotations

import html
import re
from pathlib import Path

#: an SVG larger than this stays a linked file (the page embeds the PNG instead)
MAX_BYTES = 2_000_000
ID = re.compile(r'\bid="([^"]+)"')


def safe_prefix(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "chart"


def inline(path: Path, name: str, label: str) -> str | None:
    """The SVG at ``path`` as page markup, or None where there is none fit to inline."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    start = text.find("<svg")
    if start < 0 or "<script" in text.lower() or "<foreignobject" in text.lower():
        return None
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[start:], flags=re.S)
    prefix = safe_prefix(name) + "-"
    ids = set(ID.findall(text))
    if ids:
        text = ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
        text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})" if m.group(1) in ids else m[0], text)
        text = re.sub(
            r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"' if m.group(1) in ids else m[0], text
        )
    scope = f"{prefix}svg"
    text = text.replace('<style type="text/css">*{', f'<style type="text/css">#{scope} *{{', 1)
    attrs = f' id="{scope}" class="chart" role="img" aria-label="{html.escape(label, quote=True)}"'
    return "<svg" + attrs + text[len("<svg") :].rstrip() + "\n"
