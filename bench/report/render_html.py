"""``index.html``: the page outline (:mod:`.outline`) as one self-contained, static file.

Every chart is embedded (PNG as a data URI; values on hover in a light SVG layer over it) with the
page's own CSS and JavaScript (no library, nothing fetched: every table sorts by a click on a header and
filters by a search box; sections fold; a link into a folded section opens it), so the single file can be
mailed, attached to a CI job or opened from disk with no network. Wide tables scroll sideways in their
own box, so the page itself fits a narrow screen.
"""

from __future__ import annotations

import base64
import html
import math
import zlib
from pathlib import Path
from typing import Any

from bench import safe_io

from . import inline_svg
from .page import Block, Bullets, Figure, Inline, Page, Section, Span, Table, TableCell, Text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1280px;padding:1rem 2rem;
color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h3{font-size:1.05rem;margin-bottom:.3rem}
details.section{margin-top:1.6rem} details.section>summary{cursor:pointer;border-bottom:2px solid #ddd;
padding-bottom:.2rem} summary h2{display:inline;font-size:1.35rem;margin:0}
nav.toc{background:#f8f8f8;padding:.4rem 1rem;margin:1rem 0} nav.toc ol{margin:.3rem 0;padding-left:1.5rem}
nav.toc li{margin:.1rem 0} nav.toc button{font:inherit;font-size:.85rem;margin-right:.5rem}
.muted{color:#666;font-size:.9rem} p,li,h1,h3,figcaption,code{overflow-wrap:anywhere}
figure{margin:1rem 0 2rem 0} figure img{max-width:100%;height:auto;border:1px solid #eee;display:block}
.hoverbox{position:relative;display:inline-block;max-width:100%;border:1px solid #eee} .hoverbox img{border:0}
svg.hover{position:absolute;left:0;top:0;width:100%;height:100%} svg.hover rect{fill:transparent;pointer-events:all}
svg.hover g:hover rect{fill:rgba(0,0,0,.06)}
figcaption{color:#444;font-size:.9rem;max-width:60rem}
.tools{margin:.3rem 0} input.filter{font:inherit;font-size:.85rem;padding:.15rem .4rem;width:20rem;max-width:100%}
.wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.82rem;margin:.3rem 0 1.2rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top} td.long{min-width:16rem}
td{min-width:3.5rem} th{background:#f4f4f4;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none} table.sortable th:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.fail{background:#d62728;color:#fff;font-weight:bold;padding:0 .2rem} .ok{color:#2ca02c;font-weight:bold}
.bad{color:#d62728;font-weight:bold} .good{color:#2ca02c}
.box{background:#f8f8f8;border-left:4px solid #1f77b4;padding:.5rem 1rem;margin:1rem 0}
.box ul{margin:.2rem 0;padding-left:1.2rem}
.warn{border-left-color:#d62728;background:#fdf1f1;font-size:1.05rem}
.scroll{max-height:36rem;overflow:auto}
@media (max-width:640px){body{padding:.5rem .7rem} table{font-size:.75rem} input.filter{width:100%}}
"""

#: the page's own script (no library, nothing fetched): sort a table by a click on a header, filter its
#: rows by the words typed in its search box, and open a folded section when a link leads into it
SCRIPT = """
(function () {
  function key(row, column) {
    var cell = row.cells[column];
    if (!cell) { return ''; }
    var v = cell.getAttribute('data-v');
    return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function sortBy(table, th, column) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
    rows.sort(function (a, b) {
      var x = key(a, column), y = key(b, column);
      var nx = typeof x === 'number' && !isNaN(x), ny = typeof y === 'number' && !isNaN(y);
      if (nx !== ny) { return nx ? -1 : 1; }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return up ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, column) {
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortBy(table, th, column); });
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, th, column); }
      });
    });
  });
  document.querySelectorAll('input.filter').forEach(function (input) {
    var table = document.getElementById(input.getAttribute('data-table'));
    var count = document.getElementById(input.getAttribute('data-count'));
    if (!table) { return; }
    function apply() {
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var rows = table.tBodies[0].rows, shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var text = rows[i].textContent.toLowerCase();
        var keep = words.every(function (w) { return text.indexOf(w) >= 0; });
        rows[i].hidden = !keep;
        if (keep) { shown++; }
      }
      if (count) { count.textContent = words.length ? shown + ' of ' + rows.length + ' rows' : rows.length + ' rows'; }
    }
    input.addEventListener('input', apply);
    apply();
  });
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    for (var el = target; el; el = el.parentElement) { if (el.tagName === 'DETAILS') { el.open = true; } }
    if (target) { target.scrollIntoView(); }
  }
  window.addEventListener('hashchange', reveal);
  if (location.hash) { reveal(); }
  document.querySelectorAll('button[data-fold]').forEach(function (button) {
    button.addEventListener('click', function () {
      var open = button.getAttribute('data-fold') === 'open';
      document.querySelectorAll('details.section').forEach(function (d) { d.open = open; });
    });
  });
})();
"""

#: a table cell this long gets room to wrap in (never one word per line on a narrow screen)
LONG_CELL = 60
SPAN_CLASSES = {"ok": "ok", "fail": "fail"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def inline(parts: list[Inline]) -> str:
    out = []
    for part in parts:
        if not isinstance(part, Span):
            out.append(_e(part))
        elif part.style == "code":
            out.append(f"<code>{_e(part.text)}</code>")
        elif part.style in SPAN_CLASSES:
            out.append(f'<span class="{SPAN_CLASSES[part.style]}">{_e(part.text)}</span>')
        else:
            out.append(f"<b>{_e(part.text)}</b>")
    return "".join(out)


def _cell(value) -> str:
    if not isinstance(value, TableCell):
        long = ' class="long"' if len(str(value)) > LONG_CELL else ""
        return f"<td{long}>{_e(value)}</td>"
    attrs = ""
    if value.numeric:
        v = float(value.value)
        attrs = (
            f' class="num{" bad" if value.bad else ""}" data-v="{v!r}"'
            if math.isfinite(v)
            else ' class="num" data-v="NaN"'
        )
    elif value.bad:
        attrs = ' class="bad long"' if len(value.text) > LONG_CELL else ' class="bad"'
    elif len(value.text) > LONG_CELL:
        attrs = ' class="long"'
    return f"<td{attrs}>{_e(value.text)}</td>"


def table(block: Table, ident: str = "") -> str:
    """A table in its own sideways-scrolling box, with a search box that filters its rows; every table
    sorts by a click on a header. ``ident``: its id where the block has none."""
    if not block.rows:
        return ""
    ident = block.id or ident or f"table-{zlib.crc32(repr(block.header).encode()):x}"
    name = block.title or ", ".join(str(h) for h in block.header[:3] if h)
    rows = [
        f'<table id="{_e(ident)}" class="sortable"><thead><tr>'
        + "".join(f"<th>{_e(h)}</th>" for h in block.header)
        + "</tr></thead><tbody>"
    ]
    rows += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in block.rows]
    rows.append("</tbody></table>")
    box = "wrap scroll" if block.long else "wrap"
    tools = (
        f'<p class="tools"><input type="search" class="filter" data-table="{_e(ident)}" '
        f'data-count="{_e(ident)}-count" placeholder="Filter rows: every word typed must match" '
        f'aria-label="Filter the rows of {_e(name)}"> <span class="muted"><span id="{_e(ident)}-count">'
        f"{len(block.rows)} rows</span> · click a column header to sort</span></p>"
    )
    parts = ([f"<h3>{_e(block.title)}</h3>"] if block.title else []) + [tools, f'<div class="{box}">', *rows, "</div>"]
    return "\n".join(parts)


def figure(chart, folder: Path) -> str:
    """A chart: its PNG as a data URI, with each row's value and interval on hover where the chart has
    them (a light SVG layer over the image, :mod:`.inline_svg`)."""
    links = " · ".join(f'<a href="{_e(path)}">{fmt.upper()}</a>' for fmt, path in chart.files.items())
    data = base64.b64encode((folder / chart.files["png"]).read_bytes()).decode("ascii")
    picture = f'<img src="data:image/png;base64,{data}" alt="{_e(chart.title)}">'
    layer = None
    if getattr(chart, "hover", 0) and "svg" in chart.files:
        layer = inline_svg.overlay(folder / chart.files["svg"], chart.slug, chart.title)
    if layer:
        picture = f'<div class="hoverbox">{picture}{layer}</div>'
    hint = " Hover over a row for its value and interval." if layer else ""
    return (
        f'<figure id="{_e(chart.slug)}"><h3>{_e(chart.title)}</h3>{picture}'
        f'<figcaption>{_e(chart.caption)}{hint} <span class="muted">({links})</span></figcaption></figure>'
    )


def block(b: Block, folder: Path, ident: str = "") -> str:
    if isinstance(b, Table):
        return table(b, ident)
    if isinstance(b, Figure):
        return figure(b.chart, folder)
    if isinstance(b, Bullets):
        cls = {"warn": "box warn", "box": "box"}.get(b.kind, "")
        items = "".join(f"<li>{inline(item)}</li>" for item in b.items)
        title = inline(b.title) if b.title else ""
        return f'<div class="{cls}">{title}<ul>{items}</ul></div>' if cls else f"{title}<ul>{items}</ul>"
    if isinstance(b, Text):
        cls = {"warn": "box warn", "box": "box", "muted": "muted"}.get(b.kind, "")
        return f'<p class="{cls}">{inline(b.parts)}</p>' if cls else f"<p>{inline(b.parts)}</p>"
    raise TypeError(f"not a page block: {type(b).__name__}")


def _warns(section: Section) -> bool:
    return any(isinstance(b, (Text, Bullets)) and b.kind == "warn" for b in section.blocks)


def _contents(page: Page) -> str:
    """The table of contents: every section, with how many tables and charts it holds."""
    items = []
    for section in page.sections:
        tables = sum(1 for b in section.blocks if isinstance(b, Table) and b)
        charts = sum(1 for b in section.blocks if isinstance(b, Figure))
        counts = [f"{n} {what}{'s' if n > 1 else ''}" for n, what in ((charts, "chart"), (tables, "table")) if n]
        note = f' <span class="muted">({", ".join(counts)})</span>' if counts else ""
        items.append(f'<li><a href="#{_e(section.id)}">{_e(section.heading)}</a>{note}</li>')
    buttons = (
        '<button type="button" data-fold="open">Open every section</button>'
        '<button type="button" data-fold="close">Fold every section</button>'
    )
    return f'<nav class="toc" aria-label="Contents"><b>Contents</b><ol>{"".join(items)}</ol>{buttons}</nav>'


def render(page: Page, folder: Path) -> str:
    body = [f"<h1>{_e(page.title)}</h1>"] + [block(b, folder, f"intro-table-{j}") for j, b in enumerate(page.intro)]
    body.append(_contents(page))
    for k, section in enumerate(page.sections):
        shown = not page.folded or k == 0 or _warns(section)
        body.append(
            f'<details class="section" id="{_e(section.id)}"{" open" if shown else ""}>'
            f"<summary><h2>{_e(section.heading)}</h2></summary>"
        )
        if section.intro:
            body.append(f"<p>{_e(section.intro)}</p>")
        body += [block(b, folder, f"{section.id}-table-{j}") for j, b in enumerate(section.blocks)]
        body.append("</details>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(page.title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )


def write(page: Page, path: Path) -> None:
    safe_io.write_text(path, render(page, path.parent))
