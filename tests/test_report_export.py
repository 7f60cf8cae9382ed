"""The LaTeX tables ``bench report --export latex`` writes are valid LaTeX: read by a LaTeX parser
(pylatexenc), every brace closes, every tabular row has the columns its column spec declares, and
every character LaTeX treats specially in a name (``& % $ # _ { } ~ ^ \\``) is escaped, so the name
comes back as written; where ``pdflatex`` is installed, a document that inputs each table compiles."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pylatexenc import latex2text
from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexSpecialsNode,
    LatexWalker,
    get_default_latex_context_db,
)
from pylatexenc.macrospec import MacroSpec

from bench.report import context, export
from bench.report.load import load_runs

from .test_report import rows, write_csv

SPECIAL = "&%$#_{}~^\\"
#: names holding every special character, a run of them and a backslash before a letter (a macro if unescaped)
PROBLEMS = {"linear_regression": "lin&reg%1$x#_{a}~^\\textbf", "quadratic": "q_{2}^~#$%&\\\\}{<n>|"}
BACKENDS = {"jax": "ja&x_{}\\x", "torch": "to#rch%~^$|"}
#: two runs on machines so named: the table gains a run column, the caption names both
MACHINES = ("box&1_%<a>", "box#2~^{}\\")
#: not special to TeX, but printed as ¡ ¿ and an em dash in the default font encoding (OT1): escaped too
MISPRINTED = "<>|"
#: what a cell may hold besides characters: the escapes, the bold of the fastest, the units and ratios
MACROS = {*SPECIAL, "textbackslash", "textasciitilde", "textasciicircum", "textless", "textgreater", "textbar"}
MACROS |= {"textbf", ",", "mu", "times"}
#: LaTeX's specials a cell may use (pylatexenc's names): the en dash
SPECIALS = {"--"}
#: LaTeX's macros as the parser knows them, and \caption's arguments (an optional short caption, the caption)
MACRO_DB = get_default_latex_context_db()
MACRO_DB.add_context_category("floats", prepend=True, macros=[MacroSpec("caption", "[{")])
#: text as a reader sees it: pylatexenc's, with the symbols it does not know
TEXT_DB = latex2text.get_default_latex_context_db()
TEXT_DB.add_context_category(
    "symbols",
    prepend=True,
    macros=[
        latex2text.MacroTextSpec(name, text)
        for name, text in (("textless", "<"), ("textgreater", ">"), ("textbar", "|"))
    ],
)


def hostile_run(folder: Path, machine: str) -> Path:
    """A synthetic run whose problem, backend, row and variant names hold LaTeX's special characters."""
    records = rows(machine=machine)
    for r in records:
        r["problem"] = PROBLEMS[r["problem"]]
        if r["backend"] in BACKENDS:
            name = BACKENDS[r["backend"]]
            r["label"] = r["label"].replace(r["backend"], name, 1)
            r["backend"] = name
            r["variant"] += "_$v&"
    folder.mkdir(parents=True)
    write_csv(folder / "results.csv", records)
    (folder / "env.json").write_text(json.dumps({"machine": machine, "cores": 2, "threads": [1]}))
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("export")
    runs = load_runs([hostile_run(root / f"r{k}", m) for k, m in enumerate(MACHINES)])
    assert [run.tag for run in runs] == list(MACHINES)
    written = export.write(context.build(runs), root / "export", ["latex"])
    return {p.stem: p.read_text() for p in written}


def parse(text: str) -> list:
    """The nodes of a whole document; strict: an unclosed brace, environment or math raises."""
    nodes, _, _ = LatexWalker(text, latex_context=MACRO_DB, tolerant_parsing=False).get_latex_nodes()
    return nodes


def walk(nodes):
    for node in nodes or ():
        if node is None:
            continue
        yield node
        yield from walk(getattr(node, "nodelist", None))
        argd = getattr(node, "nodeargd", None)
        yield from walk(argd.argnlist if argd is not None else None)


def tabular(text: str) -> LatexEnvironmentNode:
    (found,) = [n for n in walk(parse(text)) if isinstance(n, LatexEnvironmentNode) and n.environmentname == "tabular"]
    return found


def spec_columns(spec: str) -> int:
    """The columns a tabular's column spec declares (``l``, ``c``, ``r``, ``p{width}``; ``|`` and ``@{}`` none)."""
    spec = re.sub(r"@\{[^}]*\}", "", spec)
    spec = re.sub(r"[pmb]\{[^}]*\}", "l", spec)
    return sum(ch in "lcr" for ch in spec)


def table_rows(env: LatexEnvironmentNode) -> list[list[list]]:
    """The rows of a tabular (split at ``\\\\``), each a list of cells (split at ``&``) of nodes; the rules
    (``\\toprule`` ...) and blank text between rows left out."""
    out, row, cell = [], [], []
    for node in env.nodelist:
        if isinstance(node, LatexMacroNode) and node.macroname == "\\":
            out.append([*row, cell])
            row, cell = [], []
        elif isinstance(node, LatexSpecialsNode) and node.specials_chars == "&":
            row.append(cell)
            cell = []
        elif not (isinstance(node, LatexMacroNode) and node.macroname.endswith("rule")):
            cell.append(node)
    assert not row and not "".join(n.latex_verbatim() for n in cell).strip(), "text after the last row"
    return out


def plain(cell: list) -> str:
    """A cell's text as a reader sees it."""
    text = (
        latex2text.LatexNodes2Text(latex_context=TEXT_DB).nodelist_to_text(cell).replace("\u02c6", "^")
    )  # \textasciicircum: the modifier letter
    return " ".join(text.split())


def unescaped(cell: list) -> list[str]:
    """What in a cell LaTeX would read as markup the export never writes, or print otherwise than written: a
    special character (or one OT1 misprints) as text, a comment, an unknown macro, a group that is no macro's
    argument, math other than a unit or a ratio."""
    found = []
    after_macro = False
    for node in walk(cell):
        if isinstance(node, LatexCharsNode):
            found += [ch for ch in node.chars if ch in SPECIAL + MISPRINTED]
        elif isinstance(node, LatexCommentNode):
            found.append(node.latex_verbatim())
        elif isinstance(node, LatexMacroNode) and node.macroname not in MACROS:
            found.append(node.latex_verbatim())
        elif isinstance(node, LatexSpecialsNode) and node.specials_chars not in SPECIALS:
            found.append(node.specials_chars)
        elif isinstance(node, LatexMathNode) and node.latex_verbatim() not in ("$\\mu$", "$\\times$"):
            found.append(node.latex_verbatim())
        elif isinstance(node, LatexGroupNode) and node.nodelist and not after_macro:
            found.append(node.latex_verbatim())
        after_macro = isinstance(node, LatexMacroNode) and node.macroname in MACROS - set(SPECIAL)
    return found


def test_both_tables_are_written_and_parse(exported):
    assert sorted(exported) == ["best-per-framework", "who-wins"]
    for text in exported.values():
        assert text.count("\\begin{") == text.count("\\end{") == 2
        nodes = parse(text)  # raises on an unclosed group, environment or math
        envs = [n for n in nodes if isinstance(n, LatexEnvironmentNode)]
        assert [e.environmentname for e in envs] == ["table"]


def test_every_row_has_the_columns_its_spec_declares(exported):
    for name, text in exported.items():
        env = tabular(text)
        (spec,) = env.nodeargd.argnlist
        columns = spec_columns(spec.latex_verbatim().strip("{}"))
        table = table_rows(env)
        header = [plain(c) for c in table[0]]
        assert header[:4] == ["problem", "size", "run", "kind"], name  # two runs: a run column
        assert len(table) == 1 + 2 * len([r for r in rows() if r["label"] == "numpy"]), name
        for k, row in enumerate(table):
            declared = f"the spec {spec.latex_verbatim()} declares {columns}"
            assert len(row) == columns, f"{name} row {k}: {len(row)} cells, {declared}"


def test_every_special_character_in_a_cell_is_escaped(exported):
    for name, text in exported.items():
        assert unescaped(captions(text)) == [], name
        for k, row in enumerate(table_rows(tabular(text))):
            for cell in row:
                assert unescaped(cell) == [], f"{name} row {k}: {''.join(n.latex_verbatim() for n in cell)}"


def test_the_names_come_back_as_written(exported):
    best = table_rows(tabular(exported["best-per-framework"]))
    header = [plain(c) for c in best[0]]
    assert set(BACKENDS.values()) <= set(header)
    for text in exported.values():
        table = table_rows(tabular(text))
        assert {plain(row[0]) for row in table[1:]} == set(PROBLEMS.values())
        assert {plain(row[2]) for row in table[1:]} == set(MACHINES)
    cells = {plain(c) for row in best[1:] for c in row}
    assert any(c.startswith("jit_$v& ") for c in cells) and any(c.startswith("compile_$v& ") for c in cells)
    caption = captions(exported["best-per-framework"])
    assert plain(caption).endswith(f"Measured on {MACHINES[0]}, {MACHINES[1]}.")


def captions(text: str) -> list:
    """The nodes of a table's caption."""
    (caption,) = [n for n in walk(parse(text)) if isinstance(n, LatexMacroNode) and n.macroname == "caption"]
    return caption.nodeargd.argnlist[-1].nodelist


def packages(text: str) -> list[str]:
    """The packages the export says its table needs (its first line: ``needs \\usepackage{booktabs}``)."""
    first = text.splitlines()[0]
    assert first.startswith("%") and "needs" in first
    return re.findall(r"\\usepackage\{([^}]+)\}", first)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (TeX Live), nothing compiles")
def test_a_document_inputting_each_table_compiles(exported, tmp_path):
    needed = sorted({p for text in exported.values() for p in packages(text)})
    assert needed == ["booktabs"]
    for name, text in exported.items():
        (tmp_path / f"{name}.tex").write_text(text)
    body = "".join(f"\\input{{{name}.tex}}\n" for name in sorted(exported))
    preamble = "".join(f"\\usepackage{{{p}}}\n" for p in needed)
    (tmp_path / "doc.tex").write_text(
        f"\\documentclass{{article}}\n{preamble}\\begin{{document}}\n{body}\\end{{document}}\n"
    )
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
    assert done.returncode == 0, "\n".join(errors) or done.stdout[-2000:]
    pdf = tmp_path / "doc.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF-")
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Missing character" not in log and "Undefined control sequence" not in log
    if shutil.which("pdftotext"):  # the printed text (poppler-utils): < > | as written, never ¡ ¿ or a dash
        shown = subprocess.run(["pdftotext", "doc.pdf", "-"], cwd=tmp_path, capture_output=True, text=True).stdout
        assert "<n>|" in shown and "<a>" in shown and not {"¡", "¿"} & set(shown)
