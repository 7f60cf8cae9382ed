"""Each cell's median over many runs of one machine, and the steps in it: which run made it slower.

``python -m bench history RUN_DIR [RUN_DIR ...] [--out DIR] [--min-effect PCT] [--worst N]``

Runs are grouped by machine (runs of different machines are never one series) and put in
date order (env.json's finished time, else the folder's modification time). For every cell
(problem, size, kind, row label, dtype, device, threads) the series of its medians with their
95% intervals is searched for steps: a change beyond the noise that persists
(:mod:`bench.history.steps` says the rule). Written into ``--out`` (default: ``history/`` beside
the first run folder):

* ``charts/*.png`` and ``charts/*.svg``: per machine every cell over the runs; the worst steps,
  each as its cell's medians with intervals and the levels either side;
* ``report.md`` and ``index.html``: the "regressions and improvements" table (change with its
  interval, the versions and commit that changed at the step), the charts and the runs.

The terminal gets the count of steps, slower and faster, and the worst few with what changed.
A folder given that holds no results (a report folder caught by ``results/*``) is named and left out.

A command of its own rather than a chart group of ``report``: ``report RUN_DIR RUN_DIR`` shows runs
side by side (one per machine or CI job, every chart drawing each run apart), while a history reads
many runs of one machine as one series, with a page of its own; it reuses the report's loading,
intervals (:func:`bench.verdicts.row_interval`), verdict rule (:func:`bench.stats.verdict`),
chart saving and page renderers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bench import safe_io
from bench.cli import UsageError
from bench.fmt import terminal
from bench.stats import MIN_EFFECT

HELP = "each cell's median over many runs of one machine, and the steps in it (regressions and improvements)"
#: the worst steps charted by default
WORST = 6
USAGE = "python -m bench history RUN_DIR RUN_DIR [...]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run folders, two or more of one machine")
    parser.add_argument(
        "--out", metavar="DIR", help="where to write the report (default: history/ beside the first run)"
    )
    parser.add_argument(
        "--min-effect",
        metavar="PCT",
        default="10",
        help="the smallest change called a step, in percent (default: 10); its interval must also exclude no change",
    )
    parser.add_argument(
        "--worst", metavar="N", type=int, default=WORST, help=f"chart the N worst steps (default: {WORST})"
    )
    parser.add_argument("--formats", default="png,svg", help="chart formats, comma-separated (default: png,svg)")
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution (default: 100)")


def main(args: argparse.Namespace) -> int:
    from bench.report import chart_formats, percent

    formats = chart_formats(args.formats, args.dpi)
    if args.worst < 0:
        raise UsageError(f"--worst {args.worst} is negative; give the number of steps to chart (0: none)")
    min_effect = percent("--min-effect", args.min_effect, 0.0, 1000.0)
    warn = lambda m: print(f"warning: {terminal(m)}", file=sys.stderr)  # noqa: E731
    history, out = write_history(
        [Path(p) for p in args.run_dirs],
        out=Path(args.out) if args.out else None,
        min_effect=min_effect,
        worst=args.worst,
        formats=tuple(formats),
        dpi=args.dpi,
        warn=warn,
    )
    from .page import summary_lines

    for line in summary_lines(history):
        print(terminal(line))
    print(f"history written: {terminal(out / 'index.html')}")
    print(f"                 {terminal(out / 'report.md')}")
    return 0


def load(paths: list[Path], out: Path | None, warn: Callable[[str], None]):
    """The run folders (a folder that holds no results, or the output folder itself, left out with a warning)."""
    from bench.report.load import load_run, unique_tags

    if not paths:
        raise UsageError(f"no run folder given: a history needs two or more runs of one machine ({USAGE})")
    for path in paths:
        if not path.is_dir():
            raise UsageError(
                f"run folder {path} does not exist" if not path.exists() else f"{path} is not a run folder"
            )
    mine = out.resolve() if out is not None else None
    paths = [p for p in paths if p.resolve() != mine]
    runs, left_out = [], []
    for path, tag in zip(paths, unique_tags(paths)):
        try:
            run = load_run(path, tag)
        except UsageError as exc:
            left_out.append(str(exc))
            continue
        if len(run.table):
            runs.append(run)
        else:
            left_out.append(f"no timings in {path}")
    if len(runs) < 2:
        why = f" ({left_out[0]})" if left_out else ""
        raise UsageError(f"a history needs two or more run folders with timings, got {len(runs)}{why}: {USAGE}")
    for line in left_out:
        warn(f"left out {line}")
    return runs


def write_history(
    paths: list[Path],
    out: Path | None = None,
    min_effect: float = MIN_EFFECT,
    worst: int = WORST,
    formats: tuple[str, ...] = ("png", "svg"),
    dpi: int = 100,
    warn: Callable[[str], None] = lambda m: None,
):
    """Load the runs, find the steps, draw the charts, write report.md and index.html: ``(history, folder)``."""
    from bench.report import render_html, render_md
    from bench.report.charts.base import save, unique_slugs

    from . import charts, model, page

    if out is None and paths:
        out = paths[0].parent / "history"
    runs = load(paths, out, warn)
    history = model.build(runs, min_effect)
    if not history.timelines:
        per = ", ".join(history.single) or "none named"
        raise UsageError(
            f"no machine has two runs with results (machines: {per}); a history needs two or more runs of one machine"
        )
    skipped = [line for run in runs for line in run.skipped]
    for line in skipped:
        warn(f"skipped {line}")
    assert out is not None  # load() refuses an empty list
    folder = _folder(out)
    drawn = charts.charts(history, worst)
    for chart, slug in zip(drawn, unique_slugs([c.slug for c in drawn])):
        chart.slug = slug
        save(chart, _folder(folder / "charts"), formats, dpi)
    command = "python -m bench history " + " ".join(str(p) for p in paths)
    doc = page.outline(history, drawn, command, skipped)
    render_md.write(doc, folder / "report.md")
    render_html.write(doc, folder / "index.html")
    return history, folder


def _folder(path: Path) -> Path:
    try:
        return safe_io.make_dir(path)
    except safe_io.UnsafePath:
        raise UsageError(f"{terminal(path)} is a symbolic link (or not a folder): choose another --out") from None
