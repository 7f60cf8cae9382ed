"""``report.md`` and a self-contained, static ``index.html`` for the report.

The HTML embeds every chart (PNG as a data URI) and its own CSS and JavaScript
(sorting the summary table by a click on a header), so the single file can be
mailed, attached to a CI job or opened from disk with no network.
"""

from __future__ import annotations

import base64
import html as _html
import math
from pathlib import Path
from typing import Any

from .charts import fmt_n, fmt_time
from .report import label_order

SECTIONS = (
    ("agreement", "Do the backends agree?"),
    ("times", "Time per backend and mode"),
    ("scaling", "Scaling with size"),
    ("ratio", "Derivative / objective ratio"),
    ("compile", "Compile time and when it pays off"),
    ("article", "The article's pictures, from real runs"),
    ("compare", "Change against another run"),
)


# --- shared content -------------------------------------------------------------------


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def flatten_env(env: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_env(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = "; ".join(str(v.get("command", v)) if isinstance(v, dict) else str(v) for v in value)
        else:
            out[name] = "" if value is None else str(value)
    return out


def environment(context) -> tuple[list[str], list[list[str]]]:
    """Header (one column per run) and rows of the environment table."""
    runs = context["runs"]
    frame = context["frame"]
    envs = []
    for run in runs:
        env = flatten_env(run.env)
        rows = frame[frame["run"] == run.tag]
        for column, name in (("dtype", "dtypes measured"), ("device", "devices measured"),
                             ("threads", "threads measured"), ("version", "backend versions measured")):
            values = [v for v in dict.fromkeys(rows[column].tolist()) if v not in ("", None)
                      and not (isinstance(v, float) and math.isnan(v))]
            if column == "threads":
                values = [str(int(v)) for v in values]
            elif column == "version":
                pairs = rows[["backend", "version"]].drop_duplicates()
                values = [f"{b} {v}" for b, v in pairs.itertuples(index=False) if v]
            if values:
                env[name] = ", ".join(map(str, values))
        if run.article:
            env["article pictures from"] = ", ".join(label_order(run.article))
        env["folder"] = str(run.path)
        envs.append(env)
    keys = list(dict.fromkeys(k for env in envs for k in env))
    return ["", *[run.tag for run in runs]], [[k, *[env.get(k, "") for env in envs]] for k in keys]


def wins(context) -> tuple[list[str], list[list[str]]]:
    """Who wins where, by how much: the fastest per problem, size and kind."""
    table = context["fastest"]
    if table.empty:
        return [], []
    several_types = table["dtype"].nunique() > 1 or table["device"].nunique() > 1
    kinds = [k for k in ("objective", "gradient", "hessian", "hvp", "jvp", "vjp", "solve") if k in set(table["kind"])]
    header = ["problem", "size", *kinds]
    rows = []
    for (problem, size, dtype, device), group in table.groupby(["problem", "size", "dtype", "device"], sort=False):
        name = f"{size} · {dtype} {device}" if several_types else size
        row = [problem, name]
        by_kind = {r["kind"]: r for _, r in group.iterrows()}
        for kind in kinds:
            r = by_kind.get(kind)
            if r is None:
                row.append("")
            elif math.isfinite(r["margin"]):
                row.append(f"{r['fastest']} ({fmt_time(r['median'])}, ×{r['margin']:.3g} ahead of {r['runner_up']})")
            else:
                row.append(f"{r['fastest']} ({fmt_time(r['median'])})")
        rows.append(row)
    order = {p: i for i, p in enumerate(dict.fromkeys(table["problem"]))}
    return header, rows if not order else sorted(rows, key=lambda r: order.get(r[0], 0))


def win_counts(context) -> list[tuple[str, int]]:
    table = context["fastest"]
    if table.empty:
        return []
    counts = table["fastest"].value_counts()
    return [(str(k), int(v)) for k, v in counts.items()]


def agreement_summary(context) -> tuple[int, int, list[list[str]]]:
    table = context["agreement"]
    if table is None or table.empty:
        return 0, 0, []
    failed = table[~table["ok"]]
    rows = [[r.run, r.problem, r.label, r.dtype, r.kind, f"{r.rho:.1e}", f"{r.tolerance:.0e}", r.reference]
            for r in failed.itertuples()]
    return len(table), len(failed), rows


def summary(context) -> tuple[list[str], list[list[Any]]]:
    frame = context["frame"]
    if frame.empty:
        return [], []
    best = frame[frame["status"] == "ok"].groupby(["problem", "size", "dtype", "device", "kind"])["median"].min()
    several = frame["run"].nunique() > 1
    header = (["run"] if several else []) + ["problem", "size", "n", "kind", "backend-mode", "dtype", "device",
                                             "status", "median", "IQR", "× fastest", "÷ objective", "first call",
                                             "peak MB"]
    rows = []
    for r in frame.sort_values(["problem", "n", "kind", "series"]).itertuples():
        fastest = best.get((r.problem, r.size, r.dtype, r.device, r.kind), math.nan)
        times_fastest = r.median / fastest if math.isfinite(r.median) and fastest > 0 else math.nan
        rows.append(([r.run] if several else []) + [
            r.problem, r.size, r.n, r.kind, r.label, r.dtype, r.device,
            ("status", r.status + (f": {r.reason}" if r.reason and r.status != "ok" else "")),
            ("time", r.median), ("time", r.iqr), ("x", times_fastest), ("x", r.ratio), ("time", r.first_call),
            ("mb", r.peak_mem_mb),
        ])
    return header, rows


def crossings(context) -> list[list[str]]:
    _, cross = context["scaling"]
    return [[c["problem"], c["kind"], c["dtype"], c["winner"], c["loser"], f"{c['axis']} ≈ {fmt_n(c['x'])}",
             fmt_time(c["time"])] for c in cross]


def slopes(context) -> tuple[list[str], list[list[str]]]:
    fitted, _ = context["scaling"]
    return (["problem", "kind", "dtype", "backend-mode", "slope", "sizes"],
            [[s["problem"], s["kind"], s["dtype"], s["series"], f"{s['slope']:.2f}", str(s["sizes"])] for s in fitted
             if math.isfinite(s["slope"])])


def break_even_rows(context) -> list[list[str]]:
    rows = []
    for r in context["break_even"]:
        calls = r["calls"]
        text = "n/a" if math.isnan(calls) else ("never" if math.isinf(calls) else f"{int(calls):,}")
        rows.append([r["problem"], r["size"], r["kind"], r["label"], fmt_time(r["first_compiled"]),
                     fmt_time(r["median_compiled"]), fmt_time(r["first_eager"]), fmt_time(r["median_eager"]), text])
    return rows


def compare_rows(context, flagged_only: bool) -> list[list[str]]:
    table = context.get("compare")
    if table is None or table.empty:
        return []
    rows = []
    for r in table.itertuples():
        if flagged_only and not r.flag:
            continue
        change = f"{r.change:+.1%}" if math.isfinite(r.change) else "n/a"
        status = r.status if r.status == r.status_before else f"{r.status_before} → {r.status}"
        rows.append([r.problem, r.size, r.kind, r.label, r.dtype, fmt_time(r.median_before), fmt_time(r.median),
                     change, f"±{r.noise:.1%}", status, r.flag or "within noise"])
    return rows


COMPARE_HEADER = ["problem", "size", "kind", "backend-mode", "dtype", "before", "now", "change", "noise", "status",
                  "flag"]
CROSS_HEADER = ["problem", "kind", "dtype", "faster after", "overtakes", "at about", "time there"]
BREAK_HEADER = ["problem", "size", "kind", "compiled mode", "first call (compiled)", "steady (compiled)",
                "first call (eager)", "steady (eager)", "pays off after calls"]
FAIL_HEADER = ["run", "problem", "backend-mode", "dtype", "kind", "worst ρ", "tolerance", "reference"]


def _cell_text(value) -> str:
    if isinstance(value, tuple):
        kind, v = value
        if kind == "status":
            return str(v)
        if not math.isfinite(_num(v)):
            return ""
        if kind == "time":
            return fmt_time(v)
        if kind == "x":
            return f"{v:.3g}"
        return f"{v:.1f}"
    if isinstance(value, float):
        return "" if math.isnan(value) else (f"{int(value):,}" if value == int(value) else f"{value:g}")
    return str(value)


# --- markdown -------------------------------------------------------------------------


def _md_escape(value: Any) -> str:
    return _cell_text(value).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return ""
    esc = _md_escape
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_markdown(context, path: Path) -> None:
    runs = context["runs"]
    out = [f"# Autodiff benchmark report: {', '.join(r.tag for r in runs)}", "",
           f"Generated {context['created']} by `{context['command']}`.", ""]
    notes = [line for run in runs for line in run.skipped]
    if notes:
        out += ["**Files skipped** (corrupt, truncated or foreign):", ""] + [f"- `{n}`" for n in notes] + [""]
    total, failed, fail_rows = agreement_summary(context)
    out += ["## At a glance", ""]
    if total:
        out.append(f"- Agreement: **{total - failed} of {total} checks passed**" +
                   (f", **{failed} FAILED** (below)." if failed else "."))
    counts = win_counts(context)
    if counts:
        out.append("- Fastest most often: " + ", ".join(f"{k} ({v})" for k, v in counts) + ".")
    out.append("")
    header, rows = wins(context)
    if rows:
        out += ["### Who wins where, by how much", "", _md_table(header, rows)]
    if fail_rows:
        out += ["### Failed checks", "", _md_table(FAIL_HEADER, fail_rows)]
    charts = context["charts"]
    for group, heading in SECTIONS:
        chosen = [c for c in charts if c.group == group]
        extra = ""
        if group == "scaling":
            extra = _md_table(CROSS_HEADER, crossings(context))
            extra = ("Crossovers, where one backend overtakes another:\n\n" + extra) if extra else ""
        if group == "compile":
            extra = _md_table(BREAK_HEADER, break_even_rows(context))
        if group == "compare":
            extra = _md_table(COMPARE_HEADER, compare_rows(context, flagged_only=True))
            extra = ("Cells beyond the noise:\n\n" + extra) if extra else ""
        if not chosen and not extra:
            continue
        out += [f"## {heading}", ""]
        for chart in chosen:
            out += [f"### {chart.title}", "", f"![{chart.title}]({chart.files['png']})", "", chart.caption, ""]
        if extra:
            out += [extra, ""]
    notes = [(run.tag, n) for run in runs for doc in run.article.values() for n in doc.get("notes", [])]
    if notes:
        out += ["Article pictures left out:", ""] + [f"- {tag}: {n}" for tag, n in notes] + [""]
    header, rows = summary(context)
    if rows:
        out += ["## Summary table", "", _md_table(header, rows)]
    header, rows = environment(context)
    out += ["## Environment", "", _md_table(header, rows)]
    path.write_text("\n".join(out))


# --- HTML ------------------------------------------------------------------------------

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
.fail{background:#d62728;color:#fff;font-weight:bold} .ok{color:#2ca02c;font-weight:bold}
.bad{color:#d62728;font-weight:bold} .good{color:#2ca02c}
.box{background:#f8f8f8;border-left:4px solid #1f77b4;padding:.5rem 1rem;margin:1rem 0}
.warn{border-left-color:#d62728}
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


def _e(text: Any) -> str:
    return _html.escape(str(text), quote=True)


def _html_table(header: list[str], rows: list[list[Any]], sortable: bool = False, table_id: str = "") -> str:
    if not rows:
        return ""
    ident = f' id="{table_id}"' if table_id else ""
    cls = ' class="sortable"' if sortable else ""
    parts = [f"<table{ident}{cls}><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for value in row:
            text = _cell_text(value)
            status = isinstance(value, tuple) and value[0] == "status"
            numeric = isinstance(value, (tuple, int, float)) and not status
            raw = value[1] if isinstance(value, tuple) else value
            attrs = ""
            if numeric:
                v = _num(raw)
                attrs = f' class="num" data-v="{v!r}"' if math.isfinite(v) else ' class="num" data-v="NaN"'
            elif status and not str(raw).startswith("ok"):
                attrs = ' class="bad"'
            cells.append(f"<td{attrs}>{_e(text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


def _figure(chart, folder: Path) -> str:
    png = (folder / chart.files["png"]).read_bytes()
    data = base64.b64encode(png).decode("ascii")
    links = " · ".join(f'<a href="{_e(path)}">{fmt.upper()}</a>' for fmt, path in chart.files.items())
    return (f'<figure id="{_e(chart.slug)}"><h3>{_e(chart.title)}</h3>'
            f'<img src="data:image/png;base64,{data}" alt="{_e(chart.title)}">'
            f"<figcaption>{_e(chart.caption)} <span class=\"muted\">({links})</span></figcaption></figure>")


def write_html(context, path: Path) -> None:
    runs = context["runs"]
    folder = path.parent
    title = f"Autodiff benchmark report: {', '.join(r.tag for r in runs)}"
    body = [f"<h1>{_e(title)}</h1>",
            (f'<p class="muted">Generated {_e(context["created"])} by <code>{_e(context["command"])}</code>. '
             "Times are seconds per call (median over rounds); lower is better.</p>")]
    present = [g for g, _ in SECTIONS if any(c.group == g for c in context["charts"])]
    nav = ['<a href="#glance">At a glance</a>'] + [f'<a href="#{g}">{_e(h)}</a>' for g, h in SECTIONS if g in present]
    nav += ['<a href="#summary">Summary table</a>', '<a href="#environment">Environment</a>']
    body.append("<nav>" + "".join(nav) + "</nav>")
    notes = [line for run in runs for line in run.skipped]
    if notes:
        body.append('<div class="box warn"><b>Files skipped</b> (corrupt, truncated or foreign):<ul>' +
                    "".join(f"<li><code>{_e(n)}</code></li>" for n in notes) + "</ul></div>")
    body.append('<h2 id="glance">At a glance</h2>')
    total, failed, fail_rows = agreement_summary(context)
    facts = []
    if total:
        facts.append(f'Agreement: <span class="ok">{total - failed} of {total} checks passed</span>' +
                     (f', <span class="fail">&nbsp;{failed} FAILED&nbsp;</span>' if failed else ""))
    counts = win_counts(context)
    if counts:
        facts.append("Fastest most often: " + ", ".join(f"<b>{_e(k)}</b> ({v})" for k, v in counts))
    if facts:
        body.append('<div class="box">' + "<br>".join(facts) + "</div>")
    header, rows = wins(context)
    if rows:
        body += ["<h3>Who wins where, by how much</h3>", _html_table(header, rows, sortable=True, table_id="wins")]
    if fail_rows:
        body += ["<h3>Failed checks</h3>", _html_table(FAIL_HEADER, fail_rows)]
    for group, heading in SECTIONS:
        chosen = [c for c in context["charts"] if c.group == group]
        if not chosen:
            continue
        body.append(f'<h2 id="{group}">{_e(heading)}</h2>')
        body += [_figure(c, folder) for c in chosen]
        if group == "scaling":
            table = _html_table(CROSS_HEADER, crossings(context), sortable=True)
            if table:
                body += ["<h3>Crossovers: where one backend overtakes another</h3>", table]
            header, rows = slopes(context)
            if rows:
                body += ["<h3>Fitted log-log slopes</h3>", '<div class="scroll">',
                         _html_table(header, rows, sortable=True), "</div>"]
        if group == "compile":
            table = _html_table(BREAK_HEADER, break_even_rows(context), sortable=True)
            if table:
                body += ['<div class="scroll">', table, "</div>"]
        if group == "article":
            article_notes = [(run.tag, n) for run in runs for doc in run.article.values() for n in doc.get("notes", [])]
            if article_notes:
                body.append("<p>Left out: " + "; ".join(f"{_e(t)}: {_e(n)}" for t, n in article_notes) + "</p>")
        if group == "compare":
            table = _html_table(COMPARE_HEADER, compare_rows(context, flagged_only=False), sortable=True,
                                table_id="compare-table")
            if table:
                body += ['<div class="scroll">', table, "</div>"]
    header, rows = summary(context)
    body.append('<h2 id="summary">Summary table</h2>')
    if rows:
        body += ['<p class="muted">Click a column header to sort.</p>', '<div class="scroll">',
                 _html_table(header, rows, sortable=True, table_id="summary-table"), "</div>"]
    else:
        body.append("<p>No timed cells in these runs.</p>")
    header, rows = environment(context)
    body += ['<h2 id="environment">Environment</h2>', _html_table(header, rows)]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) +
            f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    path.write_text(page, encoding="utf-8")
