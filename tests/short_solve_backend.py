"""A test-only backend whose ``solve`` loop cuts corners, for the checks of the solve.

Importing this module registers ``shortsolve`` (never part of the defaults: commands and
workers import it only with ``BENCH_PLUGINS=tests.short_solve_backend``): NumPy with the
hand derivatives, every derivative right, but its ``iterate`` runs fewer steps than asked:

    variant ``short``  (row ``shortsolve``):        9 of every 10 iterations (at least one fewer)
    variant ``tenth``  (row ``shortsolve+tenth``):  a tenth of them

so that its solve is faster than NumPy's for a wrong reason.
"""

from __future__ import annotations

import backends
from backends.base import python_loop
from backends.numpy import NumpyBackend

#: the fraction of the asked-for iterations each variant runs
FRACTIONS = {"short": 0.9, "tenth": 0.1}

_VARIANTS = (
    backends.Variant("short", False, None, "hand derivatives; solve runs 9/10 of the iterations"),
    backends.Variant("tenth", False, "tenth", "hand derivatives; solve runs a tenth of the iterations"),
)
backends.register(backends.BackendInfo("shortsolve", "tests.short_solve_backend", "numpy", "", False, _VARIANTS))


def iterations_run(variant: str, n: int) -> int:
    """How many of ``n`` iterations the variant really runs (always fewer, when n > 0)."""
    return min(n - 1, int(n * FRACTIONS[variant])) if n > 0 else 0


class ShortSolveBackend(NumpyBackend):
    def version(self) -> str:
        return "shortsolve-1"

    def iterate(self, body, n):
        return python_loop(body, iterations_run(self.variant.name, n))


def make(info, variant) -> ShortSolveBackend:
    return ShortSolveBackend(info, variant)
