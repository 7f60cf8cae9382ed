"""The run's second look: cells measured again in a new worker process, later in the run.

Rounds inside one process share its memory layout, its compiled code and its moment,
so one process says little about what the next run will see. After every group has
run once, the cells whose verdict is close (:func:`bench.verdicts.contenders`: the rows
the fastest is not clearly ahead of, and unstable rows) or, with ``--repeat all``,
every ok cell (``auto``: the contenders, then as many of the cheapest cells as a share of the
run's time allows), are measured again, group by group in the reverse order (so that a slow
drift of the machine does not favour the groups that ran first). Each record then holds
both processes' rounds (:func:`bench.uncertainty.add_repeat`), and the run's
between-process noise comes from them (:func:`bench.uncertainty.between_noise`).
"""

from __future__ import annotations

from .. import results, uncertainty, verdicts
from ..cells import CellSpec

#: the pass number of the repeat
PASS = 2
#: ``auto``: the contenders, then the cheapest other cells while their first-pass time fits in this
#: share of the whole first pass's cell time ...
SHARE = 0.3
#: ... and in what is left of this much cell time for the whole run (first pass and repeat), so that
#: the default run, the workers' starts included, stays within 10 minutes on two cores (with 540 s it
#: took 619 s: 438 s of first-pass cell time, 457 s of first-pass workers, 143 s of repeat workers)
RUN_BUDGET = 480.0


def has_pass(rec: dict, pass_no: int) -> bool:
    """Whether a record holds the rounds (or the failure) of process pass ``pass_no``."""
    samples = rec.get(uncertainty.SAMPLES)
    return isinstance(samples, list) and any(isinstance(e, dict) and e.get("pass") == pass_no for e in samples)


def choose(repeat: str, run_path, specs: list[CellSpec]) -> list[CellSpec]:
    """The planned cells to measure again, not yet repeated: ``contenders``, ``auto`` (the contenders and
    then the cheapest other cells within :data:`SHARE` of the first pass's time and what
    :data:`RUN_BUDGET` leaves), ``all`` or ``none``."""
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
            for cell, seconds in ok.sort_values("cell_time")[["cell", "cell_time"]].itertuples(index=False):
                if cell in wanted or not seconds == seconds:
                    continue
                if seconds > budget:
                    break
                wanted.add(cell)
                budget -= seconds
    return [
        s
        for s in specs
        if s.id in wanted and s.id in good and good[s.id].get("status") == "ok" and not has_pass(good[s.id], PASS)
    ]
