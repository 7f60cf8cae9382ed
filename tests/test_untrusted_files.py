"""Run folders received from someone else, and text read from files.

Nothing the tool writes follows a symbolic link planted in a folder it reads (a
link at a file's name is replaced; a folder that is a link is refused), written
files have a normal file's mode, and text read from files (file names, reasons,
labels, tags) reaches the terminal, report.md and results.csv as text only.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from rich.text import Text as RichText

from bench import article, fmt, results, safe_io
from bench.report import comparison, write_report
from bench.report import render_md as md
from bench.report.charts.base import MAX_SLUG_BYTES, slugify, unique_slugs
from bench.report.page import Bullets, Page, Section, Span, Table, Text

from .support import QUICK, bench_cli

QUICK_RUN = ["--backend", "numpy", "--problem", "quadratic", "--size", "article", "--kind", "gradient", *QUICK]
#: --resume continues the folder's own plan (a filter, --threads included, would plan anew)
RESUME = ["--max-time", "0.005", "--min-rounds", "1"]
CELL = "quadratic-article-numpy-float64-gradient-cpu-t1"
GROUP = "numpy-cpu-t1"
#: a damaged record's file name: a line an attacker chose for ~/.ssh/authorized_keys, an escape sequence, markup
HOSTILE_NAME = "x\nssh-rsa AAAAB3Nza attacker@evil\n\x1b]0;owned\x07[red]x[blink].json"
#: strings that are more than text somewhere: escape sequences, line breaks, markup, Markdown, HTML, formulas
HOSTILE_TEXTS = [
    "\x1b[2J\x1b[31mALL PASSED",
    "a\nb\r\nc",
    "[bold red]ok[/bold red]",
    "[link=https://evil.example]click[/link]",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1)) ![i](http://evil.example/t.png)",
    "# heading",
    "- item",
    "1. item",
    "> quote",
    "```",
    "| a | b |",
    '=HYPERLINK("http://evil.example")',
    "+cmd|' /C calc'!A0",
    "-1+2",
    "@SUM(A1)",
    "\tindented",
    "'quoted",
    "a\u202ebidi",
    "back\\slash",
    "&amp; entity",
    "tail #",
    "",
]


# --- a run folder as someone else could send it -------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quick") / "run"
    proc = bench_cli("run", *QUICK_RUN, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture
def received(quick_run, tmp_path) -> Path:
    """A copy of a real run folder, as if unpacked from someone else's tarball."""
    copy = tmp_path / "received"
    shutil.copytree(quick_run, copy, symlinks=True)
    return copy


@pytest.fixture
def home(tmp_path) -> Path:
    """Files outside the run folder that a planted link points at: none may change, none may appear."""
    folder = tmp_path / "home"
    folder.mkdir()
    for name in ("bashrc", "authorized_keys", "chart", "log"):
        (folder / name).write_text(f"{name}: the user's own\n")
    return folder


def untouched(home: Path) -> None:
    assert sorted(p.name for p in home.iterdir()) == ["authorized_keys", "bashrc", "chart", "log"]
    for path in home.iterdir():
        assert path.read_text() == f"{path.name}: the user's own\n", path


def plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def regular(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


# --- serious: writing through links ---------------------------------------------------------------


def test_report_replaces_links_at_its_files_and_never_follows_them(received, home):
    assert bench_cli("report", received, "--formats", "png,svg").returncode == 0
    written = sorted(p for p in (received / "report").rglob("*") if p.is_file())
    names = {p.name for p in written}
    assert {"index.html", "report.md"} <= names and any(n.endswith(".png") for n in names)
    assert any(n.endswith(".svg") for n in names)
    for k, path in enumerate(written):  # half at the user's files, half dangling (a new file would appear)
        plant(path, home / ("bashrc", "authorized_keys", "chart")[k % 3] if k % 2 == 0 else home / f"new-{k}")
    plant(received / "report" / "report.md", home / "authorized_keys")
    (received / "cells" / HOSTILE_NAME).write_text("{ damaged")

    proc = bench_cli("report", received, "--formats", "png,svg")

    assert proc.returncode == 0, proc.stderr
    untouched(home)
    for path in written:
        assert regular(path), path
    report_md = (received / "report" / "report.md").read_text()
    assert not any(line.startswith("ssh-rsa") for line in report_md.splitlines())
    assert "ssh-rsa AAAAB3Nza attacker@evil" in report_md  # shown, on the line of its warning
    assert "\x1b" not in proc.stderr + report_md and "\x07" not in proc.stderr + report_md
    assert "\\x1b" in proc.stderr  # the file name as written, escaped


@pytest.mark.parametrize("where", ["--out", "report", "charts"])
def test_report_refuses_an_output_folder_that_is_a_link(received, home, where):
    target = home / "folder"
    target.mkdir()
    args = []
    if where == "--out":
        link = received.parent / "out-link"
        args = ["--out", link]
    else:
        link = received / "report" / ("charts" if where == "charts" else "")
    plant(link, target)

    proc = bench_cli("report", received, *args)

    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "symbolic link" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(target.iterdir()) == []


def test_resume_never_follows_a_link_at_a_log_marker_table_or_record_name(received, home):
    (received / "cells" / f"{CELL}.json").unlink()  # measured again by --resume
    (received / "logs" / "article-numpy.done").unlink()  # the article's pictures drawn again
    (received / "article-numpy.json").unlink()
    logs = received / "logs"
    plant(logs / f"{GROUP}.log", home / "log")  # the old log's name, at the user's file
    plant(logs / f"{GROUP}-2.log", home / "new-log")  # the next free name, dangling
    plant(logs / "article-numpy.log", home / "bashrc")
    plant(logs / "article-numpy.done", home / "new-done")
    plant(received / "article-numpy.json", home / "new-article")
    plant(received / results.CSV, home / "new-csv")
    plant(received / "cells" / f"{CELL}.json", home / "new-record")

    proc = bench_cli("run", "--resume", "--out", received, *RESUME, timeout=120)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    untouched(home)
    for name in ("article-numpy.log", "article-numpy.done"):
        assert regular(logs / name)
    for path in (received / "article-numpy.json", received / results.CSV, received / "cells" / f"{CELL}.json"):
        assert regular(path), path
    assert json.loads((received / "cells" / f"{CELL}.json").read_text())["status"] == "ok"
    new_logs = [p for p in logs.glob(f"{GROUP}*.log") if regular(p)]
    assert new_logs and all("pytest" in p.read_text() for p in new_logs)


@pytest.mark.parametrize("folder", ["logs", ".plans", ".running"])
def test_resume_refuses_a_link_at_a_folder_it_writes_into(received, home, folder):
    (received / "cells" / f"{CELL}.json").unlink()
    (received / results.CSV).unlink()
    target = home / "folder"
    target.mkdir()
    plant(received / folder, target)

    proc = bench_cli("run", "--resume", "--out", received, *RESUME, timeout=120)

    assert proc.returncode != 0
    assert "symbolic link" in proc.stderr and folder in proc.stderr and "Traceback" not in proc.stderr
    assert list(target.iterdir()) == []


def _protocol_tax_json(path: Path, monkeypatch) -> None:
    import bench.__main__
    from bench.runner import tax_probe

    monkeypatch.setattr(tax_probe, "run_backend", lambda args, backend: [{"label": "numpy", "median": 1.0}])
    monkeypatch.setattr(tax_probe, "table", lambda rows: "")
    assert bench.__main__.main(["diagnose", "tax", "--backend", "numpy", "--json", str(path)]) == 0


WRITERS = {
    "write_json": lambda path, mp: results.write_json(path, {"a": 1}),
    "article": lambda path, mp: article.write(path.parent, {"backend": path.stem.removeprefix("article-")}),
    "render_md": lambda path, mp: md.write(Page("t", [], []), path),
    "write_text": lambda path, mp: safe_io.write_text(path, "text"),
    "open_log": lambda path, mp: safe_io.open_log(path).close(),
    "diagnose tax --json": _protocol_tax_json,
}


@pytest.mark.parametrize("dangling", [False, True], ids=["at-a-file", "dangling"])
@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_replaces_a_link_at_its_target(tmp_path, home, monkeypatch, writer, dangling):
    path = tmp_path / "run" / "article-numpy.json"
    plant(path, home / ("new" if dangling else "bashrc"))
    WRITERS[writer](path, monkeypatch)
    untouched(home)
    assert regular(path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_written_files_have_the_mode_of_a_normal_file(quick_run, tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("")
    normal = stat.S_IMODE(probe.stat().st_mode)
    out = write_report([quick_run], out=tmp_path / "report", formats=("png",), only=["times"])
    files = [
        quick_run / results.CSV,
        quick_run / "article-numpy.json",
        quick_run / "env.json",
        quick_run / "logs" / "article-numpy.done",
        quick_run / "logs" / f"{GROUP}.log",
        *quick_run.glob("cells/*.json"),
        out / "report.md",
        out / "index.html",
        *out.glob("charts/*.png"),
    ]
    assert {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {str(p): oct(normal) for p in files}


# --- text from files: terminal, rich, Markdown, CSV ------------------------------------------------

texts = st.one_of(st.sampled_from(HOSTILE_TEXTS), st.text(), st.text(alphabet=st.characters(max_codepoint=0x7F)))


def shown(text: str) -> bool:
    """No character a terminal would act on instead of showing."""
    return not any(unicodedata.category(ch) in fmt.HIDDEN_CATEGORIES for ch in text)


@given(texts)
def test_terminal_text_is_one_line_of_shown_characters(text):
    check_terminal(text)


def check_terminal(text: str) -> None:
    out = fmt.terminal(text)
    assert shown(out) and "\n" not in out
    if text.isprintable():
        assert out == text  # ordinary text is left as it is


@given(texts)
@example("\\[")  # rich reads a backslash before a bracket that starts no tag as an escape
@example("a\\[b]c\\\\[")
def test_rich_shows_text_as_written_never_as_markup(text):
    check_markup(text)


def check_markup(text: str) -> None:
    expected = fmt.terminal(text)
    if expected.endswith("\\") and not expected.endswith("\\\\"):
        expected += "\\"  # rich.markup.escape doubles a last lone backslash, so that it can escape no tag after it
    assert RichText.from_markup(fmt.markup(text)).plain == expected


def _plain(tokens) -> str:
    """What a Markdown inline token shows as text."""
    return "".join(t.content if t.type in ("text", "code_inline") else "" for t in tokens.children or [])


def _structure(document: str) -> list[str]:
    return [t.type for t in MarkdownIt("commonmark").enable("table").parse(document) if t.type != "inline"]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_texts_are_shown_as_written(text):
    check_terminal(text)
    check_markup(text)
    if fmt.terminal(" ".join(text.splitlines())).strip():
        check_markdown(text)


@settings(max_examples=200)
@given(texts)
def test_report_md_shows_text_as_written_and_starts_nothing(text):
    assume(fmt.terminal(" ".join(text.splitlines())).strip())  # blank text makes blank lines, nothing more
    check_markdown(text)


def check_markdown(text: str) -> None:
    line = fmt.terminal(" ".join(text.splitlines())).strip()
    page = Page(
        text,
        [Text([text]), Text(["before ", Span(text, "code"), " after"]), Text([Span(text)], "warn")],
        [Section("s", text, text, [Bullets([[text], ["b"]], [text]), Table(["h", "k"], [[text, "1"]], title=text)])],
    )
    benign = Page(
        "x",
        [Text(["x"]), Text(["before ", Span("x", "code"), " after"]), Text([Span("x")], "warn")],
        [Section("s", "x", "x", [Bullets([["x"], ["b"]], ["x"]), Table(["h", "k"], [["x", "1"]], title="x")])],
    )
    document = md.render(page)
    assert _structure(document) == _structure(md.render(benign))  # no line, link, image, HTML or block of its own
    tokens = [t for t in MarkdownIt("commonmark").enable("table").parse(document) if t.type == "inline"]
    assert _plain(tokens[0]).strip() == line  # the title
    assert _plain(tokens[1]).strip() == line  # the paragraph


@given(texts)
def test_csv_cells_never_start_a_formula_and_read_back_exactly(text):
    cell = fmt.csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert fmt.from_csv_cell(cell) == text


def test_results_csv_neutralises_formulas_in_text_columns_only(received):
    path = received / "cells" / f"{CELL}.json"
    rec = json.loads(path.read_text())
    hostile = {"reason": '=HYPERLINK("http://evil.example","x")', "machine": "@SUM(1)", "version": "-2+3"}
    hostile |= {"previous": "+cmd|' /C calc'!A0", "run": "'quoted"}
    path.write_text(json.dumps(rec | hostile))

    frame = results.load(received)

    with open(received / results.CSV, newline="") as fh:
        row = next(csv.DictReader(fh))
    for column in results.TEXT_COLUMNS:
        assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), column
    assert row["reason"] == "'" + hostile["reason"] and row["run"] == "''quoted"
    assert row["median"] == repr(rec["median"])  # numbers as they are
    again = results.load(received / results.CSV)
    for column, value in hostile.items():
        assert frame[column].iloc[0] == value and again[column].iloc[0] == value


def test_reasons_and_labels_from_records_reach_the_terminal_as_text(received):
    path = received / "cells" / f"{CELL}.json"
    rec = json.loads(path.read_text())
    path.write_text(json.dumps(rec | {"label": "[red]nu[/red]"}))
    bad = rec | {"cell": "bad", "kind": "hessian", "status": "error", "reason": "\x1b[2J[bold]ALL PASSED\nok"}
    (received / "cells" / "bad.json").write_text(json.dumps(bad))
    (received / "cells" / "odd\x1b[31m.json").write_text("{")

    run = bench_cli("run", "--resume", "--out", received, *RESUME, timeout=120)
    (received / "cells" / "late\x1b[31m.json").write_text("{")  # the run set the first one aside
    report = bench_cli("report", received)

    for proc in (run, report):
        assert "\x1b" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "[red]nu[/red]" in run.stdout  # the label as written, not red text
    assert "\\x1b[2J[bold]ALL PASSED\\x0aok" in run.stdout
    assert "odd\\x1b[31m.json" in run.stdout and "late\\x1b[31m.json" in report.stderr


def test_usage_errors_print_file_text_as_one_line(tmp_path):
    proc = bench_cli("report", tmp_path / "no\x1b[31mne\nline")
    assert proc.returncode == 2 and "\x1b" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# --- chart file names, empty comparisons --------------------------------------------------------


@given(st.lists(st.text(max_size=300), max_size=12))
def test_chart_file_names_are_unique_bounded_and_kept_when_they_can_be(parts):
    slugs = [slugify("times", p) for p in parts]
    names = unique_slugs(slugs)
    assert len({n.lower() for n in names}) == len(names)
    assert all(0 < len(n.encode()) <= MAX_SLUG_BYTES for n in names)
    for k, (slug, name) in enumerate(zip(slugs, names)):
        if slug and len(slug.encode()) <= MAX_SLUG_BYTES and slug.lower() not in {s.lower() for s in slugs[:k]}:
            assert name == slug or name.startswith(slug[:40])


def _renamed(quick_run: Path, folder: Path, problems: list[str]) -> Path:
    """A run folder holding only results.csv: the quick run's row once per problem name."""
    frame = results.load(quick_run, write_csv=False)
    rows = [frame.assign(problem=p, cell=f"{p}-{k}") for k, p in enumerate(problems)]
    folder.mkdir()
    import pandas as pd

    results._write_csv(pd.concat(rows, ignore_index=True), folder / results.CSV)
    return folder


def test_charts_of_colliding_or_long_names_are_all_kept(quick_run, tmp_path):
    problems = ["Quad", "quad", "q" * 300, "q" * 300 + "x", "m$\\frac{$"]  # the last: no mathtext to parse
    run = _renamed(quick_run, tmp_path / "names", problems)
    out = write_report([run], out=tmp_path / "out", formats=("png", "svg"), only=["times"])
    pngs = sorted((out / "charts").glob("times-*.png"))
    assert len(pngs) == len(problems)
    assert all(len(p.name.encode()) <= 255 for p in pngs)
    report_md = (out / "report.md").read_text()
    assert all(f"charts/{p.name}" in report_md for p in pngs)
    # mathtext is off for every text: the log axes' ticks are plain text in time units (100 µs), never raw
    # "$\mathdefault{...}$"
    svgs = [p.read_text() for p in (out / "charts").glob("times-*.svg")]
    assert svgs and not any("mathdefault" in svg for svg in svgs)
    assert any("m$\\frac{$" in svg for svg in svgs)  # the name shown as written
    assert any(re.search(r">\d[\d.,]* (ns|µs|ms|s)<", svg) for svg in svgs)


def test_an_empty_comparison_says_there_was_nothing_to_compare(quick_run, tmp_path):
    other = _renamed(quick_run, tmp_path / "other", ["linear_regression"])
    warnings: list[str] = []
    out = write_report(
        [quick_run], compare_with=other, out=tmp_path / "out", formats=("png",), only=["compare"], warn=warnings.append
    )
    assert comparison.NOTHING_TO_COMPARE in warnings
    assert comparison.NOTHING_TO_COMPARE in (out / "report.md").read_text()
    assert comparison.NOTHING_TO_COMPARE in (out / "index.html").read_text()
    same = write_report([quick_run], compare_with=quick_run, out=tmp_path / "same", formats=("png",), only=["compare"])
    assert comparison.NOTHING_TO_COMPARE not in (same / "report.md").read_text()


def test_resume_never_moves_a_damaged_record_through_a_link_at_the_set_aside_folder(tmp_path):
    """A received folder whose cells/.damaged is a link: the damaged record is not moved outside."""
    from tests.support import QUICK, bench_cli

    out, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    args = ("run", "--backend", "numpy", "--problem", "quadratic", "--size", "article", "--kind", "objective")
    assert bench_cli(*args, *QUICK, "--out", out).returncode == 0
    record = next((out / "cells").glob("*.json"))
    record.write_text("{not json")
    (out / "cells" / ".damaged").symlink_to(outside, target_is_directory=True)
    done = bench_cli(*args, *QUICK, "--out", out, "--resume")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(outside.iterdir()) == []


def test_the_write_probe_never_writes_through_a_link_at_its_name(tmp_path):
    import os

    from bench.runner.folder import RunFolder

    victim = tmp_path / "victim"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / f".write-test-{os.getpid()}").symlink_to(victim)
    RunFolder(run).create()
    assert victim.read_text() == "precious"
    assert not (run / f".write-test-{os.getpid()}").exists()
