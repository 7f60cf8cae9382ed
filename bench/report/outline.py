"""The report page, described once: its title, intro, and sections of text, tables
and charts in reading order. ``report.md`` and ``index.html`` are both written from
:func:`outline` (by :mod:`.render_md` and :mod:`.render_html`); the sections between "At a glance"
and the summary are :data:`.sections.SECTIONS`."""

from __future__ import annotations

from bench.fmt import fmt_x
from bench.tax import GOAL

from . import methods, tables, verdict_table
from . import sections as page_sections
from .comparison import NOT_REGRESSIONS, not_comparable, tally
from .load import incomplete
from .page import Bullets, Figure, Page, Section, Span, Text
from .sections import joined


def title(context) -> str:
    return f"Autodiff benchmark report: {', '.join(context.tags)}"


def outline(context) -> Page:
    """The whole page of a report (its charts already drawn, in ``context.charts``)."""
    intro = [
        Text(
            [
                f"Generated {context.created} by ",
                Span(context.command, "code"),
                ". Times are per call, in s, ms or µs as written (the median over rounds); lower is better.",
            ],
            "muted",
        )
    ]
    skipped = context.skipped()
    if skipped:
        intro.append(
            Bullets(
                [[Span(line, "code")] for line in skipped],
                [Span("Files skipped"), " (corrupt, truncated or foreign):"],
                "warn",
            )
        )
    verdicts = context.who_wins()
    sections = [glance(context, verdicts)]
    for s in page_sections.SECTIONS:
        if s.shown_with not in context.groups:
            continue
        figures = [Figure(c) for c in context.charts if c.group == s.ident]
        sections.append(Section(s.ident, s.heading, s.intro, s.blocks(context, figures)))
    sections.append(
        Section(
            "summary",
            "Summary table",
            "Every cell of every run. Memory added: the cell's peak resident memory above the worker's just before"
            " it (its data, compiled code and the first two calls; the framework's own runtime is not counted).",
            [tables.summary(context)] if not context.frame.empty else [Text(["No timed cells in these runs."])],
        )
    )
    sections.append(method_section(context))
    sections.append(Section("environment", "Environment", "", [tables.environment_table(context)]))
    return Page(title(context), intro, [s for s in sections if s], folded=True)


def method_section(context) -> Section:
    """The methods paragraph of every run (also written as methods.md), for a paper's methods section."""
    blocks = []
    for tag, sentences in methods.paragraphs(context):
        blocks.append(Text(([Span(tag), ": "] if context.several else []) + [" ".join(sentences)]))
    intro = "Generated from each run folder's env.json and records (also written beside this page as methods.md)."
    return Section("methods", "Methods", intro, blocks)


def glance(context, verdicts: list[dict] | None = None) -> Section:
    total, failed, failures = tables.failed_checks(context)
    facts = []
    if total:
        facts.append(
            ["Agreement: ", Span(f"{total - failed} of {total} checks passed", "ok")]
            + ([", ", Span(f"{failed} FAILED", "fail"), " (below)"] if failed else [])
            + ["."]
        )
    unchecked, timed, reasons = tables.unchecked_counts(context)
    if unchecked:
        facts.append(
            ["Not checked: ", Span(f"{unchecked} of {timed} timed rows", "fail"), " have no passing agreement check ("]
            + joined([[f"{why}: {n}"] for why, n in reasons])
            + ["); the summary table marks them ", Span("not checked", "code"), "."]
        )
    if verdicts is None:
        verdicts = context.who_wins()
    counts = verdict_table.counts(verdicts, "all")
    autodiff = verdict_table.counts(verdicts, "autodiff")
    outcomes = tables.outcome_counts(context)
    if outcomes:
        line = ["Who wins: "]
        if counts:
            line += [f"fastest beyond the noise most often, including {verdict_table.HAND}: "]
            line += joined([[Span(k), f" ({v})"] for k, v in counts]) + ["; "]
        if autodiff:
            line += ["among the autodiff frameworks only: "]
            line += joined([[Span(k), f" ({v})"] for k, v in autodiff]) + ["; "]
        line += [
            f"of {sum(outcomes.values())} comparisons, {outcomes['ahead']} have a winner ahead beyond this run's "
            f"95% intervals and the 10% minimum effect, {outcomes['tie']} are ties, {outcomes['unknown']} "
            "cannot be told (an unstable row, one row, or a planned row missing)"
        ]
        rounds = tables.settled_count(context)
        line += [
            f"; {rounds} of them called on their close rows timed again in the same interleaved rounds "
            '(python -m bench settle), said "in the same rounds".'
            if rounds
            else "."
        ]
        facts.append(line)
    for run in reversed(context.runs):  # said first: a missing row may be the one that would have won
        missing, not_ok = incomplete(run)
        if missing or not_ok:
            facts.insert(
                0,
                [Span("Incomplete run:", "fail"), f" {len(missing)} of {len(run.planned)} planned cells have no record"]
                + [f" and {len(not_ok)} did not end ok" if not_ok else ""]
                + [f" ({run.tag})" if context.several else "", "; no winner is called in their groups."],
            )
    tax = context.tax
    if tax is not None and len(tax):
        calls = tax["call"].value_counts()
        worst = tax.loc[tax["tax"].idxmax()]
        facts.append(
            [
                "Protocol tax: ",
                Span(f"{int(calls.get('within', 0))} of {len(tax)}"),
                f" headline rows within {1 / GOAL:.2f}-{GOAL:.2f}× of an expert's code with their whole 95% interval, "
                f"{int(calls.get('above', 0))} above it, {int(calls.get('witness_slow', 0))} where a protocol row "
                f"beats the witness (the witness is not the expert's best), {int(calls.get('unclear', 0))} this run "
                "cannot tell; the largest ",
                Span(fmt_x(worst["tax"])),
                f" ({worst['best']}, {worst['problem']} {worst['kind']}).",
            ]
        )
    if context.baseline is not None and context.compare is not None and len(context.compare):
        n = tally(context.compare)
        facts.append(
            [f"Against {context.baseline.tag}: "]
            + [Span(f"{n['slower']} slower", "fail" if n["slower"] else "ok"), ", "]
            + [Span(f"{n['faster']} faster"), f", {n['same']} no difference seen, {n['unknown']} cannot tell"]
            + [f", {n['status']} status changed" if n["status"] else ""]
            + [f" of {len(context.compare)} cells (a change beyond both runs' 95% intervals and the minimum effect)."]
        )
    if context.baseline is not None and any(not_comparable(c) for c in context.env_changes.values()):
        facts.append([Span(NOT_REGRESSIONS, "fail")])
    for run in context.runs:  # the runner's own verdict on each worker group: was the machine quiet?
        for verdict in run.env.verdicts:
            facts.append(
                [Span("Not a quiet machine:", "fail"), " " + verdict + (f" ({run.tag})" if context.several else "")]
            )
    blocks = [Bullets(facts, kind="box")] if facts else []
    return Section("glance", "At a glance", "", blocks + [verdict_table.wins(verdicts), failures])
