"""The report's tables, built from a :class:`~bench.report.context.Context` as
:class:`~bench.report.page.Table` blocks (text formatted once, by :mod:`bench.fmt`)."""

from __future__ import annotations

import math

from bench import verdicts
from bench.fmt import fmt_time, fmt_x, is_missing
from bench.stats import ratio_interval
from bench.tax import CALLS, GOAL, interleaved
from bench.verdicts import GROUP, row_interval

from . import analysis
from .page import Table, TableCell, number


def _text(value) -> str:
    return "" if is_missing(value) and not isinstance(value, str) else str(value)


def _time(value) -> TableCell:
    return number(value, fmt_time(value))


def _int(value) -> TableCell:
    return number(value, "" if is_missing(value) else f"{int(value):,}")


def wins(context) -> Table:
    """Who wins where, by how much: the fastest per problem, size and kind."""
    table = context.fastest
    if table is None or table.empty:
        return Table([], [])
    several = any(table[k].nunique(dropna=False) > 1 for k in ("dtype", "device", "threads", "run", "machine"))
    kinds = analysis.kinds_in_order(table["kind"])
    rows = []
    for (problem, size, dtype, device, threads, run, _), group in table.groupby(
        ["problem", "size", "dtype", "device", "threads", "run", "machine"], sort=False, dropna=False
    ):
        where = f"{size} · {_text(dtype)} {_text(device)} {_text(threads)} threads · {_text(run)}"
        row = [_text(problem), where if several else _text(size)]
        by_kind = {r["kind"]: r for _, r in group.iterrows()}
        for kind in kinds:
            r = by_kind.get(kind)
            if r is None:
                row.append("")
            elif r["runner_up"]:
                row.append(f"{r['fastest']} ({fmt_time(r['median'])}, {verdicts.phrase(r.to_dict())})")
            else:
                row.append(f"{r['fastest']} ({fmt_time(r['median'])})")
        rows.append(row)
    order = {p: i for i, p in enumerate(dict.fromkeys(table["problem"]))}
    rows.sort(key=lambda r: order.get(r[0], 0))
    return Table(["problem", "size", *kinds], rows, "Who wins where, by how much", id="wins", sortable=True)


def win_counts(context) -> list[tuple[str, int]]:
    """How often each row is fastest beyond the noise (groups whose fastest is only a tie or cannot be
    told are not wins)."""
    table = context.fastest
    if table is None or table.empty:
        return []
    ahead = table[table["outcome"] == "ahead"]
    return [(str(k), int(v)) for k, v in ahead["fastest"].value_counts().items()]


def outcome_counts(context) -> dict[str, int]:
    """Comparison groups by outcome: ``ahead``, ``tie``, ``unknown``."""
    table = context.fastest
    if table is None or table.empty:
        return {}
    return {k: int((table["outcome"] == k).sum()) for k in ("ahead", "tie", "unknown")}


def settled_count(context) -> int:
    """Comparison groups whose call was made on their rows timed in the same rounds (``python -m bench settle``)."""
    table = context.fastest
    if table is None or table.empty or "basis" not in table.columns:
        return 0
    return int((table["basis"] == "same rounds").sum())


def failed_checks(context) -> tuple[int, int, Table]:
    """(checks, failed checks, the table of failures)."""
    table = context.agreement
    header = ["run", "problem", "row", "dtype", "kind", "rel. error", "tolerance", "reference", "ADBench ρ", "why"]
    if table is None or table.empty:
        return 0, 0, Table(header, [])
    failed = table[~table["ok"]]
    rows = [
        [r.run, r.problem, r.label, r.dtype, r.kind, f"{r.rel_error:.1e}", f"{r.tolerance:.0e}", r.binding]
        + [f"{r.rho:.1e}", r.why]
        for r in failed.itertuples()
    ]
    return len(table), len(failed), Table(header, rows, "Failed checks")


def unchecked_counts(context) -> tuple[int, int, list[tuple[str, int]]]:
    """(timed rows no passing check covers, timed rows, [(why, how many)])."""
    timed = len(analysis.timed(context.frame)) if len(context.frame) else 0
    table = context.unchecked
    if table is None or not len(table):
        return 0, timed, []
    return len(table), timed, [(str(k), int(v)) for k, v in table["why"].value_counts().items()]


def _ratio(ratio) -> TableCell:
    """A ratio with its 95% interval: ``1.54 (1.49-1.59)``; blank where there is none."""
    if ratio is None or is_missing(ratio.value):
        return TableCell("", math.nan)
    text = f"{ratio.value:.3g}" + (f" ({ratio.lo:.3g}-{ratio.hi:.3g})" if ratio.bounded else "")
    return TableCell(text, ratio.value)


def _interval(r) -> TableCell:
    """A row's 95% interval of the median (its stability label where it has one)."""
    if is_missing(r.median):
        return TableCell("", math.nan)
    lo, hi = getattr(r, "ci_lo", None), getattr(r, "ci_hi", None)
    text = f"{fmt_time(lo)} – {fmt_time(hi)}" if not (is_missing(lo) or is_missing(hi)) else "none"
    why = getattr(r, "stability", None)
    if isinstance(why, str) and why:
        return TableCell(f"{text} (unstable: {why})", hi if not is_missing(hi) else math.nan, bad=True)
    return TableCell(text, hi if not is_missing(hi) else math.nan)


def summary(context) -> Table:
    """Every cell of every run, sortable."""
    frame = context.frame
    if frame.empty:
        return Table([], [])
    ok = analysis.timed(frame)
    contenders = ok[~analysis.is_witness(ok)]
    best_rows = contenders.loc[contenders.groupby(list(GROUP), dropna=False)["median"].idxmin()]
    best = {tuple(getattr(b, k) for k in GROUP): b._asdict() for b in best_rows.itertuples()}
    header = (["run"] if context.several else []) + [
        "problem",
        "size",
        "n",
        "kind",
        "row",
        "dtype",
        "device",
        "threads",
        "status",
        "median",
        "95% interval",
        "× fastest (95% interval)",
        "÷ objective",
        "first call",
        "memory added (MB)",
    ]
    rows = []
    unchecked = context.unchecked if context.unchecked is not None else frame.iloc[0:0]  # marked: "ok · not checked"
    for r in frame.sort_values(["problem", "n", "kind", "series"], kind="stable").itertuples():
        fastest = best.get(tuple(getattr(r, k) for k in GROUP))
        times_fastest = (
            ratio_interval(row_interval(r._asdict()), row_interval(fastest))
            if fastest is not None and not is_missing(r.median)
            else None
        )
        status = _text(r.status)
        if isinstance(r.reason, str) and r.reason and status != "ok":
            status += f": {r.reason}"
        elif status == "ok" and r.Index in unchecked.index:
            status += f" · not checked: {unchecked.loc[r.Index, 'why']}"
        rows.append(
            ([r.run] if context.several else [])
            + [
                _text(r.problem),
                _text(r.size),
                _int(r.n),
                _text(r.kind),
                _text(r.label),
                _text(r.dtype),
                _text(r.device),
                _text(r.threads),
                TableCell(status, bad=status != "ok"),
                _time(r.median),
                _interval(r),
                _ratio(times_fastest),
                number(r.ratio, f"{r.ratio:.3g}"),
                _time(r.first_call),
                _memory(r),
            ]
        )
    return Table(header, rows, id="summary-table", sortable=True, long=True)


def _memory(r) -> TableCell:
    """The memory the cell added above the worker's own: its peak minus the resident memory before it."""
    if is_missing(r.peak_mem_mb) or is_missing(r.base_mem_mb):
        return number(None, "")
    added = max(0.0, r.peak_mem_mb - r.base_mem_mb)
    return number(added, f"{added:.1f}")


def crossings(context) -> Table:
    rows = [
        [
            c["problem"],
            c["kind"],
            _text(c["dtype"]),
            c["winner"],
            c["loser"],
            f"{c['axis']} {analysis.crossing_span(c)}",
        ]
        for c in context.crossings
    ]
    return Table(
        ["problem", "kind", "dtype", "faster after", "overtakes", "where (between two measured sizes)"],
        rows,
        "Crossovers: where one row overtakes another",
        sortable=True,
    )


def slopes(context) -> Table:
    rows = [
        [
            s["problem"],
            s["kind"],
            _text(s["dtype"]),
            s["series"],
            number(s["slope"], analysis.slope_text(s)),
            _int(s["sizes"]),
            _int(s["measured"]),
        ]
        for s in context.slopes
    ]
    return Table(
        ["problem", "kind", "dtype", "row", "slope ± standard error", "sizes above the floor", "sizes measured"],
        rows,
        "Fitted log-log slopes (on the sizes above the dispatch floor only; none with fewer than three)",
        sortable=True,
        long=True,
    )


def break_even(context) -> Table:
    rows = []
    for r in context.break_even:
        calls = r["calls"]
        text = "n/a" if math.isnan(calls) else ("never" if math.isinf(calls) else f"{int(calls):,}")
        rows.append(
            [
                r["problem"],
                r["size"],
                r["kind"],
                r["label"],
                r["eager_label"],
                _time(r["first_compiled"]),
                _time(r["median_compiled"]),
                _time(r["first_eager"]),
                _time(r["median_eager"]),
                number(calls, text) if math.isfinite(calls) else TableCell(text),
            ]
        )
    header = [
        "problem",
        "size",
        "kind",
        "compiled",
        "against",
        "first call (compiled)",
        "steady (compiled)",
        "first call (eager)",
        "steady (eager)",
        "pays off after calls",
    ]
    return Table(header, rows, "Every compiled row: calls until compiling pays off", sortable=True, long=True)


def tax(context) -> Table:
    """The protocol tax: per headline cell and backend, the best label, its median, the witness's, the tax."""
    frame = context.tax
    if frame is None or not len(frame):
        return Table([], [])
    several = {c: frame[c].nunique(dropna=False) > 1 for c in ("run", "dtype", "device")}
    header = [c for c in ("run", "dtype", "device") if several[c]] + [
        "problem",
        "size",
        "kind",
        "backend",
        "best label",
        "its median",
        "witness median",
        "tax",
        "95% interval",
        "verdict",
        "like for like",
    ]
    rows = []
    for r in frame.itertuples():
        bounded = not (is_missing(r.tax_lo) or is_missing(r.tax_hi))
        like = f"{r.like_best} {fmt_x(r.like_tax)}" if r.like_best and r.like_best != r.best else "same row"
        rows.append(
            [_text(getattr(r, c)) for c in ("run", "dtype", "device") if several[c]]
            + [
                _text(r.problem),
                _text(r.size),
                _text(r.kind),
                _text(r.backend),
                _text(r.best),
                _time(r.best_median),
                _time(r.witness_median),
                TableCell(fmt_x(r.tax), float(r.tax), bad=bool(r.tax > GOAL)),
                TableCell(_tax_interval(r) if bounded else "—", r.tax_hi if bounded else math.nan),
                TableCell(CALLS.get(r.call, r.call).partition(" (")[0].partition(":")[0], bad=r.call == "above"),
                _text(like if r.like_best else ""),
            ]
        )
    return Table(header, rows, "Best protocol row against the witness", id="tax-table", sortable=True)


def _tax_interval(r) -> str:
    """``0.98-1.04 interleaved``: a tax's interval, and whether its rounds alternated the row and the witness."""
    return f"{r.tax_lo:.2f}-{r.tax_hi:.2f}" + (" interleaved" if interleaved(r.interleaved) else "")


def best_variants(context) -> Table:
    frame = context.best_variants
    if frame is None or not len(frame):
        return Table([], [])
    several = {c: frame[c].nunique(dropna=False) > 1 for c in ("run", "dtype", "device")}
    header = [c for c in ("run", "dtype", "device") if several[c]] + [
        "framework",
        "kind",
        "best variant",
        "fastest in",
        "the others, times slower (geometric mean)",
    ]
    rows = []
    for r in frame.itertuples():
        others = ", ".join(f"{label} {fmt_x(x)}" for label, x in r.others.items())
        rows.append(
            [_text(getattr(r, c)) for c in ("run", "dtype", "device") if several[c]]
            + [_text(r.backend), _text(r.kind), _text(r.best), f"{r.wins} of {r.cells} cells", others]
        )
    return Table(header, rows, id="variants-table", sortable=True)


def flatten_env(env: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_env(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = "; ".join(str(v.get("command", v)) if isinstance(v, dict) else str(v) for v in value)
        else:
            out[name] = "" if value is None else str(value)
    return out


def environment_table(context) -> Table:
    """One column per run: its env.json, what its rows measured, where it came from."""
    envs = []
    for run in context.runs:
        env = flatten_env(run.env.to_json())
        rows = context.frame[context.frame["run"] == run.tag]
        for column, name in (
            ("dtype", "dtypes measured"),
            ("device", "devices measured"),
            ("threads", "threads measured"),
        ):
            values = [str(v) for v in dict.fromkeys(rows[column].dropna().tolist()) if str(v)]
            if values:
                env[name] = ", ".join(values)
        pairs = rows[["backend", "version"]].dropna().drop_duplicates()
        if len(pairs):
            env["backend versions measured"] = ", ".join(f"{b} {v}" for b, v in pairs.itertuples(index=False) if v)
        if run.article:
            env["article pictures from"] = ", ".join(analysis.backend_order(run.article))
        env["folder"] = str(run.path)
        envs.append(env)
    keys = list(dict.fromkeys(k for env in envs for k in env))
    return Table(["", *context.tags], [[k, *[env.get(k, "") for env in envs]] for k in keys])
