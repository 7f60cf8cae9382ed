"""The protocol tax: what writing a problem once, against the backend protocol, costs
against an expert's own code in that framework (the witnesses, label ``B+witness``).

Read by the run's closing summary and by the report alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .cells import WITNESS, role
from .fmt import to_float
from .stats import Interval, paired_ratio, ratio_interval
from .verdicts import GROUP, is_witness, row_interval

#: the protocol tax we aim for: our best row at most 10% slower than an expert's witness
GOAL = 1.10
#: a witness's record: its interleaved rounds with its backend's best protocol rows, one entry per process
#: (:class:`bench.runner.interleave.Pairs`): ``cells`` (the witness's id first) and ``rounds`` (seconds each)
PAIRED = "paired"


def paired_taxes(records: Iterable[Mapping[str, Any]]) -> dict[str, Interval]:
    """Per protocol cell id timed in interleaved rounds with its witness: its ratio over the witness
    (:func:`bench.stats.paired_ratio`), from every process that timed the pair, where it has an interval.

    Records are untrusted: rounds are read only from an ok witness's record that names itself first, and
    only for the ok protocol rows of its own cell (problem, size, backend, dtype, kind, device, threads)."""
    records = [r for r in records if isinstance(r, Mapping)]
    by_id = {r.get("cell"): r for r in records}
    per_cell: dict[str, list[list[float]]] = {}
    for rec in records:
        if rec.get("status") != "ok" or role(rec.get("backend"), rec.get("variant")) != WITNESS:
            continue
        for entry in rec.get(PAIRED) if isinstance(rec.get(PAIRED), list) else []:
            cells, rounds = (entry.get("cells"), entry.get("rounds")) if isinstance(entry, dict) else (None, None)
            if not (isinstance(cells, list) and isinstance(rounds, list) and cells[:1] == [rec.get("cell")]):
                continue
            if len(set(map(str, cells))) != len(cells):
                continue
            good = [t for t in (_times(r, len(cells)) for r in rounds) if t is not None]
            for j, cell in enumerate(cells[1:], 1):
                if _same_cell(by_id.get(cell), rec):
                    per_cell.setdefault(cell, []).append([t[j] / t[0] for t in good])
    taxes = {cell: paired_ratio(processes) for cell, processes in per_cell.items()}
    return {cell: tax for cell, tax in taxes.items() if tax.bounded}


def _times(row: object, n: int) -> list[float] | None:
    """One round's seconds, each a positive finite float, or None."""
    if not isinstance(row, list) or len(row) != n:
        return None
    try:
        out = [float(x) for x in row if isinstance(x, (int, float)) and not isinstance(x, bool)]
    except OverflowError:
        return None
    return out if len(out) == n and all(0 < x < math.inf for x in out) else None


def _same_cell(row: Mapping[str, Any] | None, witness: Mapping[str, Any]) -> bool:
    """Whether ``row`` is an ok protocol row of the witness's own cell."""
    keys = (*GROUP, "backend")
    return (
        row is not None
        and row.get("status") == "ok"
        and role(row.get("backend"), row.get("variant")) == "protocol"
        and all(row.get(k) == witness.get(k) for k in keys)
    )


def protocol_tax(frame):
    """For every cell that has a witness (an expert's hand-written code, label ``B+witness``):
    the backend's best protocol row against it.

    One row per run, machine, problem, size, dtype, device, threads, kind and backend:
    ``best`` (the fastest protocol label of that backend: against the witness in their interleaved rounds
    where the run timed them so, else by median), ``best_median``, ``witness_median``
    and ``tax``: the median of best's and the witness's per-round ratios in their interleaved rounds, else
    best_median / witness_median (1.0: the harness costs nothing; 1.5: our code is 50% slower than the
    expert's), with ``best_iqr`` and ``witness_iqr``, the interquartile ranges, ``tax_lo``/``tax_hi`` the
    tax's 95% interval and ``call`` what it says (:data:`CALLS`: within the goal, above it, the witness not
    the expert's best, unclear). ``like_best`` and ``like_tax``: the same for the best protocol row of the
    witness's own mode (compiled against a compiled witness), like for like. ``interleaved``: whether the
    tax comes from rounds that alternate the row and the witness (:func:`tax_interval`). Only ``ok`` rows
    count.
    """
    import pandas as pd

    columns = [
        "run",
        "machine",
        "problem",
        "size",
        "n",
        "dtype",
        "device",
        "threads",
        "kind",
        "backend",
        "best",
        "best_median",
        "witness_median",
        "tax",
        "best_iqr",
        "witness_iqr",
        "tax_lo",
        "tax_hi",
        "call",
        "like_best",
        "like_tax",
        "interleaved",
    ]
    ok = frame[(frame["status"] == "ok") & frame["median"].notna()]
    if "variant" not in ok.columns or not len(ok):
        return pd.DataFrame(columns=columns)
    keys = ["run", "machine", "problem", "size", "dtype", "device", "threads", "kind", "backend"]
    rows = []
    for key, group in ok.groupby(keys, dropna=False, sort=True):
        expert_rows = is_witness(group)
        witness, protocol = group[expert_rows], group[~expert_rows]
        if not len(witness) or not len(protocol):
            continue
        best = _fastest(protocol)
        expert = witness.loc[witness["median"].idxmin()]
        w = float(expert["median"])
        ratio, interleaved = tax_interval(best.to_dict(), expert.to_dict())
        same_mode = protocol[(protocol["mode"] == expert.get("mode")).fillna(False).astype(bool)]
        like = _fastest(same_mode) if len(same_mode) else None
        rows.append(
            {
                **dict(zip(keys, key)),
                "n": best["n"],
                "best": best["label"],
                "best_median": float(best["median"]),
                "witness_median": w,
                "tax": ratio.value,
                "best_iqr": to_float(best.get("iqr")),
                "witness_iqr": to_float(expert.get("iqr")),
                "tax_lo": ratio.lo if ratio.bounded else math.nan,
                "tax_hi": ratio.hi if ratio.bounded else math.nan,
                "call": call(ratio),
                "like_best": like["label"] if like is not None else "",
                "like_tax": tax_interval(like.to_dict(), expert.to_dict())[0].value if like is not None else math.nan,
                "interleaved": interleaved,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _fastest(rows):
    """The fastest of some protocol rows against their witness: in their interleaved rounds where those include
    the fastest by median (a row the rounds left out, after a resumed or retried worker, may be faster), else
    by median."""
    fastest = rows.loc[rows["median"].idxmin()]
    paired = rows[rows["paired_tax"].notna()] if "paired_tax" in rows else rows.iloc[:0]
    return paired.loc[paired["paired_tax"].idxmin()] if fastest["cell"] in set(paired["cell"]) else fastest


def tax_interval(row: Mapping[str, Any], witness: Mapping[str, Any]) -> tuple[Interval, bool]:
    """A protocol row over its witness with its 95% interval, and whether it comes from their interleaved
    rounds (:func:`paired_taxes`: the machine's drift cancels) rather than from two medians timed apart."""
    value, lo, hi = (to_float(row.get(name)) for name in ("paired_tax", "paired_lo", "paired_hi"))
    if all(math.isfinite(x) and x > 0 for x in (value, lo, hi)):
        return Interval(value, lo, hi), True
    return ratio_interval(row_interval(row), row_interval(witness)), False


def interleaved(flag: object) -> bool:
    """Whether a tax row's ``interleaved`` cell says so (Python's or NumPy's True; a missing value: no)."""
    try:
        return bool(flag) and flag == flag
    except TypeError:  # pandas' NA
        return False


#: what a tax's interval says
CALLS = {
    "within": "within the goal (its whole interval between 0.90 and 1.10)",
    "above": "above the goal beyond the noise: a cost of writing the problem once",
    "witness_slow": "witness not the expert's best: a protocol row beats it beyond the noise",
    "unclear": "this run cannot tell it from the goal (its interval crosses 0.90 or 1.10)",
    "unknown": "no interval (too few rounds)",
}


def call(ratio: Interval) -> str:
    """A key of :data:`CALLS` for a tax with its interval (best protocol row over the witness)."""
    if not ratio.bounded:
        return "unknown"
    if ratio.hi < 1 / GOAL:
        return "witness_slow"
    if ratio.lo > GOAL:
        return "above"
    if 1 / GOAL <= ratio.lo and ratio.hi <= GOAL:
        return "within"
    return "unclear"
