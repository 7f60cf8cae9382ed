"""The versions page, described once (:mod:`bench.report.page`) and written as report.md and index.html
by the report's renderers; each comparison's chart (every cell's change with its 95% interval); the
sentence of each cell and the terminal summary."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bench.fmt import fmt_time
from bench.report.page import Bullets, Figure, Page, Section, Span, Table, TableCell, Text, number
from bench.stats import rule_words

if TYPE_CHECKING:
    from . import Comparison, Version

CALL_COLOURS = {"slower": "#d62728", "faster": "#2ca02c", "cannot tell": "#888888"}
RULE = (
    "Each version's timings come from its own virtual environment, the same plan timed in rounds that alternate "
    "the versions (so that the machine's drift hits each alike); a cell's median pools its rounds' processes, and "
    "its 95% interval holds the variation between them. The change's 95% interval combines "
    "both medians' intervals; a cell is called slower or faster where {rule}; "
    "else cannot tell: within the noise, under the minimum effect, unstable in a round, or a change the machine's "
    "own change of speed (its speed probe) can explain."
)


def _pct(x: float) -> str:
    return f"{abs(x):.0%}" if abs(x) >= 0.1 else f"{abs(x):.1%}"


def where(r: dict) -> str:
    """``logistic_regression medium gradient, jax+jit`` (and the dtype, device and threads where not the default)."""
    extra = [str(r["dtype"])] if r.get("dtype") != "float64" else []
    extra += [str(r["device"])] if r.get("device") not in ("cpu", None) else []
    return f"{r['problem']} {r['size']} {r['kind']}, {', '.join([str(r['label']), *extra])}"


def sentence(r: dict, min_effect: float) -> str:
    """One cell's verdict in words, with the change's 95% interval."""
    framework = str(r["label"]).split("+", 1)[0]
    now, before = r.get("version", ""), r.get("version_before", "")
    change, lo, hi = r["change"], r.get("change_lo"), r.get("change_hi")
    bounded = all(_number(x) for x in (change, lo, hi))
    subject = f"{framework} {now}"
    if r["verdict"] == "slower" and bounded:
        return f"{subject} is {_pct(change)} slower than {before} on {where(r)} (95% interval {_pct(lo)} to {_pct(hi)})"
    if r["verdict"] == "faster" and bounded:
        return f"{subject} is {_pct(change)} faster than {before} on {where(r)} (95% interval {_pct(hi)} to {_pct(lo)})"
    if r["verdict"] == "same" and bounded:
        why = "within the noise" if lo <= 0 <= hi else f"under the minimum effect of {min_effect:.0%}"
        return (
            f"cannot tell whether {subject} differs from {before} on {where(r)}: {change:+.1%} "
            f"(95% interval {lo:+.1%} to {hi:+.1%}), {why}"
        )
    why = r.get("why") or "no interval"
    shown = f"{change:+.1%}, " if _number(change) else ""
    return f"cannot tell whether {subject} differs from {before} on {where(r)}: {shown}{why}"


def summary_lines(comparisons: list[Comparison], limit: int = 40) -> list[str]:
    lines = []
    for c in comparisons:
        counts = c.counts()
        lines.append(
            f"{c.names[1]} against {c.names[0]} ({c.other.run.tag} vs {c.baseline.run.tag}, "
            f"{c.other.rounds} and {c.baseline.rounds} round(s)): {len(c.table)} cells, {counts['slower']} slower, "
            f"{counts['faster']} faster, {counts['cannot tell']} cannot tell"
        )
        if not len(c.table):
            continue
        order = {"slower": 0, "faster": 1, "cannot tell": 2}
        rows = sorted(c.table.to_dict("records"), key=lambda r: (order[r["call"]], -abs(_finite(r["change"]))))
        lines += [f"  {r['call']}: {r['sentence']}" for r in rows[:limit]]
        if len(rows) > limit:
            lines.append(f"  ... {len(rows) - limit} more in the report")
    return lines


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _finite(x: Any) -> float:
    return float(x) if _number(x) else 0.0


def chart(c: Comparison):
    """Every cell's change with its 95% interval (log scale), coloured by its verdict; None without a timed cell."""
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D

    from bench.report.charts.base import Chart, outside_legend, slugify
    from bench.report.charts.compare import _percent, ticks

    if not len(c.table):
        return None
    rows = [r for r in c.table.to_dict("records") if _number(r["change"])]
    if not rows:
        return None
    fig = MplFigure(figsize=(9.0, 0.32 * len(rows) + 1.6), layout="constrained")
    ax = fig.subplots()
    spans = [0.1]
    for i, r in enumerate(rows):
        ratio = 1 + r["change"]
        colour = CALL_COLOURS[r["call"]]
        lo, hi = r.get("change_lo"), r.get("change_hi")
        if _number(lo) and _number(hi):
            ax.plot([1 + lo, 1 + hi], [i, i], color=colour, linewidth=2, solid_capstyle="butt")
            spans += [abs(math.log10(1 + lo)), abs(math.log10(1 + hi))]
        ax.plot([ratio], [i], marker="o", color=colour, markeredgecolor="black", markeredgewidth=0.4)
        spans.append(abs(math.log10(ratio)))
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    span = max(spans) * 1.15
    ax.set_xlim(10**-span, 10**span)
    import matplotlib.ticker

    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks(span)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_percent))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(range(len(rows)), [where(r) for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(f"change of the median time, {c.names[1]} against {c.names[0]} (log scale; right = slower)")
    handles = [Line2D([], [], marker="o", color=colour, label=call) for call, colour in CALL_COLOURS.items()]
    outside_legend(fig, handles, [h.get_label() for h in handles])
    counts = c.counts()
    title = (
        f"{c.names[1]} against {c.names[0]}: {counts['slower']} slower, {counts['faster']} faster, "
        f"{counts['cannot tell']} cannot tell"
    )
    fig.suptitle(title, fontsize=11)
    caption = "Each line is one cell: the change of its median time and the change's 95% interval."
    return Chart("versions", slugify("versions", c.other.run.tag, "vs", c.baseline.run.tag), title, caption, fig)


def table(c: Comparison) -> Table:
    header = ["problem", "size", "kind", "row", "dtype", "device", "threads", *c.names]
    header += ["change", "95% interval", "verdict", "why"]
    rows = []
    for r in c.table.to_dict("records"):
        lo, hi = r.get("change_lo"), r.get("change_hi")
        interval = f"{lo:+.1%} to {hi:+.1%}" if _number(lo) and _number(hi) else ""
        rows.append(
            [str(r["problem"]), str(r["size"]), str(r["kind"]), str(r["label"]), str(r["dtype"]), str(r["device"])]
            + [number(r["threads"], str(r["threads"]))]
            + [number(r["median_before"], fmt_time(r["median_before"])), number(r["median"], fmt_time(r["median"]))]
            + [number(r["change"], f"{r['change']:+.1%}" if _number(r["change"]) else ""), interval]
            + [TableCell(r["call"], bad=r["call"] == "slower"), str(r.get("why") or "")]
        )
    return Table(header, rows, id=f"versions-{c.other.run.tag}", sortable=True, long=len(rows) > 20)


def agreement_line(v: Version) -> list:
    rows = v.run.agreement
    if not rows:
        return [Span(v.name), f" ({v.run.tag}): no agreement check recorded."]
    failed = sum(not r.ok for r in rows)
    if failed:
        return [Span(v.name), f" ({v.run.tag}): ", Span(f"{failed} of {len(rows)} checks failed", "fail"), "."]
    return [Span(v.name), f" ({v.run.tag}): ", Span(f"all {len(rows)} checks passed", "ok"), "."]


def outline(comparisons: list[Comparison], loaded: list[Version], charts: list, command: str, effect: float) -> Page:
    """The page; ``charts[i]``: comparison i's chart, or None."""
    intro: list = []
    for c in comparisons:
        counts = c.counts()
        intro.append(
            Text(
                [
                    Span(f"{c.names[1]} against {c.names[0]}"),
                    f": {len(c.table)} cells, {counts['slower']} slower, {counts['faster']} faster, "
                    f"{counts['cannot tell']} cannot tell.",
                ],
                "box",
            )
        )
    intro.append(Text(["Written by ", Span(command, "code"), "."], "muted"))
    sections = []
    for c, drawn in zip(comparisons, charts):
        said = [[r["sentence"]] for r in c.table.to_dict("records") if r["call"] != "cannot tell"]
        blocks: list = [Bullets(said or [["No cell changed beyond the noise and the minimum effect."]])]
        blocks += [Figure(drawn)] if drawn is not None else []
        blocks.append(table(c))
        heading = f"{c.names[1]} against {c.names[0]}"
        sections.append(Section(f"vs-{c.other.run.tag}", heading, RULE.format(rule=rule_words(effect)), blocks))
    sections.append(
        Section(
            "agreement",
            "Do the versions agree?",
            "A timing of a wrong derivative means nothing: each version's agreement check (python -m bench check).",
            [Bullets([agreement_line(v) for v in loaded])],
        )
    )
    return Page("Versions side by side", intro, sections)
