"""The tables a run ends with: per kind, problem and size, the fastest row and how it compares."""

from __future__ import annotations

import math
import shlex
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from problems.base import KINDS

from .. import results, uncertainty, verdicts
from ..cells import ARTICLE, WITNESS
from ..fmt import counted, fmt_time, fmt_x, markup, terminal
from ..stats import CONFIDENCE, ratio_interval, z_value
from ..tax import GOAL, protocol_tax
from ..verdicts import contestants, row_interval


def summary_rows(frame) -> list[dict[str, Any]]:
    """Per comparison group (problem, size, dtype, device, threads, kind; gradient and solve first): the
    fastest label, whether it is ahead of the runner-up beyond the noise (:mod:`bench.verdicts`), and how
    it compares. The witnesses (an expert's code outside the protocol) are not contestants: they have
    their own table."""
    ok = contestants(frame)
    present = set(ok["kind"].dropna())
    kinds = (
        [k for k in ("gradient", "solve") if k in present]
        or [k for k in KINDS if k != "objective" and k in present]
        or ["objective"]
    )
    chosen = frame[frame["kind"].isin(kinds)]
    rows = []
    for r in verdicts.fastest(chosen).sort_values(["problem", "n", "size", "dtype", "kind"]).to_dict("records"):
        same = ok
        for k in verdicts.GROUP:  # the same problem, size, dtype, device, threads (any kind)
            if k in ok.columns and k != "kind":
                same = (
                    same[(same[k] == r[k]).fillna(False).astype(bool)] if not _missing(r[k]) else same[same[k].isna()]
                )
        best = same[(same["kind"] == r["kind"]) & (same["label"] == r["fastest"])].iloc[0]
        numpy_rows = same[(same["kind"] == r["kind"]) & (same["backend"] == "numpy")]
        article = same[(same["kind"] == "solve") & (same["backend"] == ARTICLE)]
        rows.append(
            {
                **r,
                "verdict": verdicts.phrase(r),
                **_speedup(numpy_rows, best),
                "vs_article": article["median"].min() / r["median"] if r["kind"] == "solve" and len(article) else None,
                "ratio": best["ratio"],
                "compile": max(0.0, best["first_call"] - best["median"]),
            }
        )
    return rows


def _speedup(numpy_rows, best) -> dict[str, Any]:
    """NumPy's fastest row over the best row (``vs_numpy``) with its 95% interval (``vs_numpy_lo``, ``_hi``)."""
    if not len(numpy_rows):
        return {"vs_numpy": None, "vs_numpy_lo": None, "vs_numpy_hi": None}
    numpy_best = numpy_rows.sort_values("median", kind="stable").iloc[0].to_dict()
    ratio = ratio_interval(row_interval(numpy_best), row_interval(best.to_dict()))
    lo, hi = (ratio.lo, ratio.hi) if ratio.bounded else (None, None)
    return {"vs_numpy": ratio.value, "vs_numpy_lo": lo, "vs_numpy_hi": hi}


def _fmt_speedup(row: dict[str, Any], key: str = "vs_numpy") -> str:
    """A speed-up, ``3.1×``; ``tie`` when its 95% interval holds 1; blank where there is none or the
    fastest row is NumPy's own."""
    value, lo, hi = row.get(key), row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if value is None or _missing(value) or (key == "vs_numpy" and row.get("backend") == "numpy"):
        return ""
    if lo is not None and hi is not None and lo <= 1 <= hi:
        return "tie"
    return fmt_x(float(f"{value:.2g}") if value < 10 else round(value))


def _fmt_lead(row: dict[str, Any]) -> str:
    """The fastest row's lead over the runner-up: ``2.4×``, ``tie``, ``?`` (cannot tell), blank when alone."""
    if not row.get("runner_up"):
        return ""
    if row["outcome"] == "ahead":
        return _fmt_speedup({"lead": row["margin"]}, "lead")
    return "tie" if row["outcome"] == "tie" else "?"


#: the columns of the run's summary: header, justification, the cell's text from a summary row, and
#: whether it may be left out when the table would be too wide (the last ones first)
COLUMNS: tuple[tuple[str, str, Any, bool], ...] = (
    ("problem, size", "left", lambda r: _text(r.get("size")), False),
    ("dtype", "left", lambda r: _text(r.get("dtype")), False),
    ("device", "left", lambda r: _text(r.get("device")), False),
    ("threads", "right", lambda r: _text(r.get("threads")), False),
    ("fastest", "left", lambda r: _text(r.get("fastest")), False),
    ("median", "right", lambda r: fmt_time(r["median"], "-"), False),
    ("lead", "right", _fmt_lead, False),
    ("speed-up\nvs numpy", "right", _fmt_speedup, False),
    ("speed-up\nvs article", "right", lambda r: _fmt_speedup(r, "vs_article"), True),
    ("deriv/\nobj", "right", lambda r: "" if r["kind"] == "solve" else fmt_x(r["ratio"], ""), True),
    ("compile", "right", lambda r: fmt_time(r["compile"], ""), True),
)
#: columns that say which rows these are: one whose cells are all equal goes into the title
CONTEXT = ("dtype", "device", "threads")
LEGEND = {
    "lead": "lead: over the runner-up, beyond this run's noise (?: cannot tell)",
    "speed-up\nvs numpy": "speed-up: NumPy's (the article's loops') median over the fastest's",
    "deriv/\nobj": "deriv/obj: the derivative's median over the objective's",
    "compile": "compile: first call minus median",
    "95%": (
        "tax and its 95% interval: the median of the row's and the witness's per-round ratios, where timed in "
        "interleaved rounds (the columns best and witness: each one's median, timed apart)"
    ),
}
#: the widest a summary table is drawn when the console is no terminal (a log, a pipe)
WIDTH = 80


def summary_tables(rows: list[dict[str, Any]], width: int = WIDTH) -> list:
    """The run's summary as rich tables, one per kind (gradient, solve ...), each at most ``width`` wide
    where its names allow: a problem heads its sizes' rows, settings every row shares go into the
    title, columns with nothing to show are left out, and so are the optional ones (compile first) that
    do not fit."""
    tables = []
    for kind in dict.fromkeys(str(r["kind"]) for r in rows):
        chosen = [r for r in rows if str(r["kind"]) == kind]
        cells = {name: [text(r) for r in chosen] for name, _, text, _ in COLUMNS}
        shared = []  # a setting every row shares: said once, in the title
        for name in CONTEXT:
            values = set(cells[name])
            if len(values) == 1 and any(values):
                (value,) = values
                shared.append(f"{value} thread{'' if value == '1' else 's'}" if name == "threads" else value)
        shown = [c for c in COLUMNS if any(cells[c[0]]) and not (c[0] in CONTEXT and len(set(cells[c[0]])) == 1)]
        title = f"Fastest {kind} per problem and size" + (f" ({', '.join(shared)})" if shared else "")
        dropped: list[str] = []
        while True:
            table = _table(title, shown, chosen, cells, dropped)
            optional = [c for c in shown if c[3]]
            if _width(table) <= width or not optional:
                break
            shown.remove(optional[-1])
            dropped.insert(0, optional[-1][0].replace("\n", " "))
        tables.append(table)
    return tables


def _table(title: str, shown, rows: list[dict[str, Any]], cells: dict[str, list[str]], dropped=()):
    from rich import box
    from rich.table import Table

    names = [c[0] for c in shown]
    legend = [text for name, text in LEGEND.items() if name in names]
    if "speed-up\nvs article" not in names:
        legend = [t.replace(" (the article's loops')", "") for t in legend]
    if dropped:
        legend.append(f"left out at this width: {', '.join(dropped)}")
    table = Table(
        title=title,
        caption="; ".join(legend) + "." if legend else None,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for name, justify, _, _ in shown:
        table.add_column(name, justify=justify, overflow="fold")
    problem = None
    for i, r in enumerate(rows):
        if r["problem"] != problem:
            problem = r["problem"]
            table.add_row(_text(problem), *([""] * (len(shown) - 1)))
        table.add_row(*(("  " if name == "problem, size" else "") + cells[name][i] for name in names))
    return table


def _width(table) -> int:
    from rich.console import Console
    from rich.measure import Measurement

    wide = Console(width=10_000)
    return Measurement.get(wide, wide.options, table).maximum


def _text(value) -> str:
    """A value read from records as a table cell: blank when missing, never read as markup."""
    return "" if value is None or _missing(value) else markup(value)


def _missing(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


TAX_COLUMNS: tuple[tuple[str, str, Any, bool], ...] = (
    ("problem, size", "left", lambda r: _text(r["size"]), False),
    ("kind", "left", lambda r: _text(r["kind"]), False),
    ("best row", "left", lambda r: _text(r["best"]), False),
    ("best", "right", lambda r: fmt_time(r["best_median"]), False),
    ("witness", "right", lambda r: fmt_time(r["witness_median"]), False),
    ("tax", "right", lambda r: fmt_x(r["tax"]), False),
    ("95%", "right", lambda r: f"{r['tax_lo']:.2f}-{r['tax_hi']:.2f}" if r["tax_lo"] == r["tax_lo"] else "-", False),
)


def print_summary(frame, console, warnings: Sequence[str] = (), folder: Path | None = None) -> None:
    """The run's closing summary: the fastest row per kind, problem and size, the protocol tax, the
    cells' statuses, the run's warnings and, given the run's ``folder``, the timed rows its
    ``agreement.json`` leaves unchecked; its tables fit in ``WIDTH`` columns when the console is no
    terminal."""
    width = console.width if console.is_terminal else min(console.width, WIDTH)
    for table in summary_tables(summary_rows(frame), width):
        console.print(table, width=width)
    tax = protocol_tax(frame)
    if len(tax):
        rows = tax.to_dict("records")
        cells = {name: [text(r) for r in rows] for name, _, text, _ in TAX_COLUMNS}
        title = f"Protocol tax: our best row over the expert's witness (goal ≤ {GOAL:.2f}×)"
        console.print(_table(title, TAX_COLUMNS, rows, cells), width=width)
    spent = time_line(frame)
    if spent:
        console.print(spent, markup=False, highlight=False)
    noise = noise_line(folder) if folder is not None else None
    if noise:
        console.print(noise, markup=False, highlight=False)
    counts = Counter(frame["status"].dropna())
    console.print("cells: " + ", ".join(f"{counts[s]} {s}" for s in results.STATUSES if counts[s]), markup=False)
    bad = frame[frame["status"] != "ok"]
    for (status, reason), g in bad.groupby(["status", "reason"], dropna=False):
        console.print(f"  {len(g)} {status}: {reason}  (e.g. {g['cell'].iloc[0]})", markup=False, highlight=False)
    for line in unstable_lines(frame):
        console.print(line, markup=False, highlight=False)
    for line in warnings:
        console.print(f"warning: {line}", markup=False, highlight=False)
    close = settle_line(frame, folder) if folder is not None else None
    if close:
        console.print(close, markup=False, highlight=False, soft_wrap=True)
    unchecked = unchecked_line(frame, folder) if folder is not None else None
    if unchecked:  # one line, never wrapped: the command copies whole
        console.print(unchecked, markup=False, highlight=False, soft_wrap=True)


def settle_line(frame, folder: Path) -> str | None:
    """The close calls whose rows ``python -m bench settle`` could time again in the same rounds, and the command."""
    groups, _ = verdicts.to_settle(frame)
    if not groups:
        return None
    return (
        f"close calls: {len(groups)} {'group' if len(groups) == 1 else 'groups'} the medians leave a tie or cannot "
        f"tell; their rows in the same rounds: python -m bench settle {shlex.quote(str(folder))}"
    )


def unstable_lines(frame, most: int = 3) -> list[str]:
    """``  268 ok but unstable (no verdict against another run): measured while the machine ran x1.3 to x2.3 ...``: the
    ok cells whose timing gives no verdict against another run (:func:`bench.uncertainty.stability`), by reason,
    the commonest first."""
    if "stability" not in frame:
        return []
    labels = frame.loc[(frame["status"] == "ok").fillna(False).astype(bool), "stability"].dropna()
    why = counted(terminal(x) for x in labels if x)
    out = [f"  {cells} ok but unstable (no verdict against another run): {text}" for text, cells in why[:most]]
    return out + ([f"  {sum(c for _, c in why[most:])} ok but unstable for other reasons"] if why[most:] else [])


def time_line(frame) -> str | None:
    """Where the cells' time went in the first process that measured each: ``time in cells: 15 min 10 s
    (first calls, tracing and compilation included: 6 min 33 s; building data: 12 s; timing, calibration
    included: 8 min 25 s)``.
    Repeats and the start of each worker (importing its framework) come on top; None without the columns."""
    total = results.total_seconds(frame, "cell_time")
    if total <= 0 or "first_call" not in frame:
        return None
    first, built = results.total_seconds(frame, "first_call"), results.total_seconds(frame, "build_time")
    timing = max(0.0, total - first - built)
    return (
        f"time in cells: {_minutes(total)} (first calls, tracing and compilation included: {_minutes(first)}; "
        f"building data: {_minutes(built)}; timing, calibration included: {_minutes(timing)})"
    )


def noise_line(folder: Path) -> str | None:
    """How much a cell's time varies from one worker process to the next in this run, per backend (the floor
    of a cell's interval, :func:`bench.uncertainty.interval`), and how many cells measured twice each figure
    rests on: why a change of a few percent cannot be called on a noisy machine, and how far to trust that.
    A backend with too few such cells takes the run's figure, and the line says so. Where no ok cell was
    measured twice, the figure every interval then assumes, and that it was not measured; None without ok cells."""
    good, _ = results.scan(folder)
    records = list(good.values())
    noise, counts = uncertainty.between_by_backend(records), uncertainty.measured_twice(records)
    run = noise.pop(None, None)
    if run is None:
        if not any(r.get("status") == "ok" for r in records):
            return None
        return (
            "noise between worker processes: not measured (no cell was timed in two processes undisturbed); "
            f"every interval assumes {uncertainty.DEFAULT_BETWEEN:.0%}, which a noisy machine exceeds: compare "
            "such a run with care (a run without --scheduler measures it with --repeat all)"
        )
    backends = sorted(b for b in noise if b)
    own = [b for b in backends if uncertainty.own_figure(counts.get(b, 0))]
    borrow = [b for b in backends if b not in own]
    if own:
        each = ", ".join(f"{b} {noise[b]:.1%}" for b in own)
        if borrow:
            each += f"; {', '.join(borrow)}: the run's {run:.1%} (under {uncertainty.MIN_SPREADS} cells each)"
    else:
        each = f"{run:.1%} (under {uncertainty.MIN_SPREADS} cells per backend: one figure for all)"
    z, q = z_value(CONFIDENCE), uncertainty.ONE_PROCESS_QUANTILE
    single = uncertainty.between_by_backend(records, q)[None]  # the floor of a one-process cell
    return (
        f"noise between worker processes: {each}, from {counts[None]} cell{'s' if counts[None] > 1 else ''} "
        f"measured in two or more processes; a cell timed in one process takes their spread at the {q:.0%} "
        f"quantile, {single:.1%}: a {CONFIDENCE:.0%} interval of ±{math.expm1(z * single):.0%} "
        "or wider (--repeat all --processes 4 narrows it)"
    )


def _minutes(seconds: float) -> str:
    """``8 min 25 s``; under a minute as :func:`fmt_time` writes it (``42 s``, ``310 ms``)."""
    if seconds <= 0:
        return "0 s"
    if seconds < 59.5:
        return fmt_time(seconds)
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s"


def unchecked_line(frame, folder: Path) -> str | None:
    """``unchecked: N of M timed rows ...; check them: python -m bench check --json RUN/agreement.json
    ...`` when the run folder's ``agreement.json`` holds no passing check of some timed row (same problem,
    row label, dtype and kind; a solve that agreed with NumPy's in this run is checked), else None. The
    command's filters are the timed rows' (each left out where it would name every value), so that
    the file it writes covers the whole run."""
    from .. import solves

    timed = frame[(frame["status"] == "ok") & frame["median"].notna() & (frame["backend"] != ARTICLE)]
    if not len(timed):
        return None
    path = folder / "agreement.json"
    passed, failed = _agreement(path)
    agree, _ = solves.verdicts(frame)
    key = lambda r: tuple(str(r[k]) for k in ("problem", "label", "dtype", "kind"))  # noqa: E731
    unchecked = [
        index
        for index, r in timed.iterrows()
        if key(r) not in passed | failed and not (r["kind"] == "solve" and agree.get(index) is True)
    ]
    if not unchecked:
        return None
    where = "no agreement.json" if not path.is_file() else f"{path.name} has no check of them"
    command = shlex.join(["python", "-m", "bench", "check", "--json", str(path), *_check_filters(timed)])
    return f"unchecked: {len(unchecked)} of {len(timed)} timed rows ({where}); check them: {command}"


def _agreement(path: Path) -> tuple[set, set]:
    """The (problem, label, dtype, kind) keys an agreement.json passes and fails (empty when unreadable)."""
    from ..agreement_file import AgreementError, read

    passed: set = set()
    failed: set = set()
    try:
        rows = read(path).rows if path.is_file() else ()
    except AgreementError:
        return passed, failed
    for row in rows:
        (passed if row.ok else failed).add((row.problem, row.label, row.dtype, row.kind))
    return passed, failed


def _check_filters(timed) -> list[str]:
    """``bench check`` options that choose the timed rows' problems, backends, variants, dtypes and kinds,
    each left out where it would name every value ``check`` takes by default."""
    import backends
    import problems
    from backends.base import DTYPES
    from problems.base import KINDS

    names = [n for n in backends.NAMES if backends.installed(n)]
    chosen = [b for b in dict.fromkeys(timed["backend"].dropna().astype(str)) if b in backends.REGISTRY]
    variants = sorted({v.name for b in chosen for v in backends.info(b).variants} | {WITNESS})
    options = []
    for flag, values, every in (
        ("--problem", timed["problem"], problems.known()),
        ("--backend", chosen, names),
        ("--mode", timed["variant"], variants),
        ("--dtype", timed["dtype"], DTYPES),
        ("--kind", timed["kind"], KINDS),
    ):
        wanted = list(dict.fromkeys(str(v) for v in values if not _missing(v)))
        if wanted and not set(every) <= set(wanted):
            options += [flag, ",".join(wanted)]
    return options
