"""Backends: one module per framework behind one protocol (:mod:`backends.base`).

Importing this package imports no framework. ``get(name)`` imports the
framework of that backend only; ``available()`` tells which frameworks are
installed without importing any of them.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from .base import DTYPES, MODES, Backend, BackendUnavailable, DeviceUnavailable, Differentiable


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  #: module of this package that implements it
    framework: str  #: the top-level module it needs
    extra: str  #: pyproject extra that installs it
    compiled_label: str | None  #: label of its compiled mode, None if it cannot compile


REGISTRY: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo("numpy", "backends.numpy", "numpy", "", None),
        BackendInfo("jax", "backends.jax", "jax", "jax", "jit"),
        BackendInfo("torch", "backends.torch", "torch", "torch", "compile"),
        BackendInfo("tensorflow", "backends.tensorflow", "tensorflow", "tensorflow", "function"),
    )
}
NAMES = tuple(REGISTRY)

_cache: dict[str, Backend] = {}


def modes(name: str) -> tuple[str, ...]:
    """The modes a backend offers: ("eager",) or ("eager", "compiled")."""
    return MODES if REGISTRY[name].compiled_label else MODES[:1]


def mode_label(name: str, mode: str) -> str:
    """Row label such as ``jax`` (eager) or ``jax+jit`` (compiled)."""
    return name if mode == "eager" else f"{name}+{REGISTRY[name].compiled_label}"


def installed(name: str) -> bool:
    """Whether the framework of ``name`` is importable, without importing it."""
    return importlib.util.find_spec(REGISTRY[name].framework) is not None


def available() -> dict[str, str | None]:
    """``{name: None}`` for installed backends, ``{name: reason}`` for the others."""
    return {name: None if installed(name) else unavailable_reason(name) for name in NAMES}


def unavailable_reason(name: str) -> str:
    info = REGISTRY[name]
    hint = f"pip install '.[{info.extra}]'" if info.extra else "pip install numpy"
    return f"backend {name!r} is unavailable: {info.framework} is not installed ({hint})"


def get(name: str) -> Backend:
    """The backend called ``name``, importing its framework on first use."""
    if name not in REGISTRY:
        raise KeyError(f"unknown backend {name!r}; choose from {', '.join(NAMES)}")
    if name not in _cache:
        if not installed(name):
            raise BackendUnavailable(unavailable_reason(name))
        try:
            module = importlib.import_module(REGISTRY[name].module)
        except ImportError as exc:  # installed but broken
            raise BackendUnavailable(f"backend {name!r} is unavailable: {exc}") from exc
        _cache[name] = module.make()
    return _cache[name]


__all__ = [
    "DTYPES",
    "MODES",
    "NAMES",
    "REGISTRY",
    "Backend",
    "BackendUnavailable",
    "DeviceUnavailable",
    "Differentiable",
    "available",
    "get",
    "installed",
    "mode_label",
    "modes",
]
