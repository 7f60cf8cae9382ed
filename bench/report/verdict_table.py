"""Who wins, said as people ask it: the fastest row including the hand-derived NumPy rows, the fastest
among the autodiff frameworks alone, and one plain-language recommendation per problem, size and kind.

Both verdicts come from :func:`bench.verdicts.fastest` (its rules unchanged), once over every protocol
row and once over the autodiff frameworks' rows only; the hand-derived rows (NumPy's, and the
article's own loop) are then set against the autodiff winner with :func:`bench.verdicts.compare_rows`,
or on their per-round ratios where both were timed in the same rounds (``python -m bench settle``:
:func:`bench.verdicts.pair_in_rounds`).
A comparison group holds one run's rows only, so runs shown side by side each get their own verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import backends
from bench import verdicts
from bench.cells import ARTICLE
from bench.fmt import fmt_time, is_missing
from bench.stats import MIN_EFFECT

from . import analysis
from .page import Table

HAND = "hand-derived NumPy"
#: the columns of the "who wins" table after problem and size
HEADER = ("kind", f"fastest including {HAND}", "fastest among the autodiff frameworks", "recommendation")


def is_hand(backend: Any) -> bool:
    """Whether a backend's derivatives are derived by hand (NumPy's, the article's loop): no autodiff."""
    if not isinstance(backend, str):
        return False
    if backend == ARTICLE:
        return True
    info = backends.REGISTRY.get(backend)
    return info is not None and not info.has_autodiff


def hand_mask(frame):
    return frame["backend"].astype(object).map(is_hand).astype(bool)


def _key(row: dict, keys: list[str]) -> tuple[str, ...]:
    return tuple(str(row.get(k)) for k in keys)


def verdict_rows(
    frame, missing: Iterable[dict] = (), min_effect: float = MIN_EFFECT, settled: Iterable[dict] = ()
) -> list[dict]:
    """One entry per comparison group: its keys, ``all`` (the fastest row including the hand-derived ones),
    ``autodiff`` (the fastest among the autodiff frameworks; None where none was timed), ``hand`` (the best
    hand-derived row's label, its ratio to the autodiff winner with interval, and the verdict on it), and
    ``recommendation``."""
    if frame is None or frame.empty:
        return []
    missing, settled = list(missing), list(settled)
    hand = hand_mask(frame)
    full = _with_labels(verdicts.fastest(frame, missing, min_effect, name="series", settled=settled), frame)
    auto_missing = [m for m in missing if not is_hand(m.get("backend"))]
    auto = verdicts.fastest(frame[~hand], auto_missing, min_effect, name="series", settled=settled)
    auto = _with_labels(auto, frame)
    keys = [k for k in verdicts.GROUP if k in full.columns]
    by_key = {_key(r, keys): r for r in auto.to_dict("records")}
    best: dict[tuple, tuple] = {}
    contest = verdicts.contestants(frame)
    for values, group in contest.groupby(keys, sort=False, dropna=False):
        group = group.sort_values("median", kind="stable")
        mask = hand.loc[group.index]
        first = [g.iloc[0].to_dict() if len(g) else None for g in (group[~mask], group[mask])]
        best[_key(dict(zip(keys, values)), keys)] = tuple(first)
    out = []
    for r in full.to_dict("records"):
        key = _key(r, keys)
        a = by_key.get(key)
        auto_best, hand_best = best.get(key, (None, None))
        versus = None
        if auto_best is not None and hand_best is not None:
            ratio, call = verdicts.compare_rows(auto_best, hand_best, min_effect)
            why = verdicts.blocking(auto_best) or verdicts.blocking(hand_best) or "no interval"
            # where the two were timed in the same rounds (python -m bench settle), those rounds say it
            duel = verdicts.settled_for(r, settled, keys)
            rounds = a is not None and a.get("basis") == "same rounds"
            winner = str(a["fastest_label"]) if rounds else str(auto_best["label"])
            paired = verdicts.pair_in_rounds(duel, winner, str(hand_best["label"]), min_effect) if duel else None
            if paired is not None:
                ratio, call = paired
            versus = {"label": str(hand_best["label"]), "backend": str(hand_best["backend"])}
            versus.update(ratio=ratio, call=call, why=why, rounds=paired is not None)
        out.append({**{k: r[k] for k in keys}, "n": r.get("n"), "all": r, "autodiff": a, "hand": versus})
    extra = details(out)
    for i, entry in enumerate(out):
        entry["detail"] = extra[i]
        entry["recommendation"] = recommendation(entry, extra[i])
    return out


def _with_labels(table, frame):
    """``fastest_label`` and ``runner_up_label`` beside the series :func:`bench.verdicts.fastest` names:
    a series is shown in tables, a row's label is said in a recommendation."""
    label = {str(s): str(lab) for s, lab in zip(frame["series"], frame["label"]) if isinstance(s, str)}
    for column in ("fastest", "runner_up"):
        table[f"{column}_label"] = [label.get(s, "") if isinstance(s, str) else "" for s in table[column]]
    return table


def _x(value: float, lo: float, hi: float) -> str:
    """``1.50x (1.40-1.60)``; the interval left out where there is none."""
    bounded = not (is_missing(lo) or is_missing(hi)) and lo > 0
    return f"{value:.2f}x" + (f" ({lo:.2f}-{hi:.2f})" if bounded else "")


def where(entry: dict, detail: str = "") -> str:
    """``logistic regression gradient at size medium`` (and the group's dtype, device, threads or run)."""
    text = f"{str(entry.get('problem')).replace('_', ' ')} {entry.get('kind')} at size {entry.get('size')}"
    return text + (f" ({detail})" if detail else "")


def recommendation(entry: dict, detail: str = "") -> str:
    """The plain-language answer for one group: which autodiff framework to use and by how much, or that
    there is no clear winner; then where hand-derived NumPy stands."""
    head = f"For {where(entry, detail)}"
    a = entry.get("autodiff")
    if a is None:
        best = entry.get("all") or {}
        return f"{head}, no autodiff framework was timed; {best.get('fastest_label', '')} only."
    name, runner = a["fastest_label"], a["runner_up_label"]
    rounds = " in the same rounds" if a.get("basis") == "same rounds" else ""
    if a["outcome"] == "ahead":
        text = f"{head}, use {name}: {_x(a['margin'], a['margin_lo'], a['margin_hi'])} ahead of {runner}{rounds}"
    elif a["outcome"] == "tie":
        ratio = _x(a["margin"], a["margin_lo"], a["margin_hi"])
        text = f"{head}: no clear winner: {name} and {runner} tie ({ratio}){rounds}"
    elif not runner:
        text = f"{head}: {name} is the only autodiff row timed"
    else:
        text = f"{head}: no clear winner: {name} cannot be told from {runner} ({a['why']})"
    return text + _hand_clause(entry.get("hand")) + "."


def _hand_clause(versus: dict | None) -> str:
    if versus is None:
        return ""
    who = HAND if versus["backend"] != ARTICLE else "the article's own NumPy loop"
    ratio, call = versus["ratio"], versus["call"]
    rounds = " in the same rounds" if versus.get("rounds") else ""
    if call == "slower":
        return f"; {who} is {_x(ratio.value, ratio.lo, ratio.hi)} slower{rounds}"
    if call == "faster":
        inverse = _x(1 / ratio.value, 1 / ratio.hi if ratio.bounded else 0.0, 1 / ratio.lo if ratio.bounded else 0.0)
        return f"; {who} is faster still, {inverse}{rounds}, where the derivative can be derived by hand"
    if call == "same":
        return f"; {who} is about as fast ({_x(ratio.value, ratio.lo, ratio.hi)}){rounds}"
    return f"; {who} cannot be told apart ({versus['why']})"


def _verdict(row: dict | None) -> str:
    if row is None:
        return ""
    text = f"{row['fastest']} ({fmt_time(row['median'])}"
    phrase = verdicts.phrase(row)
    return text + (f", {phrase})" if phrase else ")")


def _varies(rows: list[dict], column: str) -> bool:
    return len({str(r.get(column)) for r in rows}) > 1


def details(rows: list[dict]) -> list[str]:
    """Per entry, the part of its group that differs between the groups shown (dtype, device, threads, run)."""
    columns = [c for c in ("dtype", "device", "threads", "run") if _varies(rows, c)]
    return [", ".join(f"{r[c]} threads" if c == "threads" else str(r[c]) for c in columns) for r in rows]


def ordered(rows: list[dict]) -> list[dict]:
    """Problems in the order they come, then sizes by their dimension, then kinds in the usual order."""
    problems = {p: i for i, p in enumerate(dict.fromkeys(r["problem"] for r in rows))}
    kinds = {k: i for i, k in enumerate(analysis.kinds_in_order(r["kind"] for r in rows))}

    def n(r):
        return -1.0 if is_missing(r.get("n")) else float(r["n"])

    return sorted(rows, key=lambda r: (problems[r["problem"]], str(r.get("run")), n(r), kinds.get(r["kind"], 99)))


def wins(rows: list[dict]) -> Table:
    """The "who wins" table: per problem, size and kind, both verdicts and the recommendation."""
    rows = ordered(rows)
    if not rows:
        return Table([], [])
    body = []
    for r in rows:
        size = str(r["size"]) + (f" · {r['detail']}" if r["detail"] else "")
        verdict_cells = [_verdict(r["all"]), _verdict(r["autodiff"]), r["recommendation"]]
        body.append([str(r["problem"]), size, str(r["kind"]), *verdict_cells])
    return Table(["problem", "size", *HEADER], body, "Who wins where, by how much", id="wins", sortable=True)


def counts(rows: list[dict], which: str) -> list[tuple[str, int]]:
    """How often each row is fastest beyond the noise, ``which`` is ``all`` or ``autodiff``."""
    found: dict[str, int] = {}
    for r in rows:
        v = r.get(which)
        if v is not None and v["outcome"] == "ahead":
            found[str(v["fastest"])] = found.get(str(v["fastest"]), 0) + 1
    return sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
