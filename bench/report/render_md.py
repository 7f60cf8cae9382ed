"""``report.md``: the page outline (:mod:`.outline`) written as Markdown, charts linked as PNG files."""

from __future__ import annotations

from pathlib import Path

from .page import Block, Bullets, Cell, Figure, Inline, Page, Span, Table, Text


def inline(parts: list[Inline]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Span):
            out.append(f"`{part.text}`" if part.style == "code" else f"**{part.text}**")
        else:
            out.append(str(part))
    return "".join(out)


def _cell(value) -> str:
    text = value.text if isinstance(value, Cell) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(block: Table) -> list[str]:
    if not block.rows:
        return []
    out = [f"### {block.title}", ""] if block.title else []
    out += ["| " + " | ".join(_cell(h) for h in block.header) + " |", "|" + "---|" * len(block.header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
    return out + [""]


def block(b: Block) -> list[str]:
    if isinstance(b, Table):
        return table(b)
    if isinstance(b, Figure):
        chart = b.chart
        return [f"### {chart.title}", "", f"![{chart.title}]({chart.files['png']})", "", chart.caption, ""]
    if isinstance(b, Bullets):
        head = [inline(b.title), ""] if b.title else []
        return head + [f"- {inline(item)}" for item in b.items] + [""]
    if isinstance(b, Text):
        text = inline(b.parts)
        return [f"> {text}" if b.kind == "warn" else text, ""]
    raise TypeError(f"not a page block: {type(b).__name__}")


def render(page: Page) -> str:
    out = [f"# {page.title}", ""]
    for b in page.intro:
        out += block(b)
    for section in page.sections:
        out += [f"## {section.heading}", ""]
        if section.intro:
            out += [section.intro, ""]
        for b in section.blocks:
            out += block(b)
    return "\n".join(out)


def write(page: Page, path: Path) -> None:
    path.write_text(render(page), encoding="utf-8")
