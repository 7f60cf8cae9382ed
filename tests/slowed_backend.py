"""A backend that is NumPy made a known fraction slower, to measure the harness's power.

Importing this module registers ``slowed`` (``BENCH_PLUGINS=tests.slowed_backend``): NumPy
with its hand derivatives, where every call does extra work, spinning on the clock for
``BENCH_SLOWDOWN`` (a fraction, default 0) times the call's own time. A run with
``BENCH_SLOWDOWN=0.10`` is thus 10% slower in every cell than one with 0, and
``report --compare`` between the two should call it slower (tools/verdict_checks.py).
"""

from __future__ import annotations

import os
import time

import backends
from backends.numpy import NumpyBackend

VARIABLE = "BENCH_SLOWDOWN"

backends.register(
    backends.BackendInfo(
        "slowed", "tests.slowed_backend", "numpy", "", False, (backends.Variant("eager", False, None, "NumPy, slowed"),)
    )
)


def slowdown() -> float:
    text = os.environ.get(VARIABLE, "0") or "0"
    value = float(text)
    if not 0 <= value <= 10:
        raise ValueError(f"{VARIABLE}={text!r}: a fraction between 0 and 10 is allowed")
    return value


class SlowedBackend(NumpyBackend):
    def version(self) -> str:
        return f"slowed-{slowdown():g}"

    def compile(self, fn):
        extra = slowdown()
        if not extra:
            return fn

        def slowed(*args):
            start = time.perf_counter()
            out = fn(*args)
            until = start + (time.perf_counter() - start) * (1 + extra)
            while time.perf_counter() < until:  # the extra work: the same processor, the same clock
                pass
            return out

        return slowed


def make(info, variant) -> SlowedBackend:
    return SlowedBackend(info, variant)
