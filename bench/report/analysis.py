"""What the report computes from the tidy table: pure functions over DataFrames in
the schema of :mod:`bench.results` (text columns ``string`` with <NA>, counts ``Int64``),
plus the ``role`` column :func:`bench.report.load.combine` adds.

What a row is comes from its columns, never from its label: ``backend``, ``variant``,
``mode`` (eager or compiled), ``role`` (protocol, witness or article), ``run`` and
``threads``. A row's ``label`` (``jax+jit``) and a chart's ``series`` (the label, plus
`` @ run`` with several runs) are names to show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import backends
from bench import tax as bench_tax
from bench import verdicts
from bench.cells import ARTICLE, WITNESS
from bench.fmt import fmt_n
from bench.verdicts import is_witness
from problems.base import KINDS as KIND_ORDER  # the problems' own order

from .agreement_table import agreement_table  # noqa: F401  (the report reads it here)

#: every kind's group keys in a table that holds several runs and machines
CELL_GROUP = ["problem", "size", "dtype", "device", "kind"]


# --- what a series is, and its display order ---------------------------------------------


@dataclass(frozen=True)
class Row:
    """What every row of one series (or label) is, read from its columns."""

    backend: str
    variant: str
    mode: str  #: eager or compiled
    role: str  #: protocol, witness or article (:func:`bench.cells.role`)
    run: str
    label: str


def _text(value) -> str:
    return "" if value is None or value != value or str(value) == "<NA>" else str(value)


def series_rows(frame, column: str = "series") -> dict[str, Row]:
    """``{name: Row}`` for every distinct value of ``column`` (its first row's columns)."""
    from bench.cells import role

    out: dict[str, Row] = {}
    if not len(frame):
        return out
    for record in frame.drop_duplicates(column).to_dict("records"):
        name = _text(record.get(column))
        backend, variant = _text(record.get("backend")), _text(record.get("variant"))
        out[name] = Row(
            backend,
            variant,
            _text(record.get("mode")) or "eager",
            _text(record.get("role")) or role(backend, variant),
            _text(record.get("run")),
            _text(record.get("label")),
        )
    return out


def variant_rank(backend: str, variant: str) -> int:
    """A variant's place among its backend's: the registry's order, an expert's witness last."""
    if variant == WITNESS:
        return 99
    info = backends.REGISTRY.get(backend)
    names = info.variant_names if info else ()
    return names.index(variant) if variant in names else 50


def series_order(frame, column: str = "series") -> list[str]:
    """The distinct values of ``column`` in display order, read from each one's columns: run, then
    the backends in :func:`backends.display_rank` order, each with its variants in the registry's
    order (the default eager one first), the witness last."""

    def key(item):
        name, row = item
        run = row.run if column == "series" else ""  # a label names its row in every run
        rank = backends.display_rank(row.backend)
        return (run, rank, row.backend, variant_rank(row.backend, row.variant), row.label, name)

    return [name for name, _ in sorted(series_rows(frame, column).items(), key=key) if name]


def backend_order(names) -> list[str]:
    """Backend names in display order (:func:`backends.display_rank`)."""
    return sorted({str(n) for n in names if isinstance(n, str)}, key=lambda b: (backends.display_rank(b), b))


def in_label_order(frame, column: str = "label"):
    """The rows sorted by :func:`series_order` of ``column`` (stable within a label)."""
    order = {s: i for i, s in enumerate(series_order(frame, column))}
    return frame.iloc[sorted(range(len(frame)), key=lambda i: order.get(frame[column].iloc[i], len(order)))]


def timed(frame):
    """The rows whose times mean something: status ok, a median."""
    return frame[(frame["status"] == "ok").fillna(False).astype(bool) & frame["median"].notna()]


def kinds_in_order(kinds) -> list[str]:
    kinds = [str(k) for k in dict.fromkeys(kinds) if isinstance(k, str)]
    return sorted(kinds, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER))


# --- who is fastest ----------------------------------------------------------------------


def fastest(frame, missing=(), settled=()):
    """Per comparison group (:data:`bench.verdicts.GROUP`): the fastest series and whether it is ahead
    of the runner-up beyond the noise (:func:`bench.verdicts.fastest`; ``missing``: planned cells with
    no ok record, whose groups get no winner; ``settled``: groups timed again in the same rounds). Only
    protocol rows compete: an expert's witness has the tax table (:func:`protocol_tax`)."""
    return verdicts.fastest(frame, missing, name="series", settled=settled)


def best_variants(frame):
    """Per run, framework (backend), kind, dtype and device: which of its variants is fastest
    in most of the cells where two or more were timed (witness and article rows left out).

    ``best`` is that label, ``wins`` the cells it was fastest in out of ``cells``, and
    ``others`` ``{label: geometric mean of its median over the best's, over the cells both have}``.
    """
    import numpy as np
    import pandas as pd

    columns = ["run", "backend", "kind", "dtype", "device", "best", "wins", "cells", "others"]
    ok = timed(frame)
    ok = ok[~is_witness(ok) & (ok["backend"] != ARTICLE).fillna(False).astype(bool)]
    rows = []
    keys = ["run", "backend", "kind", "dtype", "device"]
    for key, group in ok.groupby(keys, sort=False, dropna=False):
        table = group.pivot_table(index=["problem", "size"], columns="series", values="median", aggfunc="min")
        table = table[table.notna().sum(axis=1) >= 2]
        if table.shape[1] < 2 or not len(table):
            continue
        winners = table.idxmin(axis=1).value_counts()
        logs = np.log(table)
        ranked = sorted(winners.index, key=lambda s: (-winners[s], float(logs[s].mean())))
        best = ranked[0]
        others = {}
        for s in series_order(group):
            if s != best and s in table.columns:
                both = logs[[best, s]].dropna()
                if len(both):
                    others[s] = float(np.exp((both[s] - both[best]).mean()))
        rows.append(
            {**dict(zip(keys, key)), "best": best, "wins": int(winners[best]), "cells": len(table), "others": others}
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["run", "backend", "kind"], key=display_order, kind="stable").reset_index(drop=True)


def display_order(column):
    """A sort key for ``sort_values``: backends and kinds in display order, anything else as it is."""
    if column.name == "backend":
        return column.map(backends.display_rank)
    if column.name == "kind":
        return column.map(lambda v: KIND_ORDER.index(v) if v in KIND_ORDER else len(KIND_ORDER))
    return column


def protocol_tax(frame):
    """:func:`bench.tax.protocol_tax` (best protocol row over the expert's witness),
    with each run's rows in problem, size and kind order."""
    tax = bench_tax.protocol_tax(frame)
    return tax.sort_values(["run", "problem", "n", "kind", "backend"], key=display_order, kind="stable").reset_index(
        drop=True
    )


# --- scaling -------------------------------------------------------------------------------


def scaling_axis(group) -> tuple[str, str]:
    """The x axis of a problem's scaling, and its unit: the problem's main dimension n
    (its size ladder: samples, parameters ...) where it differs at every size, else
    the parameter count."""
    sizes = group["size"].nunique()
    problem = str(group["problem"].iloc[0]) if len(group) else ""
    if (
        sizes > 1
        and group.groupby("size")["n"].first().nunique() < sizes
        and group.groupby("size")["n_params"].first().nunique() == sizes
    ):
        return "n_params", "parameters"
    try:
        import problems

        unit = problems.get(problem).size_unit
    except Exception:  # a problem this checkout does not know: plain n
        unit = ""
    return "n", f"n ({unit})" if unit else "data size n"


#: the dispatch floor: a size is above it where the row's time there is more than this many times its
#: time at its smallest size (below, the fixed cost of a call, not the work, sets the time)
FLOOR_FACTOR = 2.0
#: the fewest sizes above the floor a slope is fitted on
MIN_SIZES = 3


class Slope(NamedTuple):
    slope: float  #: NaN where fewer than :data:`MIN_SIZES` sizes are above the floor
    stderr: float  #: its standard error (``np.polyfit(..., cov=True)``)
    sizes: int  #: how many sizes were above the floor


def fit_slope(x, y) -> Slope:
    """Least-squares slope of log10(y) against log10(x), fitted on the sizes above the dispatch floor
    (:data:`FLOOR_FACTOR`) only, with its standard error; NaN with fewer than :data:`MIN_SIZES` such sizes."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[keep], y[keep]
    if not len(x):
        return Slope(math.nan, math.nan, 0)
    above = y > FLOOR_FACTOR * y[np.argmin(x)]
    x, y = np.log10(x[above]), np.log10(y[above])
    if len(np.unique(x)) < MIN_SIZES:
        return Slope(math.nan, math.nan, len(np.unique(x)))
    coef, cov = np.polyfit(x, y, 1, cov=True)
    return Slope(float(coef[0]), float(math.sqrt(max(cov[0][0], 0.0))), len(x))


def slope_text(s: dict) -> str:
    """``slope 1.02 ± 0.03``, or ``no slope (2 sizes above the floor)``."""
    if math.isfinite(s["slope"]):
        return f"slope {s['slope']:.2f} ± {s['stderr']:.2f}"
    return f"no slope ({s['sizes']} size{'' if s['sizes'] == 1 else 's'} above the floor)"


def crossing_span(c: dict) -> str:
    """Where a crossing is, as far as the data says: between the two measured sizes around it."""
    lo, hi = c["between"]
    return f"between {fmt_n(lo)} and {fmt_n(hi)}"


def crossovers(curves: dict[str, tuple[list[float], list[float]]]) -> list[dict]:
    """Where one series overtakes another: for each pair of curves (x sorted, times),
    each sign change of log(t_a / t_b) between two common sizes, located by linear
    interpolation in log-log space. ``winner`` is the one faster after the crossing."""
    import numpy as np

    names = sorted(curves)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            xa, ya = curves[a]
            xb, yb = curves[b]
            common = sorted(set(xa) & set(xb))
            if len(common) < 2:
                continue
            ta, tb = dict(zip(xa, ya)), dict(zip(xb, yb))
            d = [math.log10(ta[x]) - math.log10(tb[x]) for x in common]
            for k in range(len(common) - 1):
                d0, d1 = d[k], d[k + 1]
                if d0 == 0 or d0 * d1 >= 0:
                    continue
                lx0, lx1 = math.log10(common[k]), math.log10(common[k + 1])
                lx = lx0 + (lx1 - lx0) * d0 / (d0 - d1)
                winner, loser = (a, b) if d1 < 0 else (b, a)
                lt = float(np.interp(lx, [lx0, lx1], [math.log10(ta[common[k]]), math.log10(ta[common[k + 1]])]))
                out.append(
                    {
                        "winner": winner,
                        "loser": loser,
                        "x": 10**lx,
                        "time": 10**lt,
                        "between": (common[k], common[k + 1]),
                    }
                )
    return sorted(out, key=lambda c: c["x"])


def curve(rows, column: str):
    """Median time per value of ``column`` (the scaling axis), sorted, NaN sizes left out."""
    return rows.dropna(subset=[column]).groupby(column)["median"].median().sort_index()


def scaling(frame) -> tuple[list[dict], list[dict]]:
    """Fitted slopes and crossovers for every problem, dtype, device and kind with two sizes or more."""
    slopes, crossings = [], []
    keys = ["problem", "dtype", "device", "kind"]
    for (problem, dtype, device, kind), group in timed(frame).groupby(keys, sort=False, dropna=False):
        column, unit = scaling_axis(frame[frame["problem"] == problem])
        curves = {}
        for series, rows in group.groupby("series", sort=False):
            rows = curve(rows, column)
            if len(rows) < 2:
                continue
            curves[series] = (list(map(float, rows.index)), list(map(float, rows.values)))
            slopes.append(
                {
                    "problem": problem,
                    "dtype": dtype,
                    "device": device,
                    "kind": kind,
                    "series": series,
                    "axis": column,
                    **fit_slope(rows.index, rows.values)._asdict(),
                    "measured": len(rows),
                }
            )
        for c in crossovers(curves):
            crossings.append({"problem": problem, "dtype": dtype, "device": device, "kind": kind, "axis": unit, **c})
    return slopes, crossings


# --- compiling ---------------------------------------------------------------------------------


def break_even(frame) -> list[dict]:
    """For every compiled row with an eager counterpart (the backend's default eager
    variant, its first eager one in the registry: ``jax`` for ``jax+jit``, ``tensorflow`` for
    ``tensorflow+xla``): the number of
    calls after which the compiled variant's total time (first call + later steady calls) is lower.

    eager: F_e + (k-1) m_e, compiled: F_c + (k-1) m_c, so compiling pays off from
    k = 1 + ceil((F_c - F_e) / (m_e - m_c)) calls; never if m_c >= m_e."""
    ok = timed(frame)
    ok = ok[~is_witness(ok)]
    out = []
    keys = ["run", "problem", "size", "dtype", "device", "kind", "backend"]
    for key, group in ok.groupby(keys, sort=False, dropna=False):
        eager = group[(group["mode"] == "eager").fillna(False).astype(bool)]
        compiled = group[(group["mode"] == "compiled").fillna(False).astype(bool)]
        if not len(eager) or not len(compiled):
            continue
        e = in_label_order(eager).iloc[0]
        for _, c in in_label_order(compiled).iterrows():
            fe, fc = float(e["first_call"]), float(c["first_call"])
            me, mc = float(e["median"]), float(c["median"])
            if not (math.isfinite(fe) and math.isfinite(fc)):
                calls = math.nan
            elif mc >= me:
                calls = math.inf
            else:
                calls = 1 + max(0, math.ceil((fc - fe) / (me - mc)))
            out.append(
                {
                    **dict(zip(keys, key)),
                    "n": e["n"],
                    "label": c["label"],
                    "variant": c["variant"],
                    "eager_label": e["label"],
                    "first_compiled": fc,
                    "first_eager": fe,
                    "median_compiled": mc,
                    "median_eager": me,
                    "calls": calls,
                }
            )
    return out
