"""Problems of the seed article, each written once against the backend protocol.

``get(name)`` returns the problem object; ``NAMES`` lists them in the article's
order (then GradBench's), ``NESTED_NAMES`` GradBench's nested-derivative evals
(``BUILT_IN``: both). ``register(problem)`` adds one defined elsewhere (a
plugin named in ``BENCH_PLUGINS``, a test); ``known()`` lists every name.
Importing this package imports NumPy only.
"""

from __future__ import annotations

import importlib
import re

from backends import check_name

from .base import DERIVATIVE_KINDS, KINDS, NESTED_KINDS, Instance, Problem, Size, SizeError

#: the seed article's problems, in its order: what ``python -m bench run`` times by default
ARTICLE_NAMES = (
    "finite_difference",
    "quadratic",
    "linear_regression",
    "logistic_regression",
    "xor_net",
    "newton",
    "kmeans",
)
#: GradBench's workloads (github.com/gradbench/gradbench), written against the same protocol; k-means is
#: the article's problem with GradBench's sizes. Checked by default, timed when named (``--problem lse``).
GRADBENCH_NAMES = ("lse", "llsq", "gmm", "ode", "det", "lstm", "ba", "ht")
NAMES = ARTICLE_NAMES + GRADBENCH_NAMES
#: GradBench's nested-derivative evals (problems.nested): no loss, gradient or solve of their own, only the kinds
#: NESTED_KINDS (a whole search each); checked by default, timed when named (``--problem saddle --kind rr``)
NESTED_NAMES = ("particle", "saddle")
BUILT_IN = NAMES + NESTED_NAMES


_REGISTERED: dict[str, Problem] = {}


#: what a size's name may be: a problem's name's letters and hyphens (``k10-n1000-d8``)
SIZE_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,39}")


def register(problem: Problem) -> Problem:
    """Add a problem defined outside this package; it can then be chosen by name everywhere.

    Its name (1 to 40 ASCII letters, digits or underscores) and its sizes' names are checked,
    and a built-in problem is never replaced: ``ValueError`` naming the module it comes from.
    """
    name = getattr(problem, "name", None)
    origin = f"module {type(problem).__module__!r}"
    check_name(name, "problem", origin)  # as a backend's: part of every cell id and file name
    name = str(name)  # checked: a name of allowed characters
    if name in BUILT_IN:
        raise ValueError(f"problem {name!r} registered by {origin} is built in: a plugin cannot replace it")
    earlier = _REGISTERED.get(name)
    if earlier is not None and type(earlier).__module__ != type(problem).__module__:
        raise ValueError(
            f"problem {name!r} registered by {origin} is already registered by module {type(earlier).__module__!r}"
        )
    sizes = getattr(problem, "sizes", None)
    if not isinstance(sizes, dict) or not sizes:
        raise ValueError(f"problem {name!r} registered by {origin} has no sizes (a dict of name -> n)")
    for size in sizes:
        if not isinstance(size, str) or not SIZE_PATTERN.fullmatch(size) or size.isdigit():
            raise ValueError(
                f"size {size!r} of problem {name!r} registered by {origin} is not an allowed name: use 1 to 40 "
                "ASCII letters, digits, underscores or hyphens, not a number alone"
            )
    _REGISTERED[name] = problem
    return problem


def known() -> tuple[str, ...]:
    """Every problem name: the built-in ones, then the registered ones."""
    return BUILT_IN + tuple(_REGISTERED)


def get(name: str) -> Problem:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in BUILT_IN:
        raise KeyError(f"unknown problem {name!r}; choose from {', '.join(known())}")
    return importlib.import_module(f"problems.{name}").PROBLEM


def all_problems() -> list[Problem]:
    return [get(name) for name in NAMES]


__all__ = [
    "ARTICLE_NAMES",
    "BUILT_IN",
    "DERIVATIVE_KINDS",
    "GRADBENCH_NAMES",
    "KINDS",
    "NAMES",
    "NESTED_KINDS",
    "NESTED_NAMES",
    "Instance",
    "Problem",
    "Size",
    "SizeError",
    "all_problems",
    "get",
    "known",
    "register",
]
