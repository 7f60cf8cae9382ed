"""Test-only backends that misbehave on purpose, for the harness's fault-injection tests.

Importing this module registers two backends (never part of the defaults: the
runner and its workers import it only when ``BENCH_PLUGINS=tests.fault_backend``):

``fault``: NumPy with the hand derivatives, except that each kind fails its own way
    objective  fine
    gradient   returns NaN
    hessian    raises inside the "framework"
    hvp        hangs
    jvp        segfaults
    vjp        is killed (SIGKILL, as the kernel's out-of-memory killer does)
    solve      diverges (the parameters grow by 5% every step)

``slow``: NumPy where every synchronised call takes at least ``SLOW_SECONDS``, so a
run lasts long enough to be interrupted half-way.

``version()`` reports the CPUs and OpenMP threads the worker process was given.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

import backends
from backends.numpy import NumpyBackend

SLOW_SECONDS = 0.3
FAULTS = {
    "objective": "ok",
    "gradient": "nan",
    "hessian": "error",
    "hvp": "timeout",
    "jvp": "crashed",
    "vjp": "crashed",
    "solve": "diverged",
}

_HAND = (backends.Variant("hand", False, None, "the hand derivatives, misbehaving"),)
backends.register(backends.BackendInfo("fault", "tests.fault_backend", "numpy", "", False, _HAND))
backends.register(backends.BackendInfo("slow", "tests.fault_slow", "numpy", "", False, _HAND))


def _describe() -> str:
    return f"cpus={len(os.sched_getaffinity(0))} omp={os.environ.get('OMP_NUM_THREADS')}"


def _segfault():
    ctypes.string_at(0)  # reads address 0: SIGSEGV


class FaultBackend(NumpyBackend):
    def version(self) -> str:
        return f"fault-1 {_describe()}"

    def value_and_grad(self, f):
        hand = super().value_and_grad(f)

        def nan_grad(params, data):
            value, grads = hand(params, data)
            return value, tuple(g * float("nan") for g in grads)

        return nan_grad

    def hessian(self, f):
        def broken(w, data):
            raise RuntimeError("injected failure inside the framework")

        return broken

    def hvp(self, f):
        def hang(w, v, data):
            while True:
                time.sleep(1)

        return hang

    def jvp(self, f):
        return lambda x, t, data: _segfault()

    def vjp(self, f):
        return lambda x, u, data: os.kill(os.getpid(), signal.SIGKILL)

    def iterate(self, body, n):
        def grow(state, data):
            for _ in range(n):
                state = tuple(1.05 * p + 1.0 for p in state)
            return state

        return grow


class SlowBackend(NumpyBackend):
    def version(self) -> str:
        return f"slow-1 {_describe()}"

    def block(self, x):
        time.sleep(SLOW_SECONDS)
        return x


def make(info, variant) -> FaultBackend:
    return FaultBackend(info, variant)
