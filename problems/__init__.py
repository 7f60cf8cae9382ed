"""Problems of the seed article, each written once against the backend protocol.

``get(name)`` returns the problem object; ``NAMES`` lists them in the article's
order (then GradBench's). ``register(problem)`` adds one defined elsewhere (a
plugin named in ``BENCH_PLUGINS``, a test); ``known()`` lists every name.
Importing this package imports NumPy only.
"""

from __future__ import annotations

import importlib

from .base import DERIVATIVE_KINDS, KINDS, Instance, Problem, Size, SizeError

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
GRADBENCH_NAMES = ("lse", "llsq", "gmm", "ode")
NAMES = ARTICLE_NAMES + GRADBENCH_NAMES


_REGISTERED: dict[str, Problem] = {}


def register(problem: Problem) -> Problem:
    """Add a problem defined outside this package; it can then be chosen by name everywhere."""
    if not problem.name or problem.name in NAMES:
        raise ValueError(f"a registered problem needs a new name, not {problem.name!r}")
    _REGISTERED[problem.name] = problem
    return problem


def known() -> tuple[str, ...]:
    """Every problem name: the built-in ones, then the registered ones."""
    return NAMES + tuple(_REGISTERED)


def get(name: str) -> Problem:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in NAMES:
        raise KeyError(f"unknown problem {name!r}; choose from {', '.join(known())}")
    return importlib.import_module(f"problems.{name}").PROBLEM


def all_problems() -> list[Problem]:
    return [get(name) for name in NAMES]


__all__ = [
    "ARTICLE_NAMES",
    "DERIVATIVE_KINDS",
    "GRADBENCH_NAMES",
    "KINDS",
    "NAMES",
    "Instance",
    "Problem",
    "Size",
    "SizeError",
    "all_problems",
    "get",
    "known",
    "register",
]
