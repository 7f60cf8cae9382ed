"""Which timed rows a check vouches for.

A timed row (status ok, a median) is checked when its run's ``agreement.json`` holds a passing
row for the same problem, row label, dtype and kind (the check runs each problem at its check
size: the code is the same at every size), or, for a solve, when its result agreed with NumPy's
solve in the same run (:mod:`bench.solves`). Every other timed row is counted and marked: a
timing of an answer nobody checked is not evidence.
"""

from __future__ import annotations

from bench import solves

from . import analysis

KEY = ("run", "problem", "label", "dtype", "kind")

NO_CHECK = "no agreement.json in this run"
NOT_COVERED = "the agreement check has no row for this row label, dtype and kind"
FAILED = "its agreement check failed"


def unchecked(frame, agreement):
    """The timed rows of ``frame`` that no passing check covers, indexed like ``frame``, with a ``why`` column.

    ``agreement`` is :func:`bench.report.analysis.agreement_table` of the same runs.
    """
    import pandas as pd

    rows = analysis.timed(frame) if len(frame) else frame
    columns = ["run", "problem", "size", "label", "dtype", "kind", "why"]
    if not len(rows):
        return pd.DataFrame(columns=columns)
    passed, failed, checked_runs = set(), set(), set()
    if agreement is not None and len(agreement):
        for r in agreement.itertuples():
            key = tuple(str(getattr(r, k)) for k in KEY)
            (passed if bool(r.ok) else failed).add(key)
            checked_runs.add(str(r.run))
    agree, _ = solves.verdicts(frame)
    out = []
    for index, r in rows.iterrows():
        key = tuple(str(r[k]) for k in KEY)
        if key in passed and key not in failed:
            continue
        if r["kind"] == "solve" and agree.get(index) is True and key not in failed:
            continue  # agreed with NumPy's solve in this run
        if key in failed:
            why = FAILED
        elif str(r["run"]) not in checked_runs:
            why = NO_CHECK
        else:
            why = NOT_COVERED
        out.append({**{k: r[k] for k in columns[:-1]}, "why": why, "index": index})
    if not out:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(out).set_index("index")[columns]
