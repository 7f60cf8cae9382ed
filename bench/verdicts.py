"""Who is fastest, said only where the measurements carry it: the one place that ranks rows.

A *comparison group* is every row timed on the same problem, size, dtype, device,
thread count, kind and machine (and run, where a report shows several): the rows
compete only inside it. Its *fastest* row is the one with the lowest median; it is
``ahead`` of the runner-up only where :func:`bench.stats.verdict` calls the runner-up
slower (the rule :func:`bench.stats.rule_words` states, on the ratio's 95% interval);
else the group is a ``tie`` (no difference this run can see) or ``unknown`` (an
unstable row, or a planned row missing). The runner's summary, the report's "who
wins" table and glance lines, and ``--repeat`` all read this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .cells import WITNESS, role
from .settled_file import KEYS as SETTLED_KEYS
from .settled_file import MIN_SESSIONS, PARTNER_SCALE, SETTLE_ROWS
from .stats import MIN_EFFECT, Interval, median_interval, paired_ratio, ratio_interval, verdict
from .uncertainty import BUSY_LABEL, interval

T = TypeVar("T")

#: what makes two rows comparable (a row within it: its label)
GROUP = ("run", "machine", "problem", "size", "dtype", "device", "threads", "kind")
#: one row's identity in a table of several runs: its group and its label
IDENTITY = (*GROUP, "label")
#: a row this many times slower than the fastest is no contender, however unstable (a second process
#: cannot make it the fastest)
FAR = 2.0
#: a group's outcome
OUTCOMES = ("ahead", "tie", "unknown")
#: why a group gives no call: it has one row, or a planned row of it was not timed
ONE_ROW, ROW_MISSING = "one row timed", "a planned row of this group was not timed"


def is_witness(frame):
    """Boolean mask of the expert's witness rows: the ``role`` column where the table has one, else
    :func:`bench.cells.role` of its ``backend`` and ``variant``."""
    import pandas as pd

    if "role" in frame.columns:
        return (frame["role"] == WITNESS).fillna(False).astype(bool)
    return pd.Series(
        [role(b, v) == WITNESS for b, v in zip(frame["backend"], frame["variant"])], index=frame.index, dtype=bool
    )


def contestants(frame):
    """The ok, timed protocol rows (an expert's witness is no contestant: it has the tax table)."""
    ok = frame[(frame["status"] == "ok").fillna(False).astype(bool) & frame["median"].notna()]
    return ok[~is_witness(ok)]


def _keys(frame) -> list[str]:
    return [k for k in GROUP if k in frame.columns]


def blocking(row: dict[str, Any]) -> str | None:
    """Why a row gives no verdict inside its run: an unstable row does, except one measured on a busy
    machine, whose interval is widened instead (a difference beyond the widening still counts)."""
    why = row_stability(row)
    return None if why is None or why.startswith(BUSY_LABEL) else why


def compare_rows(a: dict[str, Any], b: dict[str, Any], min_effect: float = MIN_EFFECT) -> tuple[Interval, str]:
    """b's median over a's with its interval, and the verdict on b against a (``slower`` ...);
    ``unknown`` where either row is unstable (:func:`blocking`)."""
    ratio = ratio_interval(row_interval(b), row_interval(a))
    if blocking(a) or blocking(b):
        return ratio, "unknown"
    return ratio, verdict(ratio, min_effect)


def fastest(
    frame,
    missing: Iterable[dict] = (),
    min_effect: float = MIN_EFFECT,
    name: str = "label",
    settled: Iterable[Mapping[str, Any]] = (),
):
    """One row per comparison group: the fastest row (its ``name`` column), its median and interval,
    the runner-up, the runner-up's ratio with its interval, and the ``outcome`` (``ahead``, ``tie``,
    ``unknown``) with ``why``; ``basis``: ``medians`` (the rows' medians, timed apart) or ``same rounds``.
    ``missing``: the columns of planned protocol cells that have no ok record: no winner is called in their
    group. ``settled``: groups whose close rows were timed again in the same interleaved rounds (``python -m
    bench settle``: the group's columns, ``labels`` and ``sessions``; a ``run`` where the table holds several
    runs: the columns an entry leaves out match any): where they hold the fastest row and every
    row that could be the fastest, the call is made on those rounds (:func:`settle`)."""
    import pandas as pd

    keys = _keys(frame)
    hole_keys = [k for k in keys if k != "machine"]
    holes = {
        tuple(str(m.get(k)) for k in hole_keys) for m in missing if role(m.get("backend"), m.get("variant")) != WITNESS
    }
    settled = list(settled)
    columns = [*keys, "n", "fastest", "backend", "median", "lo", "hi", "runner_up", "margin", "margin_lo", "margin_hi"]
    columns += ["outcome", "why", "rows", "basis"]
    rows = []
    for key, group in contestants(frame).groupby(keys, sort=False, dropna=False):
        group = group.sort_values("median", kind="stable")
        best = group.iloc[0].to_dict()
        second = group.iloc[1].to_dict() if len(group) > 1 else None
        iv = row_interval(best)
        row = {**dict(zip(keys, key)), "n": best.get("n"), "fastest": best[name], "median": best["median"]}
        row["backend"] = best.get("backend")
        row.update(lo=iv.lo if iv.bounded else math.nan, hi=iv.hi if iv.bounded else math.nan, rows=len(group))
        row.update(runner_up="", margin=math.nan, margin_lo=math.nan, margin_hi=math.nan)
        if second is None:
            row.update(outcome="unknown", why=ONE_ROW)
        else:
            ratio, call = compare_rows(best, second, min_effect)
            row.update(runner_up=second[name], margin=ratio.value)
            if ratio.bounded:
                row.update(margin_lo=ratio.lo, margin_hi=ratio.hi)
            if call == "slower":
                row.update(outcome="ahead", why="")
            elif call == "unknown":
                unstable = blocking(best) or blocking(second) or "no interval"
                row.update(outcome="unknown", why=unstable)
            else:
                row.update(outcome="tie", why=f"within this run's noise or under {min_effect:.0%}")
        row["basis"] = "medians"
        duel = settled_for(row, settled, hole_keys)
        hole = tuple(str(row[k]) for k in hole_keys) in holes
        if duel is not None and second is not None and not hole:
            settle(row, group, duel, min_effect, name)
        if hole:
            row.update(outcome="unknown", why=ROW_MISSING)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def settled_for(row: Mapping[str, Any], settled: Iterable[Mapping[str, Any]], keys: Sequence[str]):
    """The entry of ``settled`` (``python -m bench settle``'s groups) for the group of ``row``, or None: every
    column of ``keys`` that an entry holds matches (an entry without ``run`` matches any run)."""
    return next((s for s in settled if all(str(s[k]) == str(row.get(k)) for k in keys if k in s)), None)


def pair_in_rounds(duel: Mapping[str, Any], a: str, b: str, min_effect: float = MIN_EFFECT):
    """Row b's time over row a's from the rounds of ``duel`` where both were timed there, with the verdict on b
    (:func:`compare_rows`'s, on the per-round ratios); None where either was not, or in fewer than
    :data:`bench.settled_file.MIN_SESSIONS` sessions (as :func:`settle`)."""
    labels = [str(label) for label in duel["labels"]]
    if a not in labels or b not in labels or a == b or len(duel["sessions"]) < MIN_SESSIONS:
        return None
    i, j = labels.index(a), labels.index(b)
    ratio = paired_ratio([[r[j] / r[i] for r in rounds] for rounds in duel["sessions"]])
    return ratio, verdict(ratio, min_effect)


def settle(row: dict[str, Any], group, duel: Mapping[str, Any], min_effect: float = MIN_EFFECT, name: str = "label"):
    """A group's call (``row``, of :func:`fastest`) made again on its rows timed in the same interleaved rounds
    (``duel``: ``labels`` and each session's rounds, ``sessions``), where those rounds hold the fastest row by
    median and every other row of the group (``group``, sorted by median) that could be the fastest
    (:func:`contender`), in :data:`bench.settled_file.MIN_SESSIONS` sessions or more; else ``row`` is left as
    it is. Only the rows of ``group`` count (a table of the autodiff rows alone is judged on their rounds alone)."""
    records = group.to_dict("records")
    labels = [str(r["label"]) for r in records]
    timed = [str(label) for label in duel["labels"] if str(label) in labels]
    if len(timed) < 2 or labels[0] not in timed or len(duel["sessions"]) < MIN_SESSIONS:
        return
    if any(contender(records[0], r, min_effect) for r in records if str(r["label"]) not in timed):
        return
    where = [[str(label) for label in duel["labels"]].index(label) for label in timed]
    sessions = [[[r[i] for i in where] for r in rounds] for rounds in duel["sessions"]]
    ranked = in_rounds(timed, sessions, min_effect)
    top = next(r for r in ranked if r["verdict"] == "fastest")
    others = [r for r in ranked if r is not top]
    # the runner-up is the closest row the call is about: on a tie, the closest row not clearly slower
    close = [r for r in others if r["verdict"] != "slower"] or others
    runner = min(close, key=lambda r: r["ratio"])
    by_label = dict(zip(labels, records))
    best = by_label[top["row"]]
    iv = row_interval(best)
    row.update(fastest=best[name], backend=best.get("backend"), median=best["median"], n=best.get("n"))
    row.update(lo=iv.lo if iv.bounded else math.nan, hi=iv.hi if iv.bounded else math.nan)
    row.update(runner_up=by_label[runner["row"]][name], margin=runner["ratio"], basis="same rounds")
    bounded = math.isfinite(runner["lo"]) and math.isfinite(runner["hi"])
    row.update(margin_lo=runner["lo"] if bounded else math.nan, margin_hi=runner["hi"] if bounded else math.nan)
    if all(r["verdict"] == "slower" for r in others):
        row.update(outcome="ahead", why="")
    elif any(r["verdict"] == "unknown" for r in others):
        row.update(outcome="unknown", why="too few rounds in the same rounds for an interval")
    else:
        row.update(outcome="tie", why=f"within the noise of the same rounds or under {min_effect:.0%}")


def contender(best: dict[str, Any], row: dict[str, Any], min_effect: float = MIN_EFFECT) -> bool:
    """Whether ``row`` could turn out the fastest in place of ``best`` (the fastest by median): it is not
    clearly slower, and not :data:`FAR` slower."""
    ratio, call = compare_rows(best, row, min_effect)
    return call != "slower" and ratio.value <= FAR


def to_settle(frame, missing: Iterable[dict] = (), max_rows: int = SETTLE_ROWS, min_effect: float = MIN_EFFECT):
    """The close calls rows timed in the same rounds could settle (``python -m bench settle``): the groups the
    medians leave a tie or cannot tell, each its :data:`bench.settled_file.KEYS` and ``labels`` (the fastest row
    by median and every row that could be the fastest: :func:`contender`), and ``left_out``: (group, why) for
    the close calls that rounds cannot settle (a planned row missing, GPU rows, rows under
    :data:`bench.settled_file.PARTNER_SCALE` a call, more than ``max_rows`` close rows)."""
    table = fastest(frame, missing, min_effect)
    keys = [k for k in GROUP if k in frame.columns and k not in ("run", "machine")]
    contest = contestants(frame)
    groups, left_out = [], []
    for row in table.to_dict("records"):
        name = " ".join(str(row[k]) for k in ("problem", "size", "dtype", "kind"))
        if row["outcome"] == "ahead" or row["why"] == ONE_ROW:
            continue
        if row["why"] == ROW_MISSING:
            left_out.append((name, row["why"]))
            continue
        group = contest
        for k in keys:
            group = group[group[k].astype(str) == str(row[k])]
        records = group.sort_values("median", kind="stable").to_dict("records")
        best = records[0]
        close = [best] + [r for r in records[1:] if contender(best, r, min_effect)]
        if str(row.get("device")) != "cpu":
            left_out.append((name, f"on {row.get('device')}: settled on the CPU only"))
        elif float(best["median"]) < PARTNER_SCALE:
            why = f"its fastest row takes under {PARTNER_SCALE * 1e3:g} ms a call: rounds are not neutral"
            left_out.append((name, why))
        elif len(close) < 2:
            continue
        elif len(close) > max_rows:
            left_out.append((name, f"{len(close)} close rows, more than --max-rows {max_rows}"))
        else:
            entry = {k: row[k] for k in SETTLED_KEYS}
            entry["threads"] = int(entry["threads"])
            groups.append({**entry, "labels": [str(r["label"]) for r in close]})
    return groups, left_out


def contenders(frame, min_effect: float = MIN_EFFECT) -> set[str]:
    """Cell ids whose verdict a second process could change: every row the fastest is not clearly
    ahead of (itself included) and an unstable fastest row, in groups of two or more rows; and the
    pairs the protocol tax compares (:func:`tax_pairs`)."""
    out: set[str] = set()
    keys = _keys(frame)
    for _, group in contestants(frame).groupby(keys, sort=False, dropna=False):
        if len(group) < 2:
            continue
        group = group.sort_values("median", kind="stable")
        best = group.iloc[0].to_dict()
        close = False
        for row in group.iloc[1:].to_dict("records"):
            if contender(best, row, min_effect):
                out.add(row["cell"])
                close = True
        if close or row_stability(best):
            out.add(best["cell"])
    return out | tax_pairs(frame)


#: the protocol rows a witness is timed with in interleaved rounds: those within this factor of the fastest
#: by median (timed apart, the fastest is often not the fastest against the witness) ...
TAX_CONTENDER = 1.5
#: ... at most this many, and the fastest of the witness's own mode (like for like)
TAX_CONTENDERS = 3


def tax_rows(rows: Sequence[T], median: Callable[[T], float], mode: Callable[[T], Any], witness_mode: Any) -> list[T]:
    """The protocol rows (of one backend and cell) a witness is timed with in interleaved rounds and measured
    again with: :data:`TAX_CONTENDERS` within :data:`TAX_CONTENDER` of the fastest by median, then the
    fastest of the witness's mode where that is not among them (``bench.runner.interleave.Pairs``)."""
    ranked = sorted(rows, key=median)
    if not ranked:
        return []
    chosen = [r for r in ranked if median(r) <= TAX_CONTENDER * median(ranked[0])][:TAX_CONTENDERS]
    same_mode = [r for r in ranked if mode(r) == witness_mode]
    if same_mode and not any(r is same_mode[0] for r in chosen):
        chosen.append(same_mode[0])
    return chosen


def tax_pairs(frame) -> set[str]:
    """Cell ids of every witness and of the protocol rows it is timed with (:func:`tax_rows`): the protocol
    tax compares them, so they are measured twice, and timed interleaved again in the second process."""
    ok = frame[(frame["status"] == "ok").fillna(False).astype(bool) & frame["median"].notna()]
    witness = is_witness(ok)
    out: set[str] = set()
    keys = [*_keys(frame), "backend"]
    for _, group in ok.groupby(keys, sort=False, dropna=False):
        mask = witness.loc[group.index]
        if mask.any() and (~mask).any():
            out |= set(group.loc[mask, "cell"])
            expert_mode = group.loc[mask, "mode"].iloc[0]
            rows = [r for _, r in group.loc[~mask].iterrows()]
            out |= {r["cell"] for r in tax_rows(rows, lambda r: float(r["median"]), lambda r: r["mode"], expert_mode)}
    return out


def phrase(row: dict[str, Any]) -> str:
    """``x1.29 (1.10-1.51) ahead of tensorflow+xla``, ``tie with ...``, ``cannot tell: why``."""
    if not row.get("runner_up"):
        return ""
    margin = row["margin"]
    lo, hi = row.get("margin_lo"), row.get("margin_hi")
    bounded = isinstance(lo, float) and isinstance(hi, float) and math.isfinite(lo) and math.isfinite(hi)
    interval = f" ({lo:.2f}-{hi:.2f})" if bounded else ""
    rounds = " in the same rounds" if row.get("basis") == "same rounds" else ""
    if row["outcome"] == "ahead":
        return f"x{margin:.2f}{interval} ahead of {row['runner_up']}{rounds}"
    if row["outcome"] == "tie":
        return f"tie with {row['runner_up']} (x{margin:.2f}{interval}){rounds}"
    return f"cannot tell from {row['runner_up']}: {row['why']}"


def row_interval(row: Mapping[str, Any]) -> Interval:
    """A table row's interval: its ``ci_lo``/``ci_hi`` where the run stated them, else from its summary."""
    median, lo, hi = row.get("median"), row.get("ci_lo"), row.get("ci_hi")
    if not isinstance(median, (int, float)) or not math.isfinite(median):
        return Interval(math.nan, 0.0, math.inf)
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < lo <= median <= hi < math.inf:
        return Interval(float(median), float(lo), float(hi))
    return interval({"median": median, "iqr": row.get("iqr"), "rounds": _int(row.get("rounds"))}, None)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def row_stability(row: Mapping[str, Any]) -> str | None:
    """A table row's stability label (where the table has none: too few rounds, else None)."""
    text = row.get("stability")
    if isinstance(text, str) and text:
        return text
    rounds = _int(row.get("rounds"))
    return "timed in one round: no interval" if rounds is not None and rounds < 2 else None


# --- rows timed in the same interleaved rounds (a duel: python -m bench diagnose duel, python -m bench settle) ---


def _median_ratio(rounds: list[list[float]], i: int, j: int) -> float:
    """The median over ``rounds`` of row i's seconds over row j's."""
    return median_interval([r[i] / r[j] for r in rounds if r[j] > 0]).value


def in_rounds(
    labels: list[str], sessions: list[list[list[float]]], min_effect: float = MIN_EFFECT
) -> list[dict[str, Any]]:
    """Per row: its median per call over every round and its ratio to the fastest row, the per-round ratios'
    median with its 95% interval, stretched to hold each session's own (:func:`bench.stats.paired_ratio`: a
    fresh set of processes moves a ratio that one session's rounds cannot see), with the verdict of the run's
    rule: ``slower``, ``same``, or ``faster`` where the rows rank in a cycle and none is fastest against all."""
    pooled = [r for timed in sessions for r in timed]
    medians = [median_interval([r[i] for r in pooled]) for i in range(len(labels))]
    # the fastest in the rounds: the least median of the per-round ratios to one row (row by row, the medians
    # of two rows can rank them the other way round from most rounds), then checked head to head, since such
    # medians need not be transitive: a row faster than it in most rounds takes its place
    best = min(range(len(labels)), key=lambda i: _median_ratio(pooled, i, 0))
    for _ in labels:
        ahead = [i for i in range(len(labels)) if _median_ratio(pooled, i, best) < 1]
        if not ahead:
            break
        best = min(ahead, key=lambda i: _median_ratio(pooled, i, best))
    out = []
    for i, label in enumerate(labels):
        ratio = Interval(1.0, 1.0, 1.0)  # the fastest against itself
        if i != best:
            ratio = paired_ratio([[r[i] / r[best] for r in timed if r[best] > 0] for timed in sessions])
        out.append(
            {
                "row": label,
                "median": medians[i].value,
                "median_lo": medians[i].lo,  # the median's 95% interval over every round: the machine's drift in it
                "median_hi": medians[i].hi,
                "ratio": ratio.value,
                "lo": ratio.lo,
                "hi": ratio.hi,
                "verdict": "fastest" if i == best else verdict(ratio, min_effect),
            }
        )
    return out
