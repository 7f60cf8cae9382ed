"""Shared command-line plumbing: one-line usage errors and filter validation."""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Iterable, Sequence

#: comma-separated modules imported by every command and every worker: they may register backends and problems
PLUGINS_VARIABLE = "BENCH_PLUGINS"


def harness_version() -> str:
    """This harness's version, from its installed package metadata."""
    import importlib.metadata

    try:
        return importlib.metadata.version("autodiff-bench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def choose(values: Sequence[str] | None, allowed: Iterable[str], what: str) -> list[str]:
    """Validate a repeatable filter. ``None`` or empty means every allowed value.

    Accepts comma-separated values too (``--backend jax,torch``).
    """
    allowed = list(allowed)
    if not values:
        return allowed
    chosen: list[str] = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip()
            if item not in allowed:
                raise UsageError(unknown(what, item, allowed))
            if item not in chosen:
                chosen.append(item)
    return chosen


def unknown(what: str, item: str, allowed: Sequence[str]) -> str:
    """``unknown backend 'jaxx'; did you mean 'jax'? choose from numpy, jax, ...``: the close match is
    the one allowed value that ``item`` begins (3 characters at least), else difflib's closest one."""
    starting = [a for a in allowed if len(item) >= 3 and a.startswith(item)]
    close = starting if len(starting) == 1 else difflib.get_close_matches(item, allowed, n=1, cutoff=0.7)
    hint = f"did you mean {close[0]!r}? " if close and not starting[1:] else ""
    return f"unknown {what} {item!r}; {hint}choose from {', '.join(allowed)}"


def load_plugins(names: str | None = None) -> list[str]:
    """Import the modules named in ``BENCH_PLUGINS`` (comma-separated); a module that is missing
    or raises on import (a refused name included) is a usage error naming it, never a traceback."""
    names = os.environ.get(PLUGINS_VARIABLE, "") if names is None else names
    loaded = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"cannot import {PLUGINS_VARIABLE} module {name!r}: {exc}") from None
        except Exception as exc:  # a plugin's own error: one line naming it
            from .fmt import one_line

            raise UsageError(f"{PLUGINS_VARIABLE} module {name!r} failed on import: {one_line(exc, 300)}") from None
        loaded.append(name)
    return loaded


def fail(message: str, status: int = 2) -> int:
    from .fmt import terminal  # a file name or text read from a file in the message prints as written

    print(f"error: {terminal(message)}", file=sys.stderr)
    return status


def choose_variants(
    backend_names: Iterable[str], values: Sequence[str] | None, what: str = "mode"
) -> dict[str, list[str]]:
    """``{backend: [variant, ...]}`` selected by ``--mode`` values.

    A value is a mode (``eager``, ``compiled``: every variant of that mode), a
    variant name (``jit``, ``autograd``, ``xla`` ...) or ``witness`` (the
    experts' code for the headline cells, on backends with autodiff). None or
    empty: every variant and the witnesses.
    """
    import backends

    from .cells import WITNESS

    infos = [backends.info(name) for name in backend_names]
    allowed = ["eager", "compiled", WITNESS] + sorted(
        {v.name for i in infos for v in i.variants} - {"eager", "compiled"}
    )
    wanted = choose(values, allowed, what) if values else None
    out: dict[str, list[str]] = {}
    for info in infos:
        out[info.name] = [v.name for v in info.variants if wanted is None or v.name in wanted or v.mode in wanted]
        if info.has_autodiff and (wanted is None or WITNESS in wanted):
            out[info.name].append(WITNESS)
    return out
