"""The protocol tax: what writing a problem once, against the backend protocol, costs
against an expert's own code in that framework (the witnesses, label ``B+witness``).

Read by the run's closing summary and by the report alike.
"""

from __future__ import annotations

from .cells import WITNESS
from .fmt import to_float

#: the protocol tax we aim for: our best row at most 10% slower than an expert's witness
GOAL = 1.10


def protocol_tax(frame):
    """For every cell that has a witness (an expert's hand-written code, label ``B+witness``):
    the backend's best protocol row against it.

    One row per run, machine, problem, size, dtype, device, threads, kind and backend:
    ``best`` (the fastest protocol label of that backend), ``best_median``, ``witness_median``
    and ``tax`` = best_median / witness_median (1.0: the harness costs nothing; 1.5: our
    code is 50% slower than the expert's), with ``best_iqr`` and ``witness_iqr``, the
    interquartile ranges that say whether this run can tell the two apart. Only ``ok`` rows count.
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
    ]
    ok = frame[(frame["status"] == "ok") & frame["median"].notna()]
    if "variant" not in ok.columns or not len(ok):
        return pd.DataFrame(columns=columns)
    keys = ["run", "machine", "problem", "size", "dtype", "device", "threads", "kind", "backend"]
    rows = []
    for key, group in ok.groupby(keys, dropna=False, sort=True):
        is_witness = (group["variant"] == WITNESS).fillna(False).astype(bool)  # an older row has no variant
        witness, protocol = group[is_witness], group[~is_witness]
        if not len(witness) or not len(protocol):
            continue
        best = protocol.loc[protocol["median"].idxmin()]
        expert = witness.loc[witness["median"].idxmin()]
        w = float(expert["median"])
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
            }
        )
    return pd.DataFrame(rows, columns=columns)


def within_noise(row) -> bool:
    """Whether this run cannot tell a row of :func:`protocol_tax` from its witness: the gap between
    the medians is smaller than half the two interquartile ranges together. Unknown spread: not noise."""
    gap = abs(float(row["best_median"]) - float(row["witness_median"]))
    spread = (float(row["best_iqr"]) + float(row["witness_iqr"])) / 2
    return bool(spread == spread and gap < spread)  # NaN spread: False
