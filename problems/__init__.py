"""Problems of the seed article, each written once against the backend protocol.

``get(name)`` returns the problem object; ``NAMES`` lists them in the article's
order. Importing this package imports NumPy only.
"""

from __future__ import annotations

import importlib

from .base import DERIVATIVE_KINDS, KINDS, Instance, Problem, Size, SizeError

NAMES = (
    "finite_difference",
    "quadratic",
    "linear_regression",
    "logistic_regression",
    "xor_net",
    "newton",
    "kmeans",
    # GradBench's workloads (github.com/gradbench/gradbench), written against the same protocol
    "lse",
    "llsq",
    "gmm",
    "ode",
)


def get(name: str) -> Problem:
    if name not in NAMES:
        raise KeyError(f"unknown problem {name!r}; choose from {', '.join(NAMES)}")
    return importlib.import_module(f"problems.{name}").PROBLEM


def all_problems() -> list[Problem]:
    return [get(name) for name in NAMES]


__all__ = ["DERIVATIVE_KINDS", "KINDS", "NAMES", "Instance", "Problem", "Size", "SizeError", "all_problems", "get"]
