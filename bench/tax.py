"""The protocol tax: what writing a problem once, against the backend protocol, costs
against an expert's own code in that framework (the witnesses, label ``B+witness``).

Read by the run's closing summary and by the report alike.
"""

from __future__ import annotations

import math

from .fmt import to_float
from .stats import Interval, ratio_interval
from .verdicts import is_witness, row_interval

#: the protocol tax we aim for: our best row at most 10% slower than an expert's witness
GOAL = 1.10


def protocol_tax(frame):
    """For every cell that has a witness (an expert's hand-written code, label ``B+witness``):
    the backend's best protocol row against it.

    One row per run, machine, problem, size, dtype, device, threads, kind and backend:
    ``best`` (the fastest protocol label of that backend), ``best_median``, ``witness_median``
    and ``tax`` = best_median / witness_median (1.0: the harness costs nothing; 1.5: our
    code is 50% slower than the expert's), with ``best_iqr`` and ``witness_iqr``, the
    interquartile ranges, ``tax_lo``/``tax_hi`` the tax's 95% interval and ``call`` what it says
    (:data:`CALLS`: within the goal, above it, the witness not the expert's best, unclear). ``like_best``
    and ``like_tax``: the same for the best protocol row of the witness's own mode (compiled against a
    compiled witness), like for like. Only ``ok`` rows count.
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
        best = protocol.loc[protocol["median"].idxmin()]
        expert = witness.loc[witness["median"].idxmin()]
        w = float(expert["median"])
        ratio = ratio_interval(row_interval(best.to_dict()), row_interval(expert.to_dict()))
        same_mode = protocol[(protocol["mode"] == expert.get("mode")).fillna(False).astype(bool)]
        like = same_mode.loc[same_mode["median"].idxmin()] if len(same_mode) else None
        rows.append(
            {
                **dict(zip(keys, key)),
                "n": best["n"],
                "best": best["label"],
                "best_median": float(best["median"]),
                "witness_median": w,
                "tax": float(best["median"]) / w,
                "best_iqr": to_float(best.get("iqr")),
                "witness_iqr": to_float(expert.get("iqr")),
                "tax_lo": ratio.lo if ratio.bounded else math.nan,
                "tax_hi": ratio.hi if ratio.bounded else math.nan,
                "call": call(ratio),
                "like_best": like["label"] if like is not None else "",
                "like_tax": float(like["median"]) / w if like is not None else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=columns)


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
