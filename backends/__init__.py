"""Backends: one module per framework behind one protocol (:mod:`backends.base`).

Importing this package imports no framework. Everything the harness knows
about a backend without importing it (its framework, the pip extra, its
capabilities, its variants, the distributions whose versions a run records and
its colour in the report) is declared once, in its :class:`BackendInfo` below;
the backend class, the runner, the report and the noxfile read it from there, and
the registry's order is the display order. ``get(name, variant)`` imports
the framework of that backend only; ``installed(name)`` tells whether its
framework is installed without importing it. ``register(info)`` adds a backend
(plugins, the fault-injection tests).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass

from .base import DTYPES, MODES, Backend, BackendUnavailable, DeviceUnavailable, Differentiable


@dataclass(frozen=True)
class Variant:
    """One way a framework's users run it: a selectable, labelled row."""

    name: str  #: "jit", "autograd", "xla" ...
    compiled: bool  #: its mode: compiled (traced once, then run) or eager
    suffix: str | None  #: row label ``backend+suffix``; None: the row is the backend's name
    doc: str

    @property
    def mode(self) -> str:
        return "compiled" if self.compiled else "eager"


#: the colour of a backend that declares none, or that this checkout does not know (a plugin's rows)
DEFAULT_COLOUR = "#9467bd"
#: the article's own loops (``bench.cells.ARTICLE``): not a backend, shown first and in black
ARTICLE_COLOUR = "#222222"


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  #: module that implements it (its ``make(info, variant)`` builds the backend)
    framework: str  #: the top-level module it needs
    extra: str  #: pyproject extra that installs it
    has_autodiff: bool  #: False: derivatives come from the problems' hand-derived ones
    variants: tuple[Variant, ...]  #: the first eager and the first compiled one are the defaults
    distributions: tuple[str, ...] = ()  #: the installed distributions whose versions a run records
    colour: str = DEFAULT_COLOUR  #: its colour in every chart (a hex colour)
    #: where the compiled variant unrolls Python loops: the variant a problem with a long loop
    #: (``Problem.long_loop``) runs in when none is asked for (the GradBench tool's default)
    long_loop_variant: str | None = None

    def variant(self, name: str) -> Variant:
        """A variant by name; ``eager``/``compiled`` name the default of that mode."""
        for v in self.variants:
            if v.name == name:
                return v
        for v in self.variants:
            if v.mode == name:
                return v
        raise KeyError(f"unknown variant {name!r} of {self.name}; choose from {', '.join(self.variant_names)}")

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def can_compile(self) -> bool:
        return any(v.compiled for v in self.variants)

    def label(self, variant: str) -> str:
        v = self.variant(variant)
        return self.name if v.suffix is None else f"{self.name}+{v.suffix}"


def _v(name: str, compiled: bool, suffix: str | None, doc: str) -> Variant:
    return Variant(name, compiled, suffix, doc)


REGISTRY: dict[str, BackendInfo] = {}
#: what a backend's, a variant's or a problem's name may be: it is part of every cell id and file name
NAME_PATTERN = re.compile(r"[A-Za-z0-9_]{1,40}")
#: the pseudo-backend of the article's own loops (``bench.cells.ARTICLE``)
RESERVED = ("article",)


def check_name(name: object, what: str, origin: str) -> None:
    """``ValueError`` unless ``name`` is 1 to 40 ASCII letters, digits or underscores."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} registered by {origin} is not an allowed name: use 1 to 40 ASCII letters, "
            "digits or underscores"
        )


def register(info: BackendInfo) -> BackendInfo:
    """Add a backend; its module is imported only when it is used.

    A registered backend can be chosen by name everywhere; the defaults (every
    installed one) stay the built-in :data:`NAMES`, which a plugin never
    replaces. Its names (the backend's, its variants' and their row suffixes)
    are checked: ``ValueError`` naming the module that registers it.
    """
    origin = f"module {getattr(info, 'module', None)!r}"
    check_name(getattr(info, "name", None), "backend", origin)
    if info.name in _BUILTIN or info.name in RESERVED:
        raise ValueError(f"backend {info.name!r} registered by {origin} is built in: a plugin cannot replace it")
    earlier = REGISTRY.get(info.name)
    if earlier is not None and earlier.module != info.module:
        raise ValueError(
            f"backend {info.name!r} registered by {origin} is already registered by module {earlier.module!r}"
        )
    if not info.variants:
        raise ValueError(f"backend {info.name!r} registered by {origin} has no variant")
    for v in info.variants:
        check_name(v.name, f"variant of backend {info.name!r}", origin)
        if v.suffix is not None:
            check_name(v.suffix, f"row suffix of backend {info.name!r}", origin)
    return _add(info)


def _add(info: BackendInfo) -> BackendInfo:
    REGISTRY[info.name] = info
    for key in [k for k in _cache if k[0] == info.name]:
        del _cache[key]
    return info


_cache: dict[tuple[str, str], Backend] = {}

for _info in (
    BackendInfo(
        "numpy",
        "backends.numpy",
        "numpy",
        "",
        False,
        (_v("hand", False, None, "the problems' hand-derived NumPy derivatives"),),
        distributions=("numpy",),
        colour="#7f7f7f",
    ),
    BackendInfo(
        "jax",
        "backends.jax",
        "jax",
        "jax",
        True,
        (
            _v("eager", False, None, "jax.value_and_grad, jax.hessian ... op by op"),
            _v("jit", True, "jit", "the same functions under jax.jit; solve as one lax.fori_loop"),
        ),
        distributions=("jax", "jaxlib"),
        colour="#1f77b4",
    ),
    BackendInfo(
        "torch",
        "backends.torch",
        "torch",
        "torch",
        True,
        (
            _v("func", False, None, "torch.func transforms (grad_and_value, jacrev, jvp, vjp)"),
            _v(
                "autograd",
                False,
                "autograd",
                "tensors with requires_grad and torch.autograd.grad, as the seed's PyTorch",
            ),
            _v("compile", True, "compile", "torch.func under torch.compile; solve compiles one step"),
        ),
        distributions=("torch",),
        colour="#d62728",
        long_loop_variant="autograd",  # torch.compile unrolls lstm's c - 1 steps; autograd is 4x torch.func at c 8192
    ),
    BackendInfo(
        "tensorflow",
        "backends.tensorflow",
        "tensorflow",
        "tensorflow",
        True,
        (
            _v("tape", False, None, "tf.GradientTape and ForwardAccumulator, eagerly"),
            _v("function", True, "function", "the same under tf.function; solve as one tf.while_loop"),
            _v("xla", True, "xla", "tf.function(jit_compile=True): XLA-compiled"),
        ),
        distributions=("tensorflow", "tensorflow-cpu"),
        colour="#ff7f0e",
    ),
):
    _add(_info)
#: the built-in backends, in display order: the default choice everywhere
NAMES: tuple[str, ...] = tuple(REGISTRY)
_BUILTIN = frozenset(NAMES)


def info(name: str) -> BackendInfo:
    if name not in REGISTRY:
        raise KeyError(f"unknown backend {name!r}; choose from {', '.join(NAMES)}")
    return REGISTRY[name]


def colour(name: str) -> str:
    """A backend's colour in the report: the article's, a registered backend's, else :data:`DEFAULT_COLOUR`."""
    if name in RESERVED:
        return ARTICLE_COLOUR
    found = REGISTRY.get(name)
    return found.colour if found else DEFAULT_COLOUR


def display_rank(name: str) -> int:
    """Where a backend's rows go in every table and chart: the article first, then registry order
    (built-in, then plugins); a backend this checkout does not know, last."""
    order = (*RESERVED, *REGISTRY)
    return order.index(name) if name in order else len(order)


def distributions() -> tuple[str, ...]:
    """Every registered backend's distributions whose versions a run records, in registry order."""
    return tuple(d for i in REGISTRY.values() for d in i.distributions)


def variants(name: str) -> tuple[str, ...]:
    """The variant names of a backend, default eager first."""
    return info(name).variant_names


def mode_label(name: str, variant: str) -> str:
    """Row label such as ``jax`` (eager), ``jax+jit`` (compiled) or ``torch+autograd``."""
    return info(name).label(variant)


def installed(name: str) -> bool:
    """Whether the framework of ``name`` is importable, without importing it."""
    return importlib.util.find_spec(info(name).framework) is not None


def unavailable_reason(name: str) -> str:
    i = info(name)
    hint = f"pip install '.[{i.extra}]'" if i.extra else "pip install numpy"
    return f"backend {name!r} is unavailable: {i.framework} is not installed ({hint})"


def get(name: str, variant: str | None = None) -> Backend:
    """The backend called ``name`` in one of its variants (default: its eager one),
    importing its framework on first use."""
    i = info(name)
    v = i.variant(variant or "eager")
    key = (name, v.name)
    if key not in _cache:
        if not installed(name):
            raise BackendUnavailable(unavailable_reason(name))
        try:
            module = importlib.import_module(i.module)
        except ImportError as exc:  # installed but broken
            raise BackendUnavailable(f"backend {name!r} is unavailable: {exc}") from exc
        _cache[key] = module.make(i, v)
    return _cache[key]


__all__ = [
    "DTYPES",
    "MODES",
    "NAMES",
    "REGISTRY",
    "Backend",
    "BackendInfo",
    "BackendUnavailable",
    "DeviceUnavailable",
    "Differentiable",
    "Variant",
    "colour",
    "display_rank",
    "distributions",
    "get",
    "info",
    "installed",
    "mode_label",
    "register",
    "variants",
]
