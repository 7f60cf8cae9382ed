"""The history page, described once (:mod:`bench.report.page`) and written as report.md and
index.html by the report's own renderers; and the terminal summary."""

from __future__ import annotations

from bench.fmt import fmt_time
from bench.report.page import Block, Bullets, Figure, Page, Section, Span, Table, TableCell, Text, number
from bench.stats import rule_words

from .model import History, Step, commit, version_changes
from .steps import MIN_SEGMENT

RULE = (
    "A step is a change of a cell's median between two stretches of runs: each stretch's level is the median of "
    "its runs' medians, with an interval from the runs' own 95% intervals or, where larger, from how much the runs "
    "scatter. The change's interval is 95% for the whole series (every run tried as the step); a step is called "
    "where {rule}; and it persists: at least "
    f"{MIN_SEGMENT} runs on each side, every later run nearer to the new level than to the old one. "
    "Runs of different machines are never one series."
)

TOO_FEW = (
    f"fewer than {2 * MIN_SEGMENT} runs of a machine: no step can be told yet "
    f"({MIN_SEGMENT} runs are needed on each side)"
)


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def interval_text(step: Step) -> str:
    c = step.found.change
    return f"{_pct(c.lo - 1)} to {_pct(c.hi - 1)}"


def changes_at(history: History, step: Step) -> str:
    """The versions and commit that changed between the last run before the step and its first run."""
    timeline = history.timelines[step.series.machine]
    before, at = timeline.runs[step.before], timeline.runs[step.at]
    parts = version_changes(before, at)
    if commit(before) != commit(at):
        parts.append(f"commit {commit(before) or '-'} → {commit(at) or '-'}")
    return "; ".join(parts) or "nothing recorded changed"


def steps_table(history: History) -> Table:
    header = ["machine", "problem", "size", "kind", "row", "dtype", "device", "threads", "verdict", "change"]
    header += ["95% interval", "before", "after", "runs before/after", "first run on the new level", "what changed"]
    rows = []
    for step in history.steps:
        s, f = step.series, step.found
        timeline = history.timelines[s.machine]
        c = s.cell
        rows.append(
            [s.machine, str(c["problem"]), str(c["size"]), str(c["kind"]), str(c["label"]), str(c["dtype"])]
            + [str(c["device"]), number(c["threads"], str(c["threads"]))]
            + [TableCell(f.verdict, bad=f.verdict == "slower"), number(step.change, _pct(step.change))]
            + [
                interval_text(step),
                number(f.before.value, _time(f.before.value)),
                number(f.after.value, _time(f.after.value)),
            ]
            + [f"{f.runs_before}/{f.runs_after}", f"{timeline.runs[step.at].tag} ({timeline.dates[step.at]:%Y-%m-%d})"]
            + [changes_at(history, step)]
        )
    return Table(header, rows, id="steps", sortable=True, long=len(rows) > 20)


def _time(seconds: float) -> str:
    return fmt_time(seconds)


def runs_table(history: History) -> Table:
    rows = []
    for timeline in history.timelines.values():
        for i, run in enumerate(timeline.runs):
            frame = run.table
            ok = int((frame["status"] == "ok").sum()) if len(frame) else 0
            rows.append(
                [timeline.machine, number(i + 1, str(i + 1)), run.tag, f"{timeline.dates[i]:%Y-%m-%d %H:%M}"]
                + [commit(run) or "-", "; ".join(timeline.changes(i)) or ("-" if i else "first run")]
                + [number(ok, str(ok))]
            )
    header = ["machine", "#", "run", "date", "commit", "versions changed since the run before", "ok cells"]
    return Table(header, rows, id="runs", sortable=True, long=len(rows) > 20)


def outline(history: History, charts: list, command: str, skipped: list[str]) -> Page:
    steps = history.steps
    slower = sum(s.found.verdict == "slower" for s in steps)
    runs = sum(len(t.runs) for t in history.timelines.values())
    intro: list = [
        Text(
            [
                Span(f"{len(steps)} step(s)"),
                f": {slower} slower, {len(steps) - slower} faster, over {len(history.series)} cells, "
                f"{runs} runs on {len(history.timelines)} machine(s).",
            ],
            "box",
        ),
        Text(["Written by ", Span(command, "code"), "."], "muted"),
    ]
    if history.timelines and max(len(t.runs) for t in history.timelines.values()) < 2 * MIN_SEGMENT:
        intro.append(Text([TOO_FEW + "."], "warn"))
    if history.single:
        intro.append(Text([f"Left out (one run only, no history): {', '.join(history.single)}."], "muted"))
    if skipped:
        intro.append(Bullets([[line] for line in skipped], ["Files left out:"], "muted"))
    overview: list[Block] = [Figure(c) for c in charts if c.group == "history"]
    worst: list[Block] = [Figure(c) for c in charts if c.group == "history-step"]
    sections = [
        Section(
            "steps",
            "Regressions and improvements",
            RULE.format(rule=rule_words(history.min_effect)),
            [steps_table(history)],
        ),
        Section(
            "worst", "The worst steps", "Each one's cell over the runs, the levels either side of the step.", worst
        ),
        Section("cells", "Every cell over the runs", "One chart per machine.", overview),
        Section("runs", "The runs", "In date order per machine.", [runs_table(history)]),
    ]
    if not steps:
        sections[0].blocks.insert(0, Text(["No step found: no cell changed beyond the noise in a way that persisted."]))
    return Page(f"History of {runs} runs", intro, sections)


def summary_lines(history: History, worst: int = 5) -> list[str]:
    steps = history.steps
    slower = [s for s in steps if s.found.verdict == "slower"]
    faster = [s for s in steps if s.found.verdict == "faster"]
    runs = sum(len(t.runs) for t in history.timelines.values())
    lines = [
        f"history of {runs} runs on {len(history.timelines)} machine(s), {len(history.series)} cells: "
        f"{len(steps)} step(s), {len(slower)} slower, {len(faster)} faster (minimum effect {history.min_effect:.0%})"
    ]
    for group in (slower[:worst], faster[:worst]):
        for step in group:
            timeline = history.timelines[step.series.machine]
            lines.append(
                f"  {step.found.verdict}: {step.series.name} on {step.series.machine} {_pct(step.change)} "
                f"({interval_text(step)}) at {timeline.runs[step.at].tag} ({changes_at(history, step)})"
            )
    if history.single:
        lines.append(f"left out, one run only: {', '.join(history.single)}")
    if history.timelines and max(len(t.runs) for t in history.timelines.values()) < 2 * MIN_SEGMENT:
        lines.append(TOO_FEW)
    return lines
