"""Test-only backends whose environment changes between runs (``BENCH_PLUGINS=tests.fault_env``).

``envfault``: NumPy with the hand derivatives, whose "framework" is missing while the
file named by ``FAULT_ENV_FLAG`` exists: building the backend raises
``BackendUnavailable`` there, as a framework that is not installed or fails to import
does in a worker. Remove the file and the framework is back.

``gpuish``: NumPy with the hand derivatives that takes ``--device gpu`` (its arrays
stay NumPy's): a backend that sees the device, for the runner's device check.
"""

from __future__ import annotations

import os
from pathlib import Path

import backends
from backends.numpy import NumpyBackend

_HAND = (backends.Variant("hand", False, None, "the hand derivatives"),)
backends.register(backends.BackendInfo("envfault", "tests.fault_env", "numpy", "", False, _HAND))
backends.register(backends.BackendInfo("gpuish", "tests.fault_env", "numpy", "", False, _HAND))


class GpuishBackend(NumpyBackend):
    def devices(self) -> list[str]:
        return ["cpu", "gpu"]

    def use_device(self, device: str) -> None:
        self._device = device

    def device(self) -> str:
        return getattr(self, "_device", "cpu")


def make(info, variant):
    if info.name == "gpuish":
        return GpuishBackend(info, variant)
    flag = os.environ.get("FAULT_ENV_FLAG")
    if flag and Path(flag).exists():
        raise backends.BackendUnavailable(f"backend {info.name!r} is unavailable: its framework is not installed")
    return NumpyBackend(info, variant)
