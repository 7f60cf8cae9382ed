"""The run's second look: cells measured again in a new worker process, later in the run.

Rounds inside one process share its memory layout, its compiled code and its moment,
so one process says little about what the next run will see. After every group has
run once, the cells whose verdict is close (:func:`bench.verdicts.contenders`: the rows
the fastest is not clearly ahead of, and unstable rows) or, with ``--repeat all``,
every ok cell (``auto``: the contenders, then the cells measured while the machine was
disturbed, then as many of the cheapest other cells as a share of the run's time allows),
are measured again, group by group in the reverse order (so that a slow
drift of the machine does not favour the groups that ran first). Each record then holds
both processes' rounds (:func:`add_repeat`), and the run's
between-process noise comes from them (:func:`bench.uncertainty.between_noise`).

``--processes N`` (3 and up) measures the repeat's cells in passes 3 to N as well, each
in a new process (:func:`later`). Last, the cells that every process so far measured while
the machine ran slow or busy are measured once more, budget permitting
(:func:`still_disturbed`): on a virtual machine whose speed flips within seconds, a
process a moment later often finds it at its best.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import results, uncertainty, verdicts
from ..cells import CellSpec
from ..tax import PAIRED

#: the pass number of the repeat
PASS = 2
#: ``auto``: the contenders, then the cheapest other cells while their first-pass time fits in this
#: share of the whole first pass's cell time ...
SHARE = 0.3
#: ... and in what is left of this much cell time for the whole run (first pass and repeat), so that
#: the default run, the workers' starts included, stays within 10 minutes on two cores (with 540 s it
#: took 619 s: 438 s of first-pass cell time, 457 s of first-pass workers, 143 s of repeat workers)
RUN_BUDGET = 480.0
#: the last pass (cells every process of which ran while the machine was disturbed) gets at most this share
#: of the first pass's cell time: its workers' starts cost wall time too (the small plan's A/A runs took
#: 8 min 47 s and 10 min 7 s when it could spend whatever the run's budget left)
AGAIN_SHARE = 0.1


def has_pass(rec: dict, pass_no: int) -> bool:
    """Whether a record holds the rounds (or the failure) of process pass ``pass_no``."""
    samples = rec.get(uncertainty.SAMPLES)
    return isinstance(samples, list) and any(isinstance(e, dict) and e.get("pass") == pass_no for e in samples)


def choose(repeat: str, run_path, specs: list[CellSpec]) -> list[CellSpec]:
    """The planned cells to measure again, not yet repeated: ``contenders``, ``auto`` (the contenders, then,
    within :data:`SHARE` of the first pass's time and what :data:`RUN_BUDGET` leaves, the cells measured
    while the machine ran slow or busy, cheapest first, then the cheapest other cells), ``all`` or ``none``.

    A cell measured while the machine was disturbed gives no verdict (:func:`bench.uncertainty.stability`);
    measured again in a new process, a moment later, it often finds the machine at its best, and its
    statistics then come from that process alone (:func:`bench.uncertainty.clean`)."""
    if repeat == "none":
        return []
    good, _ = results.scan(run_path)
    frame = results.load(run_path, write_csv=False, on_skip=lambda path, why: None)
    ok = frame[(frame["status"] == "ok").fillna(False).astype(bool) & frame["cell"].isin([s.id for s in specs])]
    if repeat == "all":
        wanted = set(ok["cell"].dropna())
    else:
        wanted = verdicts.contenders(frame)
        if repeat == "auto":  # then the cheapest other cells, within a share of the first pass's time
            first = float(frame["cell_time"].fillna(0.0).sum())  # every cell's time, failed ones included
            contenders = float(ok.loc[ok["cell"].isin(wanted), "cell_time"].sum())
            budget = min(SHARE * first, RUN_BUDGET - first) - contenders
            order = ok.assign(calm=~_disturbed(ok)).sort_values(["calm", "cell_time"], kind="stable")
            for cell, seconds in order[["cell", "cell_time"]].itertuples(index=False):
                if cell in wanted or not seconds == seconds or seconds > budget:
                    continue
                wanted.add(cell)
                budget -= seconds
    return [
        s
        for s in specs
        if s.id in wanted and s.id in good and good[s.id].get("status") == "ok" and not has_pass(good[s.id], PASS)
    ]


def over_budget(run_path) -> str | None:
    """A note where the first pass alone spent :data:`RUN_BUDGET` (a machine slower than the one the default
    plan was sized for): ``auto`` then measures only the contenders again, and the run takes longer."""

    frame = results.load(run_path, write_csv=False, on_skip=lambda path, why: None)
    spent = results.total_seconds(frame, "cell_time")
    if spent <= RUN_BUDGET:
        return None
    return (
        f"the first pass took {spent / 60:.0f} min of cell time, beyond the run's {RUN_BUDGET / 60:.0f}-minute "
        "budget: this machine is slower than the one the default plan was sized for, so only the close calls "
        "are measured again (a smaller plan, such as --size small, keeps the run short)"
    )


def later(run_path, specs: list[CellSpec], pass_no: int) -> list[CellSpec]:
    """The cells the repeat measured ok (pass :data:`PASS`) that pass ``pass_no`` has not measured yet
    (``--processes`` 3 and up: each such pass measures the repeat's cells once more, in a new process)."""
    good, _ = results.scan(run_path)
    return [
        s
        for s in specs
        if s.id in good
        and good[s.id].get("status") == "ok"
        and has_pass(good[s.id], PASS)
        and not has_pass(good[s.id], pass_no)
    ]


def still_disturbed(run_path, specs: list[CellSpec], pass_no: int) -> list[CellSpec]:
    """The planned ok cells that every process so far measured while the machine ran slow or busy (so they
    give no verdict), not yet measured in pass ``pass_no``: cheapest first, within :data:`AGAIN_SHARE` of the
    first pass's cell time and what :data:`RUN_BUDGET` leaves (each process counted at its first pass's time)."""
    import pandas as pd

    good, _ = results.scan(run_path)
    frame = results.load(run_path, write_csv=False, on_skip=lambda path, why: None)
    planned = {s.id for s in specs}
    ok = frame[(frame["status"] == "ok").fillna(False).astype(bool) & frame["cell"].isin(planned)]
    disturbed = ok[_disturbed(ok)]
    if disturbed.empty:
        return []
    cost = pd.to_numeric(frame["cell_time"], errors="coerce").fillna(0.0).astype(float)
    processes = [max(1, len(uncertainty.entries(good.get(c, {})))) for c in frame["cell"]]
    budget = min(RUN_BUDGET - float((cost * processes).sum()), AGAIN_SHARE * float(cost.sum()))
    wanted = set()
    for cell, seconds in disturbed.sort_values("cell_time")[["cell", "cell_time"]].itertuples(index=False):
        if seconds == seconds and seconds <= budget and not has_pass(good.get(cell, {}), pass_no):
            wanted.add(cell)
            budget -= seconds
    return [s for s in specs if s.id in wanted]


def _disturbed(frame):
    """Which rows the statistics label as measured while the machine ran slow or busy (no verdict)."""
    return frame["stability"].fillna("").astype(str).str.startswith(uncertainty.BUSY_LABEL)


def add_repeat(earlier: Mapping[str, Any], rec: Mapping[str, Any], pass_no: int) -> dict[str, Any]:
    """The earlier record of a cell with a later process's measurement ``rec`` added.

    An ok repeat adds its rounds and the statistics are recomputed from every process;
    a repeat that did not end ok leaves the statistics alone and is kept as a failed
    entry (the cell is then unstable, with its reason). The first process's other
    columns (first call, memory ...) stay."""
    out = dict(earlier)
    old = [e for e in earlier.get(uncertainty.SAMPLES) or [] if isinstance(e, dict)]
    new = uncertainty.entries(rec)
    if rec.get("status") == "ok" and new:
        out[uncertainty.SAMPLES] = old + new
        if isinstance(rec.get(PAIRED), list):  # a witness's interleaved rounds, this process's added
            before = earlier.get(PAIRED)
            out[PAIRED] = [*(before if isinstance(before, list) else []), *rec[PAIRED]]
        procs = uncertainty.entries(out)
        if procs:
            out.update(uncertainty.summary(procs))
    else:
        failed = {"pass": int(pass_no), "status": rec.get("status") or "error", "reason": rec.get("reason")}
        out[uncertainty.SAMPLES] = old + [failed]
    return out
