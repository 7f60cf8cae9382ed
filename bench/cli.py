"""Shared command-line plumbing: one-line usage errors and filter validation."""

from __future__ import annotations

import sys
from typing import Iterable, Sequence


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
                raise UsageError(f"unknown {what} {item!r}; choose from {', '.join(allowed)}")
            if item not in chosen:
                chosen.append(item)
    return chosen


def fail(message: str, status: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status
