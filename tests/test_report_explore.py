"""The report to explore and export: filterable, sortable tables in scrolling boxes, folding sections, a
table of contents, values on hover in the times charts; LaTeX and CSV tables for a paper; the methods
paragraph from env.json; the verdicts as people ask them (with and without hand-derived NumPy, and a
recommendation that agrees with bench.verdicts.fastest)."""

from __future__ import annotations

import csv
import json
import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from bench import report, verdicts
from bench.__main__ import main as bench_main
from bench.fmt import fmt_time
from bench.report import export, load, verdict_table
from bench.verdicts import row_interval

from .test_report import make_run, rows, write_csv

SVG = "{http://www.w3.org/2000/svg}"


class Tags(HTMLParser):
    """Every start tag with its attributes and the open tags around it."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict, tuple[str, ...]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), tuple(self.stack)))
        if tag not in ("input", "meta", "link", "br", "img", "path", "use", "rect", "line", "circle", "polyline"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), tuple(self.stack)))

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def find(self, tag: str, **attrs) -> list[tuple[dict, tuple[str, ...]]]:
        return [(a, around) for t, a, around in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    run = make_run(root, env={"versions": {"numpy": "2.4.6", "jax": "0.10.2", "torch": "2.13.0+cpu"}})
    out = report.write_report(
        [run], out=root / "out", formats=("png", "svg"), only=["times", "agreement"], export=["latex", "csv"]
    )
    page = (out / "index.html").read_text()
    parsed = Tags()
    parsed.feed(page)
    return run, out, page, parsed


def test_every_table_sorts_filters_and_scrolls_in_its_own_box(explored):
    _, _, page, parsed = explored
    tables = parsed.find("table")
    assert len(tables) >= 4
    filters = {a["data-table"] for a, _ in parsed.find("input") if "filter" in a.get("class", "")}
    for attrs, around in tables:
        assert attrs["class"] == "sortable" and attrs["id"] in filters, attrs
        assert "div" in around and "details" in around  # in its box, in a section
    assert len(filters) == len(tables)
    boxes = [a for a, _ in parsed.find("div") if "wrap" in a.get("class", "").split()]
    assert len(boxes) == len(tables) and ".wrap{overflow-x:auto" in page
    assert "<script>" in page and not re.search(r'<script[^>]+src=|(src|href)="(https?:)?//', page)


def test_sections_fold_the_first_open_and_a_contents_list_links_them(explored):
    _, _, page, parsed = explored
    sections = parsed.find("details", **{"class": "section"})
    assert len(sections) >= 4
    assert "open" in sections[0][0] and sections[0][0]["id"] == "glance"
    assert not any("open" in a for a, _ in sections[1:] if a["id"] in ("times", "summary", "environment", "methods"))
    for _, around in parsed.find("h2"):
        assert around[-1] == "summary"
    links = {a["href"] for a, around in parsed.find("a") if "nav" in around}
    assert {f"#{a['id']}" for a, _ in sections} <= links


def test_times_charts_are_inline_svg_with_each_rows_value_and_interval_on_hover(explored):
    run, out, page, _ = explored
    frame = load.combine([load.load_run(run)])
    svg = out / "charts" / "times-linear_regression-small-float64-cpu.svg"
    tree = ET.parse(svg)
    titles = [
        t.text for g in tree.iter(f"{SVG}g") if g.get("id", "").startswith("hover-") for t in g.iter(f"{SVG}title")
    ]
    rows_ = frame[(frame["problem"] == "linear_regression") & (frame["size"] == "small") & (frame["status"] == "ok")]
    assert len(titles) == len(rows_) > 10  # one per drawn row of every panel
    for r in rows_.to_dict("records"):
        iv = row_interval(r)
        want = f"{r['label']} · {r['kind']}: {fmt_time(r['median'])}"
        found = [t for t in titles if t.startswith(want + " ")]
        assert len(found) == 1, want
        assert f"95% interval {fmt_time(iv.lo)} – {fmt_time(iv.hi)}" in found[0]
    # over the PNG in the page, a layer of the same bands and titles (an <img> alone shows none)
    assert page.count('<svg id="times-') == 6 and "times-linear_regression-small-float64-cpu-hover-0" in page
    layer = page.split('<svg id="times-linear_regression-small-float64-cpu-svg"')[1].split("</svg>")[0]
    assert sorted(re.findall(r"<title>(.*?)</title>", layer)) == sorted(titles)
    assert page.count('<img src="data:image/png;base64,') == len(list((out / "charts").glob("*.png")))


def test_latex_has_one_row_per_csv_row_with_the_same_numbers(explored):
    _, out, _, _ = explored
    records = list(csv.DictReader((out / "export" / "best-per-framework.csv").open()))
    tex = (out / "export" / "best-per-framework.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "booktabs" in tex
    assert tex.count("{") == tex.count("}") and "\\begin{tabular}" in tex and "\\end{table}" in tex
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    header = tex.split("\\toprule\n")[1].split("\\\\")[0].split(" & ")
    assert len(body) == len(records) > 20
    backends = [h for h in header if h in ("numpy", "jax", "torch", "tensorflow", "article")]
    assert backends == ["article", "numpy", "jax", "torch", "tensorflow"]  # the article's loop: solve only
    for line, r in zip(body, records):
        cells = line.rstrip(" \\").split(" & ")
        assert len(cells) == len(header)
        assert cells[0] == r["problem"].replace("_", "\\_") and cells[2] == r["kind"]
        for b in backends:
            cell = cells[header.index(b)]
            if not r[f"{b} median (s)"]:
                assert cell == "--"
                continue
            median, lo, hi = (float(r[f"{b} {c}"]) for c in ("median (s)", "95% low (s)", "95% high (s)"))
            _, scale, spelling = export.unit(median)
            assert f"{median / scale:.3g}\\,{spelling} ({lo / scale:.3g}--{hi / scale:.3g})" in cell
            assert cell.startswith("\\textbf{") == (r["outcome"] == "ahead" and r["fastest"] == r[f"{b} row"])
    wins = list(csv.DictReader((out / "export" / "who-wins.csv").open()))
    assert len(wins) == len(records) and all(w["recommendation"].startswith("For ") for w in wins)
    assert (out / "export" / "who-wins.tex").read_text().count("\\\\\n") == len(wins) + 1


def test_an_unknown_export_format_is_a_one_line_usage_error(run_dir_small, capsys):
    assert bench_main(["report", str(run_dir_small), "--export", "pdf", "--only", "agreement"]) == 2
    err = capsys.readouterr().err
    assert "unknown export format 'pdf'; choose from latex, csv" in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def run_dir_small(tmp_path):
    return make_run(tmp_path)


def test_methods_paragraph_comes_from_env_json(tmp_path):
    env = {
        "cpu": "Example CPU 9000",
        "versions": {"python": "3.11.9", "numpy": "9.8.7", "jax": "0.99.1", "tensorflow-cpu": "7.6.5"},
        "threads": [3],
        "repeat": "contenders",
        "harness_version": "0.1.0",
        "git_commit": "0123456789abcdef0123",
        "machine_state": {"jax-cpu-t3": {"others_cpu_share": 0.02, "steal_share": 0.0, "verdict": None}},
    }
    run = make_run(tmp_path, env=env)
    out = report.write_report([run], out=tmp_path / "out", formats=("png",), only=["agreement"])
    text = (out / "methods.md").read_text()
    for words in (
        "Example CPU 9000",
        "NumPy 9.8.7",
        "JAX 0.99.1",
        "TensorFlow (tensorflow-cpu) 7.6.5",
        "Python 3.11.9",
        "3 thread(s)",
        "--repeat contenders",
        "autodiff-bench 0.1.0 at commit 0123456789ab",
        "95% interval",
        "minimum effect of 10%",
        "other processes used at most 2% of the CPUs",
        "no group was flagged",
    ):
        assert words in text, words
    assert "NumPy 2.4.6" not in text and "PyTorch" not in text  # nothing the run did not record
    md = (out / "report.md").read_text()
    assert "## Methods" in md and "NumPy 9.8.7" in md.split("## Methods")[1]
    assert 'id="methods"' in (out / "index.html").read_text()


def test_a_run_that_recorded_little_says_so(tmp_path):
    run = make_run(tmp_path, env={"versions": {}, "cpu": ""})
    out = report.write_report([run], out=tmp_path / "out", formats=("png",), only=["agreement"])
    text = (out / "methods.md").read_text()
    assert "framework versions not recorded" in text and "measured in one process" in text


def test_a_table_kept_without_its_rounds_says_where_its_intervals_came_from(tmp_path):
    """A folder holding results.csv with each interval but no cell records (the committed reference run) was
    measured twice per cell and had its between-process noise when it ran: "assumed 5%" would be untrue."""
    kept = [{**r, "processes": 2, "ci_lo": r["median"] * 0.9, "ci_hi": r["median"] * 1.1} for r in rows("r1")]
    texts = {}
    for name, table in (("table", kept), ("bare", rows("r1"))):
        run = make_run(tmp_path / name)
        write_csv(run / "results.csv", [r for r in table if r["status"] == "ok" and r["median"] == r["median"]])
        out = report.write_report([run], out=tmp_path / name / "out", formats=("png",), only=["agreement"])
        texts[name] = (out / "methods.md").read_text()
    assert "computed when the run was made, from its raw rounds" in texts["table"]
    assert "assumed 5%" not in texts["table"]
    assert "assumed 5%" in texts["bare"] and "computed when the run was made" not in texts["bare"]


def _frame(tmp_path, medians: dict[str, float], name: str = "r1"):
    """A one-group run (quadratic, small, gradient) with these medians per label."""
    records = [
        r
        for r in rows(name)
        if (r["problem"], r["size"], r["kind"]) == ("quadratic", "small", "gradient") and r["label"] in medians
    ]
    for r in records:
        r["median"], r["iqr"] = medians[r["label"]], medians[r["label"]] * 0.02
    folder = tmp_path / name
    folder.mkdir()
    write_csv(folder / "results.csv", records)
    return load.combine([load.load_run(folder)])


@pytest.mark.parametrize(
    "medians,words",
    [
        ({"numpy": 3e-3, "jax+jit": 1e-3, "torch+compile": 1.5e-3}, "use jax+jit: 1.50x"),
        ({"numpy": 3e-3, "jax+jit": 1e-3, "torch+compile": 1.01e-3}, "no clear winner: jax+jit and torch+compile tie"),
        ({"numpy": 0.2e-3, "jax+jit": 1e-3, "torch+compile": 1.5e-3}, "hand-derived NumPy is faster still, 5.00x"),
        ({"numpy": 3e-3, "jax+jit": 1e-3}, "jax+jit is the only autodiff row timed"),
    ],
)
def test_the_recommendation_agrees_with_verdicts_fastest(tmp_path, medians, words):
    frame = _frame(tmp_path, medians)
    (entry,) = verdict_table.verdict_rows(frame)
    hand = verdict_table.hand_mask(frame)
    (auto,) = verdicts.fastest(frame[~hand], name="series").to_dict("records")
    (full,) = verdicts.fastest(frame, name="series").to_dict("records")
    assert entry["autodiff"]["fastest"] == auto["fastest"] and entry["all"]["fastest"] == full["fastest"]
    text = entry["recommendation"]
    assert text.startswith("For quadratic gradient at size small") and words in text, text
    if auto["outcome"] == "ahead":
        assert f"use {entry['autodiff']['fastest_label']}:" in text and "no clear winner" not in text
    else:
        assert "use " not in text
    if "numpy" in medians and medians["numpy"] > 2 * min(medians.values()):
        assert "hand-derived NumPy is" in text and "slower" in text


def test_the_who_wins_table_shows_both_verdicts_and_the_recommendation(explored):
    _, out, page, _ = explored
    md = (out / "report.md").read_text()
    glance = md.split("## At a glance")[1].split("\n## ")[0]
    assert "fastest including hand-derived NumPy" in glance and "fastest among the autodiff frameworks" in glance
    assert "among the autodiff frameworks only:" in glance
    table = [line for line in glance.splitlines() if line.startswith("| linear_regression | medium | gradient")]
    assert len(table) == 1 and "For linear regression gradient at size medium" in table[0]


def test_side_by_side_runs_each_get_their_own_verdicts(tmp_path):
    a = make_run(tmp_path / "a", "one", machine="box-a")
    b = make_run(tmp_path / "b", "two", machine="box-b", slow={"jax+jit": 5.0})
    frame = load.combine(load.load_runs([a, b]))  # each run named by its machine
    entries = verdict_table.verdict_rows(frame)
    assert {e["run"] for e in entries} == {"box-a", "box-b"}
    for e in entries:
        for which in ("all", "autodiff"):
            v = e[which]
            named = [v["fastest"]] + ([v["runner_up"]] if v["runner_up"] else [])
            assert all(s.endswith(f" @ {e['run']}") for s in named)  # never a machine against another
        assert e["recommendation"].count(f"({e['run']})") == 1


# --- in a real browser -----------------------------------------------------------------------------


@pytest.fixture
def chrome():
    from . import test_browser

    path = test_browser.find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM=/path/to/chrome)")
    browser = test_browser.Browser(path)
    yield browser, test_browser
    browser.close()


@pytest.mark.slow  # Chromium is a process of its own
def test_filter_and_hover_in_a_browser(chrome, explored):
    browser, tb = chrome
    _, out, _, _ = explored
    session = tb.open_page(browser, out / "index.html")
    count = "document.querySelectorAll('#wins tbody tr:not([hidden])').length"
    total = tb.evaluate(browser, session, count)
    tb.evaluate(
        browser,
        session,
        """(() => { const i = document.querySelector('input[data-table="wins"]');
           i.value = 'quadratic   GRADIENT'; i.dispatchEvent(new Event('input')); })()""",
    )
    shown = tb.evaluate(
        browser,
        session,
        "Array.from(document.querySelectorAll('#wins tbody tr:not([hidden])'))"
        ".map(tr => tr.cells[0].textContent + ' ' + tr.cells[2].textContent)",
    )
    assert total > len(shown) == 3 and all(s == "quadratic gradient" for s in shown)
    assert "3 of" in tb.evaluate(browser, session, "document.getElementById('wins-count').textContent")
    # a folded section opens when a link leads into it; then the mark under the pointer names its row
    tb.evaluate(browser, session, "location.hash = '#times'")
    time.sleep(0.2)
    assert tb.evaluate(browser, session, "document.getElementById('times').open") is True
    hovered = tb.evaluate(
        browser,
        session,
        """(() => { const g = document.querySelector('svg.hover g[id$="-hover-0"]');
           g.scrollIntoView({block: 'center'});
           const r = g.getBoundingClientRect();
           const hit = document.elementFromPoint(r.left + r.width * 0.5, r.top + r.height / 2);
           const group = hit && hit.closest('g[id*="-hover-"]');
           return group ? group.querySelector('title').textContent : null; })()""",
    )
    assert hovered and re.match(r"^\S+ · \w+: [\d.]+ (ns|µs|ms|s) \(95% interval ", hovered), hovered
    width = tb.evaluate(browser, session, "document.documentElement.scrollWidth")
    assert width > 0
    time.sleep(0.2)
    tb.evaluate(browser, session, "1")
    assert tb.problems_on(browser, session) == []


@pytest.mark.slow  # Chromium is a process of its own
def test_the_page_fits_a_narrow_screen(chrome, explored):
    browser, tb = chrome
    _, out, _, _ = explored
    session = tb.open_page(browser, out / "index.html")
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": True},
        session=session,
    )
    tb.evaluate(browser, session, "document.querySelectorAll('details.section').forEach(d => d.open = true)")
    time.sleep(0.2)
    width = tb.evaluate(browser, session, "document.documentElement.scrollWidth")
    assert width <= 420, width  # wide tables scroll inside their own box, never the page
    wide = tb.evaluate(
        browser,
        session,
        "Math.max(...Array.from(document.querySelectorAll('.wrap')).map(w => w.scrollWidth - w.clientWidth))",
    )
    assert wide > 0  # and some table is wider than the screen, so the check above means something
    assert json.dumps(tb.problems_on(browser, session)) == "[]"


def test_charts_for_a_paper_as_pdf(tmp_path):
    run = make_run(tmp_path)
    out = report.write_report([run], out=tmp_path / "out", formats=("png", "pdf"), only=["agreement"])
    pdfs = sorted((out / "charts").glob("*.pdf"))
    assert pdfs and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert report.chart_formats("pdf", 100) == ["png", "pdf"]
