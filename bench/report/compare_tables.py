"""The ``--compare`` tables: every common cell with its change and verdict, and what differs
between the compared runs' environments."""

from __future__ import annotations

import math

from bench.fmt import is_missing

from .comparison import EnvChange
from .page import Table, TableCell, number
from .tables import _text, _time


def changes(context) -> Table:
    """``--compare``: every common cell with its change, the change's 95% interval and the verdict,
    the slower and changed ones first."""
    table = context.compare
    if table is None or table.empty:
        return Table([], [])
    order = {"status": 0, "slower": 1, "faster": 2, "": 3}
    table = table.assign(_order=table["flag"].map(order)).sort_values("_order", kind="stable")
    rows = []
    for r in table.itertuples():
        now, before = _text(r.status), _text(r.status_before)
        status = now if now == before else f"{before} → {now}"
        change = number(r.change, f"{r.change:+.1%}") if not is_missing(r.change) else TableCell("n/a", math.nan)
        bounded = not (is_missing(r.change_lo) or is_missing(r.change_hi))
        interval = (
            TableCell(f"{r.change_lo:+.1%} to {r.change_hi:+.1%}", r.change_hi) if bounded else TableCell("—", math.nan)
        )
        call = {"same": "no difference seen", "unknown": f"cannot tell: {_text(r.why)}"}.get(r.verdict, r.verdict)
        rows.append(
            [
                r.problem,
                r.size,
                r.kind,
                r.label,
                _text(r.dtype),
                _text(r.threads),
                _time(r.median_before),
                _time(r.median),
                change,
                interval,
                status,
                TableCell(call if r.flag != "status" else "status changed", bad=r.flag in ("slower", "status")),
            ]
        )
    header = ["problem", "size", "kind", "row", "dtype", "threads", "before", "now", "change", "95% interval"]
    header += ["status", "verdict"]
    return Table(
        header,
        rows,
        "Every cell in both runs (slower and changed first)",
        id="compare-table",
        sortable=True,
        long=True,
    )


def env_changes(context) -> Table:
    """What differs between the compared runs' environments (one column per run shown)."""
    baseline = context.baseline
    if baseline is None:
        return Table([], [])
    by_item: dict[str, dict[str, EnvChange]] = {}
    for tag, found in context.env_changes.items():
        for change in found:
            by_item.setdefault(change.item, {})[tag] = change
    tags = list(context.env_changes)
    rows = []
    for item, found in by_item.items():
        before = next(iter(found.values())).before
        rows.append(
            [item, before]
            + [TableCell(found[t].now, bad=found[t].machine_or_version) if t in found else "(same)" for t in tags]
        )
    return Table(
        ["", f"{baseline.tag}"] + [f"{t} (now)" for t in tags], rows, "What differs between the two runs' environments"
    )
