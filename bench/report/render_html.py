"""``index.html``: the page outline (:mod:`.outline`) as one self-contained, static file.

Every chart is embedded (PNG as a data URI) with the page's own CSS and JavaScript
(sorting a table by a click on a header), so the single file can be mailed,
attached to a CI job or opened from disk with no network.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from bench import safe_io

from .page import Block, Bullets, Cell, Figure, Inline, Page, Span, Table, Text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1280px;padding:1rem 2rem;
color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.05rem;margin-bottom:.3rem}
nav a{margin-right:1rem} .muted{color:#666;font-size:.9rem}
figure{margin:1rem 0 2rem 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.9rem;max-width:60rem}
table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0 1.2rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none} table.sortable th:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.fail{background:#d62728;color:#fff;font-weight:bold;padding:0 .2rem} .ok{color:#2ca02c;font-weight:bold}
.bad{color:#d62728;font-weight:bold} .good{color:#2ca02c}
.box{background:#f8f8f8;border-left:4px solid #1f77b4;padding:.5rem 1rem;margin:1rem 0}
.box ul{margin:.2rem 0;padding-left:1.2rem}
.warn{border-left-color:#d62728;background:#fdf1f1;font-size:1.05rem}
.scroll{max-height:36rem;overflow:auto}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      function key(row) {
        var cell = row.cells[column];
        var v = cell.getAttribute('data-v');
        return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var nx = typeof x === 'number' && !isNaN(x), ny = typeof y === 'number' && !isNaN(y);
        if (nx !== ny) { return nx ? -1 : 1; }
        var c = x < y ? -1 : (x > y ? 1 : 0);
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

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
    if not isinstance(value, Cell):
        return f"<td>{_e(value)}</td>"
    attrs = ""
    if value.numeric:
        v = float(value.value)
        attrs = (
            f' class="num{" bad" if value.bad else ""}" data-v="{v!r}"'
            if math.isfinite(v)
            else ' class="num" data-v="NaN"'
        )
    elif value.bad:
        attrs = ' class="bad"'
    return f"<td{attrs}>{_e(value.text)}</td>"


def table(block: Table) -> str:
    if not block.rows:
        return ""
    ident = f' id="{_e(block.id)}"' if block.id else ""
    cls = ' class="sortable"' if block.sortable else ""
    rows = [
        f"<table{ident}{cls}><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in block.header) + "</tr></thead><tbody>"
    ]
    rows += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in block.rows]
    rows.append("</tbody></table>")
    if block.long:
        rows = ['<div class="scroll">', *rows, "</div>"]
    if block.sortable and block.long:
        rows.insert(0, '<p class="muted">Click a column header to sort.</p>')
    parts = ([f"<h3>{_e(block.title)}</h3>"] if block.title else []) + rows
    return "\n".join(parts)


def figure(chart, folder: Path) -> str:
    data = base64.b64encode((folder / chart.files["png"]).read_bytes()).decode("ascii")
    links = " · ".join(f'<a href="{_e(path)}">{fmt.upper()}</a>' for fmt, path in chart.files.items())
    return (
        f'<figure id="{_e(chart.slug)}"><h3>{_e(chart.title)}</h3>'
        f'<img src="data:image/png;base64,{data}" alt="{_e(chart.title)}">'
        f'<figcaption>{_e(chart.caption)} <span class="muted">({links})</span></figcaption></figure>'
    )


def block(b: Block, folder: Path) -> str:
    if isinstance(b, Table):
        return table(b)
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


def render(page: Page, folder: Path) -> str:
    body = [f"<h1>{_e(page.title)}</h1>"] + [block(b, folder) for b in page.intro]
    body.append("<nav>" + "".join(f'<a href="#{_e(s.id)}">{_e(s.heading)}</a>' for s in page.sections) + "</nav>")
    for section in page.sections:
        body.append(f'<h2 id="{_e(section.id)}">{_e(section.heading)}</h2>')
        if section.intro:
            body.append(f"<p>{_e(section.intro)}</p>")
        body += [block(b, folder) for b in section.blocks]
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
