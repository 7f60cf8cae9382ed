"""``report.md``: the page outline (:mod:`.outline`) written as Markdown, charts linked as PNG files.

Every piece of text is written through :func:`bench.fmt.markdown` (or :func:`bench.fmt.markdown_code`): a
file name, a reason or a tag read from a run folder shows as written, on its line, and can start no line,
link, image or HTML of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench import safe_io
from bench.fmt import markdown, markdown_code

from .page import Block, Bullets, Figure, Inline, Page, Span, Table, TableCell, Text

#: what makes a line a heading, a list item, a rule or a fence when it starts one (after
#: :func:`bench.fmt.markdown`, which escapes the rest): escaped where text starts a line
LINE_START = re.compile(r"^(?:[#+\-=~]|\d{1,9}(?=[.)]))")


def line(text: str) -> str:
    """Inline Markdown placed at the start of a line (or after ``- ``, ``> ``): it starts no block of its own."""
    text = text.lstrip()
    found = LINE_START.match(text)
    if found is None:
        return text
    at = found.end() if text[0].isdigit() else 0
    return text[:at] + "\\" + text[at:]


def heading(level: int, text: str) -> str:
    """``## text``: a ``#`` at its end is escaped, so that Markdown does not take it for a closing sequence."""
    return "#" * level + " " + re.sub(r"(?<!\\)(#+)$", r"\\\1", line(markdown(text)))


def inline(parts: list[Inline]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Span):
            out.append(markdown_code(part.text) if part.style == "code" else f"**{markdown(part.text)}**")
        else:
            out.append(markdown(part))
    return "".join(out)


def _cell(value) -> str:
    return markdown(value.text if isinstance(value, TableCell) else value)


def table(block: Table) -> list[str]:
    if not block.rows:
        return []
    out = [heading(3, block.title), ""] if block.title else []
    out += ["| " + " | ".join(_cell(h) for h in block.header) + " |", "|" + "---|" * len(block.header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
    return out + [""]


def block(b: Block) -> list[str]:
    if isinstance(b, Table):
        return table(b)
    if isinstance(b, Figure):
        chart = b.chart
        image = f"![{markdown(chart.title)}]({chart.files['png']})"
        return [heading(3, chart.title), "", image, "", line(markdown(chart.caption)), ""]
    if isinstance(b, Bullets):
        head = [line(inline(b.title)), ""] if b.title else []
        return head + [f"- {line(inline(item))}" for item in b.items] + [""]
    if isinstance(b, Text):
        text = line(inline(b.parts))
        return [f"> {text}" if b.kind == "warn" else text, ""]
    raise TypeError(f"not a page block: {type(b).__name__}")


def render(page: Page) -> str:
    out = [heading(1, page.title), ""]
    for b in page.intro:
        out += block(b)
    for section in page.sections:
        out += [heading(2, section.heading), ""]
        if section.intro:
            out += [line(markdown(section.intro)), ""]
        for b in section.blocks:
            out += block(b)
    return "\n".join(out)


def write(page: Page, path: Path) -> None:
    safe_io.write_text(path, render(page))
