"""Rows timed in interleaved rounds: one call of each per round, in a fresh random order each round.

A shared machine changes speed from one second to the next (a neighbour on the host, a
throttled core). Timed one after the other, two rows meet different moments and their ratio
carries the machine's drift; timed in the same rounds, a drift hits both alike, and the ratio
of their calls in one round cancels it. The order is drawn again every round: the row after
a slow eager one pays for its garbage and cache traffic (12 to 25 us measured on a 35 us cell),
so no row may always be that one.

Used by the run, for the protocol tax (each witness against its backend's fastest protocol rows,
:class:`Pairs`), and by ``bench diagnose tax`` (:mod:`.tax_probe`).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import stats
from ..cells import WITNESS, CellSpec
from ..tax import PAIRED
from . import machine

#: the run's interleaved rounds of a witness against its protocol rows: at least this many ...
MIN_ROUNDS = 9
#: ... and as many more as fit in this many seconds ...
SECONDS = 0.5
#: ... up to this many
MAX_ROUNDS = 1000
#: the protocol rows a witness is timed with: those whose median is within this factor of the fastest's ...
CONTENDER = 1.5
#: ... at most this many (and the fastest of the witness's own mode)
CONTENDERS = 3


def rounds(calls: Sequence[Callable[[], object]], order: random.Random, seconds: float) -> list[list[float]]:
    """Rounds of one call of each of ``calls`` for at least ``seconds`` (one round at the least):
    per round, each call's seconds in the order of ``calls``."""
    out: list[list[float]] = []
    opened = time.monotonic()
    while not out or time.monotonic() - opened < seconds:
        row = [0.0] * len(calls)
        for i in order.sample(range(len(calls)), len(calls)):
            start = time.perf_counter()
            calls[i]()
            row[i] = time.perf_counter() - start
        out.append(row)
    return out


def paired(
    calls: Sequence[Callable[[], object]],
    seconds: float = SECONDS,
    min_rounds: int = MIN_ROUNDS,
    max_rounds: int = MAX_ROUNDS,
    seed: int = 0,
) -> list[list[float]]:
    """``calls`` in interleaved rounds: at least ``min_rounds``, then more while ``seconds`` last,
    at most ``max_rounds``; per round, each call's seconds in the order of ``calls``."""
    order = random.Random(seed)
    out: list[list[float]] = []
    opened = time.monotonic()
    while len(out) < max_rounds and (len(out) < min_rounds or time.monotonic() - opened < seconds):
        out += rounds(calls, order, 0.0)
    return out


class Pairs:
    """The protocol tax timed in interleaved rounds inside a worker process.

    A protocol row whose backend's witness this process will time later is kept built (:meth:`after`);
    the witness, once timed ok, is timed again in interleaved rounds with the kept rows close to the
    fastest and the fastest of its own mode (like for like), and the kept rows are let go. Timed one after the other,
    a witness and a protocol row meet different moments of a shared machine and their ratio carries
    its drift: in one run the PyTorch k-means witness came out 1.46x slower than the eager row, in
    interleaved rounds 1.23x faster."""

    def __init__(self, cells: Sequence[CellSpec], slow_budget: float, seed: int, pass_no: int):
        self._witnessed = {key(s) for s in cells if s.cell.variant == WITNESS}
        self._slow_budget, self._seed, self._pass_no = slow_budget, seed, pass_no
        self.kept: dict[tuple, list[tuple[CellSpec, Any, float]]] = {}

    def after(self, spec: CellSpec, built: Any, rec: dict[str, Any]) -> None:
        """Called with each cell timed ok: keeps a protocol row for its witness, or pairs a witness
        (its record gains :data:`bench.tax.PAIRED`)."""
        k = key(spec)
        if spec.cell.variant != WITNESS:
            if k in self._witnessed:
                self.kept.setdefault(k, []).append((spec, built, float(rec["median"])))
            return
        kept = self.kept.pop(k, [])
        if kept:
            rec[PAIRED] = [self.pair(spec, built, float(rec["median"]), kept)]

    def pair(self, witness: CellSpec, built: Any, median: float, kept: list) -> dict[str, Any]:
        """The interleaved rounds: the cells' ids (the witness first) and, per round, each one's seconds."""
        # the rows within CONTENDER of the fastest by median (timed apart, the fastest is often not), at most
        # CONTENDERS of them, and the fastest of the witness's own mode (like for like)
        ranked = sorted(kept, key=lambda k: k[2])
        chosen = [k for k in ranked if k[2] <= CONTENDER * ranked[0][2]][:CONTENDERS]
        same_mode = [k for k in ranked if k[0].cell.mode == witness.cell.mode]
        if same_mode and same_mode[0] not in chosen:
            chosen.append(same_mode[0])
        per_round = median + sum(k[2] for k in chosen)
        # a slow call gets fewer rounds, within the slow budget, but never fewer than an interval needs
        fewest = min(MIN_ROUNDS, max(stats.MIN_ROUNDS, math.floor(self._slow_budget / max(per_round, 1e-9))))
        probe = machine.speed_probe()
        with machine.Watch() as watch:
            timed = paired([built.call] + [k[1].call for k in chosen], min_rounds=fewest, seed=self._seed)
        return {
            "pass": self._pass_no,
            "pid": os.getpid(),
            "cells": [witness.id] + [k[0].id for k in chosen],
            "rounds": [[float(f"{t:.6g}") for t in each] for each in timed],  # as the cells' rounds are kept
            "others_cpu_share": round(watch.others_share(), 3),
            "probe": float(f"{max(probe, machine.speed_probe()):.4g}"),
        }


def key(spec: CellSpec) -> tuple:
    """What a witness and its protocol rows share: the cell but for the row's variant."""
    c = spec.cell
    return (c.problem, c.size, c.backend, c.dtype, c.kind, spec.device, spec.threads)
