"""Charts and a self-contained report of one or more runs.

``python -m bench report RUN_DIR [RUN_DIR ...] [--compare OTHER_RUN_DIR] [--out DIR]``

Reads each run folder's tidy results (``results.csv`` or ``cells/*.json``), its
agreement check (``agreement.json``), its environment (``env.json``) and the
article pictures (``article-*.json``), and writes into ``--out`` (default
``RUN_DIR/report``):

* ``charts/*.png`` and ``charts/*.svg`` (and ``*.pdf`` with ``--formats png,pdf``): time per row label
  with its 95% interval, scaling with fitted slopes and crossovers, derivative/objective ratios, first
  call against steady state and the calls after which compiling pays off, the
  protocol tax (our best row against an expert's witness), the agreement heatmap,
  the article's pictures, and with ``--compare`` the relative change of every cell;
* ``report.md`` and ``index.html`` (every chart embedded, values on hover over the times and scaling charts,
  every table sortable and filterable, sections that fold, the environment of every run), both from one
  page outline, and ``methods.md`` (the methods paragraph, from each run's env.json and records);
* with ``--export latex,csv``: ``export/*.tex`` (booktabs) and ``export/*.csv``, the tables for a paper.

Several run folders (one per machine or CI job) are shown side by side, each
row tagged ``label @ run``. A corrupt, truncated or foreign file is named in a
warning, skipped, and the rest is used. Nothing is written through a symbolic
link: an output folder (``--out``, ``report/``, ``charts/``) that is one is
refused, and a link at a file's name is replaced (:mod:`bench.safe_io`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bench import safe_io
from bench.cli import UsageError, choose
from bench.fmt import terminal

from .load import DEFAULT_RESULTS, load_run, load_runs, newest_run, shared_probe_floor
from .sections import chart_groups

#: exit status of ``--fail-on-slower`` when a cell is slower
EXIT_SLOWER = 5
#: the chart files a report can write (matplotlib draws each natively)
CHART_FORMATS = ("png", "svg", "pdf")
HELP = "draw the charts and write report.md and index.html for one or more run folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        nargs="*",
        metavar="RUN_DIR",
        help="run folder(s) to report on; several are shown side by side "
        f"(default: the newest folder under {DEFAULT_RESULTS}/)",
    )
    parser.add_argument(
        "--compare",
        metavar="OTHER_RUN_DIR",
        help="a run to compare against: relative change of every cell, flagged beyond the noise",
    )
    parser.add_argument(
        "--min-effect",
        metavar="PCT",
        default="10",
        help="with --compare: the smallest change called slower or faster, in percent (default: 10); a change "
        "must also lie beyond both runs' 95%% intervals",
    )
    parser.add_argument(
        "--fail-on-slower",
        metavar="PCT",
        help=f"with --compare: exit with status {EXIT_SLOWER} when a cell is called slower by PCT percent or more, "
        "or a cell ok before ended otherwise (like pytest-benchmark's --benchmark-compare-fail)",
    )
    parser.add_argument("--out", metavar="DIR", help="where to write the report (default: RUN_DIR/report)")
    parser.add_argument(
        "--formats",
        default="png,svg",
        help="chart formats, comma-separated: " + ", ".join(CHART_FORMATS) + " (default: png,svg; pdf for a paper)",
    )
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution (default: 100)")
    parser.add_argument(
        "--only", metavar="NAMES", help="draw only these chart groups, comma-separated: " + ", ".join(chart_groups())
    )
    parser.add_argument(
        "--charts",
        metavar="PATTERNS",
        help="draw only the charts whose file name matches one of these comma-separated "
        "patterns (e.g. 'agreement-*,article-cost-history')",
    )
    parser.add_argument(
        "--charts-only", action="store_true", help="write the chart files only, no report.md or index.html"
    )
    parser.add_argument(
        "--export",
        metavar="FORMATS",
        help="also write the summary tables for a paper into OUT/export/, comma-separated: latex (booktabs), csv",
    )


def chart_formats(text: str, dpi: int) -> list[str]:
    """``--formats`` checked (png always among them: the pages embed PNGs), and ``--dpi`` within range."""
    formats = [f.strip() for f in str(text).split(",") if f.strip()]
    for fmt in formats:
        if fmt not in CHART_FORMATS:
            raise UsageError(f"unknown chart format {fmt!r}; choose from {', '.join(CHART_FORMATS)}")
    if "png" not in formats:
        formats.insert(0, "png")  # the HTML and markdown embed PNGs
    if dpi < 30 or dpi > 600:
        raise UsageError(f"--dpi {dpi} is out of range (30 to 600)")
    return formats


def main(args: argparse.Namespace) -> int:
    formats = chart_formats(args.formats, args.dpi)
    from .export import export_formats

    export = export_formats(args.export) if getattr(args, "export", None) is not None else []
    if args.only:
        from . import charts  # matplotlib: imported only when drawing

        only = choose([args.only], charts.groups(), "chart group")
    else:
        only = None
    select = [p.strip() for p in args.charts.split(",") if p.strip()] if args.charts else None
    min_effect = percent("--min-effect", args.min_effect, 0.0, 1000.0)
    fail_on_slower = percent("--fail-on-slower", args.fail_on_slower, 0.0, 1000.0) if args.fail_on_slower else None
    if fail_on_slower is not None and not args.compare:
        raise UsageError("--fail-on-slower needs --compare OTHER_RUN_DIR (the run to compare against)")
    paths = [Path(p) for p in args.run_dirs] or [newest_run()]
    n = len(only or chart_groups())
    what = f"{n} chart group{'s' if n != 1 else ''}" + ("" if args.charts_only else " and the pages")
    if all(p.is_dir() for p in paths):  # else write_report says what is wrong
        print(f"report: drawing {what} for {', '.join(terminal(p) for p in paths)} ...", flush=True)
    outcome: dict = {}
    out = write_report(
        paths,
        compare_with=Path(args.compare) if args.compare else None,
        out=Path(args.out) if args.out else None,
        formats=formats,
        dpi=args.dpi,
        only=only,
        select=select,
        pages=not args.charts_only,
        warn=lambda m: print(f"warning: {terminal(m)}", file=sys.stderr),
        min_effect=min_effect,
        outcome=outcome,
        export=export,
    )
    status = 0
    if args.compare:
        from . import comparison

        table = outcome.get("compare")
        for line in comparison.summary_lines(table, fail_on_slower):
            print(terminal(line))
        if comparison.gate(table, fail_on_slower):
            status = EXIT_SLOWER
    if args.charts_only:
        print(f"charts written: {terminal(out / 'charts')}")
    else:
        print(f"report written: {terminal(out / 'index.html')}")
        print(f"                {terminal(out / 'report.md')}")
        print(f"                {terminal(out / 'methods.md')}")
    if export:
        print(f"export written: {terminal(out / 'export')}")
    return status


def percent(flag: str, value, low: float, high: float) -> float:
    """A percentage given on the command line, as a fraction (``10`` or ``10%`` -> 0.10)."""
    text = str(value).strip().rstrip("%")
    try:
        x = float(text)
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not a number of percent (e.g. 10)") from None
    if not (low <= x <= high):
        raise UsageError(f"{flag} {value!r} is out of range ({low:g} to {high:g} percent)")
    return x / 100


def write_report(
    run_dirs: list[Path],
    compare_with: Path | None = None,
    out: Path | None = None,
    formats: tuple[str, ...] | list[str] = ("png", "svg"),
    dpi: int = 100,
    only: list[str] | None = None,
    select: list[str] | None = None,
    pages: bool = True,
    warn: Callable[[str], None] = lambda m: None,
    min_effect: float | None = None,
    outcome: dict | None = None,
    export: list[str] | tuple[str, ...] = (),
) -> Path:
    """Load the runs, draw every chart, write report.md and index.html; return the folder."""
    from . import charts, comparison, context, methods, outline, render_html, render_md

    if not run_dirs:
        raise UsageError("no run folder given")
    # a comparison of runs of one machine: each judged against the machine at its best in either
    floor = shared_probe_floor([Path(p) for p in (*run_dirs, compare_with)]) if compare_with else None
    runs = load_runs([Path(p) for p in run_dirs], floor)
    baseline = load_run(compare_with, f"{Path(compare_with).resolve().name} (before)", floor) if compare_with else None
    for run in runs + ([baseline] if baseline else []):
        for line in run.skipped:
            warn(f"skipped {line}")
    out = _folder(Path(out) if out else Path(run_dirs[0]) / "report")
    _folder(out / "charts")
    command = (
        "python -m bench report "
        + " ".join(str(p) for p in run_dirs)
        + (f" --compare {compare_with}" if compare_with else "")
    )
    report = context.build(runs, baseline, command, min_effect=min_effect)
    if outcome is not None:
        outcome["compare"] = report.compare
    if baseline is not None and (report.compare is None or report.compare.empty):
        warn(comparison.NOTHING_TO_COMPARE)
    report.groups = tuple(only) if only else charts.groups()
    report.charts = charts.draw_all(report, out / "charts", formats=tuple(formats), dpi=dpi, only=only, select=select)
    if select and not report.charts:
        raise UsageError(f"no chart matches {', '.join(select)}")
    if pages:
        page = outline.outline(report)
        render_md.write(page, out / "report.md")
        render_html.write(page, out / "index.html")
        methods.write(report, out / "methods.md")
    if export:
        from . import export as paper

        paper.write(report, _folder(out / "export"), list(export))
    return out


def _folder(path: Path) -> Path:
    """An output folder, made if missing; one that is a symbolic link is refused (never written through)."""
    try:
        return safe_io.make_dir(path)
    except safe_io.UnsafePath:
        raise UsageError(
            f"{terminal(path)} is a symbolic link (or not a folder): a report is never written through one; "
            "choose another --out"
        ) from None
