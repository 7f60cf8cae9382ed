"""The table a run ends with: per problem, size and kind, the fastest row and how it compares."""

from __future__ import annotations

from collections import Counter
from typing import Any

from problems.base import KINDS

from .. import results, verdicts
from ..cells import ARTICLE
from ..fmt import fmt_time, fmt_x, markup
from ..stats import ratio_interval
from ..tax import GOAL, protocol_tax
from ..uncertainty import row_interval
from ..verdicts import contestants


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


def _fmt_speedup(row: dict[str, Any]) -> str:
    text = fmt_x(row["vs_numpy"])
    return text if row["vs_numpy_lo"] is None else f"{text} ({row['vs_numpy_lo']:.3g}-{row['vs_numpy_hi']:.3g})"


def _missing(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def print_summary(frame, console, warnings: list[str] = ()) -> None:
    from rich.table import Table

    table = Table(title="Fastest backend and variant per problem and size", show_lines=False)
    for name, justify in (
        ("problem", "left"),
        ("size", "left"),
        ("dtype", "left"),
        ("kind", "left"),
        ("fastest", "left"),
        ("median", "right"),
        ("verdict", "left"),
        ("× numpy (95% interval)", "right"),
        ("× article", "right"),
        ("deriv/obj", "right"),
        ("first call − median", "right"),
    ):
        table.add_column(name, justify=justify)
    for row in summary_rows(frame):
        table.add_row(  # text read from records: shown as written, never as markup
            markup(row["problem"]),
            markup(row["size"]),
            markup(row["dtype"]),
            markup(row["kind"]),
            markup(row["fastest"]),
            fmt_time(row["median"], "-"),
            markup(row["verdict"]),
            _fmt_speedup(row),
            fmt_x(row["vs_article"]),
            fmt_x(row["ratio"]),
            fmt_time(row["compile"], "-"),
        )
    console.print(table)
    tax = protocol_tax(frame)
    if len(tax):
        taxes = Table(title=f"Protocol tax: our best row over the expert's witness (goal ≤ {GOAL:.2f}×)")
        for name in ("problem", "size", "kind", "backend", "best row", "best", "witness", "tax"):
            taxes.add_column(name, justify="right" if name in ("best", "witness", "tax") else "left")
        for r in tax.itertuples():
            taxes.add_row(
                markup(r.problem),
                markup(r.size),
                markup(r.kind),
                markup(r.backend),
                markup(r.best),
                fmt_time(r.best_median),
                fmt_time(r.witness_median),
                fmt_x(r.tax),
            )
        console.print(taxes)
    counts = Counter(frame["status"].dropna())
    console.print("cells: " + ", ".join(f"{counts[s]} {s}" for s in results.STATUSES if counts[s]), markup=False)
    bad = frame[frame["status"] != "ok"]
    for (status, reason), g in bad.groupby(["status", "reason"], dropna=False):
        console.print(f"  {len(g)} {status}: {reason}  (e.g. {g['cell'].iloc[0]})", markup=False, highlight=False)
    for line in warnings:
        console.print(f"warning: {line}", markup=False, highlight=False)
