"""The run's second look: cells measured again in a new worker process, later in the run.

Rounds inside one process share its memory layout, its compiled code and its moment,
so one process says little about what the next run will see. After every group has
run once, the cells whose verdict is close (:func:`bench.verdicts.contenders`: the rows
the fastest is not clearly ahead of, and unstable rows) or, with ``--repeat all``,
every ok cell, are measured again, group by group in the reverse order (so that a slow
drift of the machine does not favour the groups that ran first). Each record then holds
both processes' rounds (:func:`bench.uncertainty.add_repeat`), and the run's
between-process noise comes from them (:func:`bench.uncertainty.between_noise`).
"""

from __future__ import annotations

from .. import results, uncertainty, verdicts
from ..cells import CellSpec

#: the pass number of the repeat
PASS = 2


def has_pass(rec: dict, pass_no: int) -> bool:
    """Whether a record holds the rounds (or the failure) of process pass ``pass_no``."""
    samples = rec.get(uncertainty.SAMPLES)
    return isinstance(samples, list) and any(isinstance(e, dict) and e.get("pass") == pass_no for e in samples)


def choose(repeat: str, run_path, specs: list[CellSpec]) -> list[CellSpec]:
    """The planned cells to measure again (``repeat``: contenders, all or none), not yet repeated."""
    if repeat == "none":
        return []
    good, _ = results.scan(run_path)
    frame = results.load(run_path, write_csv=False, on_skip=lambda path, why: None)
    if repeat == "all":
        wanted = set(frame.loc[(frame["status"] == "ok").fillna(False).astype(bool), "cell"].dropna())
    else:
        wanted = verdicts.contenders(frame)
    return [
        s
        for s in specs
        if s.id in wanted and s.id in good and good[s.id].get("status") == "ok" and not has_pass(good[s.id], PASS)
    ]
