"""Rows timed in interleaved rounds: one call of each per round, in a fresh random order each round.

A shared machine changes speed from one second to the next (a neighbour on the host, a
throttled core). Timed one after the other, two rows meet different moments and their ratio
carries the machine's drift; timed in the same rounds, a drift hits both alike, and the ratio
of their calls in one round cancels it. The order is drawn again every round: the row after
a slow eager one pays for its garbage and cache traffic (12 to 25 us measured on a 35 us cell),
so no row may always be that one.

Used by the run, for the protocol tax (each witness against its backend's fastest protocol rows,
:class:`Pairs`), by ``bench diagnose tax`` (:mod:`.tax_probe`) and by ``bench diagnose duel``
(:mod:`.duel`: rows of different frameworks, each timed in a server process of its own).
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
from ..verdicts import tax_rows
from . import machine

#: the run's interleaved rounds of a witness against its protocol rows: at least this many ...
MIN_ROUNDS = 9
#: ... and as many more as fit in this many seconds ...
SECONDS = 0.5
#: ... up to this many
MAX_ROUNDS = 1000


def rounds(
    calls: Sequence[Callable[[], Any]], order: random.Random, seconds: float, own_clock: bool = False
) -> list[list[float]]:
    """Rounds of one call of each of ``calls`` for at least ``seconds`` (one round at the least):
    per round, each call's seconds in the order of ``calls``. With ``own_clock`` each call returns the
    seconds it measured itself (a row timed in another process: :mod:`.duel`)."""
    out: list[list[float]] = []
    opened = time.monotonic()
    while not out or time.monotonic() - opened < seconds:
        row = [0.0] * len(calls)
        for i in order.sample(range(len(calls)), len(calls)):
            start = time.perf_counter()
            own = calls[i]()
            row[i] = float(own) if own_clock else time.perf_counter() - start
        out.append(row)
    return out


def paired(
    calls: Sequence[Callable[[], Any]],
    seconds: float = SECONDS,
    min_rounds: int = MIN_ROUNDS,
    max_rounds: int = MAX_ROUNDS,
    seed: int = 0,
    own_clock: bool = False,
) -> list[list[float]]:
    """``calls`` in interleaved rounds: at least ``min_rounds``, then more while ``seconds`` last,
    at most ``max_rounds``; per round, each call's seconds in the order of ``calls`` (see :func:`rounds`)."""
    order = random.Random(seed)
    out: list[list[float]] = []
    opened = time.monotonic()
    while len(out) < max_rounds and (len(out) < min_rounds or time.monotonic() - opened < seconds):
        out += rounds(calls, order, 0.0, own_clock)
    return out


class Pairs:
    """The protocol tax timed in interleaved rounds inside a worker process.

    A protocol row whose backend's witness comes later in this process's plan is kept built (:meth:`after`);
    the witness, once timed ok, is timed again in interleaved rounds with the kept rows close to the
    fastest and the fastest of its own mode (:func:`bench.verdicts.tax_rows`), and the kept rows are let
    go once the witness's cell ends, however it ends (:meth:`finish`). Timed one after the other, a
    witness and a protocol row meet different moments of a shared machine and their ratio carries its
    drift: in one run the PyTorch k-means witness came out 1.46x slower than the eager row, in
    interleaved rounds 1.23x faster."""

    def __init__(self, cells: Sequence[CellSpec], slow_budget: float, seed: int, pass_no: int):
        #: the plan position of each key's last witness: a row is kept only where its witness comes after it
        self._witness_at = {key(s): i for i, s in enumerate(cells) if s.cell.variant == WITNESS}
        self._position = {s.id: i for i, s in enumerate(cells)}
        self._slow_budget, self._seed, self._pass_no = slow_budget, seed, pass_no
        self.kept: dict[tuple, list[tuple[CellSpec, Any, float]]] = {}

    def after(self, spec: CellSpec, built: Any, rec: dict[str, Any]) -> None:
        """Called with each cell timed ok: keeps a protocol row for its witness, or pairs a witness
        (its record gains :data:`bench.tax.PAIRED`; a pairing that fails leaves the witness's own timing as it is)."""
        k = key(spec)
        if spec.cell.variant != WITNESS:
            if self._witness_at.get(k, -1) > self._position.get(spec.id, math.inf):
                self.kept.setdefault(k, []).append((spec, built, float(rec["median"])))
            return
        kept = self.finish(spec)
        if not kept:
            return
        try:
            entry = self.pair(spec, built, float(rec["median"]), kept)
        except Exception as exc:  # a kept row that fails now costs the tax its rounds, never the witness
            print(f"interleaved rounds of {spec.id} not timed: {type(exc).__name__}: {exc}")
            return
        if entry is not None:
            rec[PAIRED] = [entry]

    def finish(self, spec: CellSpec) -> list[tuple[CellSpec, Any, float]]:
        """Let go of the rows kept for witness ``spec`` (called as its cell ends, ok or not); they are returned."""
        return self.kept.pop(key(spec), []) if spec.cell.variant == WITNESS else []

    def pair(self, witness: CellSpec, built: Any, median: float, kept: list) -> dict[str, Any] | None:
        """The interleaved rounds: the cells' ids (the witness first) and, per round, each one's seconds; None
        where the fewest rounds an interval needs would take beyond three times the slow budget."""
        chosen = tax_rows(kept, lambda k: k[2], lambda k: k[0].cell.mode, witness.cell.mode)
        per_round = median + sum(k[2] for k in chosen)
        if stats.MIN_ROUNDS * per_round > 3 * self._slow_budget:
            return None
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
