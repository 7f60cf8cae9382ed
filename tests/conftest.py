"""Shared fixtures: one ``backend`` fixture, parametrized over every backend.

A backend whose framework is missing is skipped with its one-line reason on a
developer's machine, and fails under CI (``CI`` set), where every framework is
installed: a missing backend must never pass silently.
"""

from __future__ import annotations

import os

import pytest

import backends


def require(name: str, variant: str | None = None):
    """The backend ``name`` (in ``variant``), or skip (locally) / fail (CI) with the reason."""
    try:
        return backends.get(name, variant)
    except backends.BackendUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI installs every backend)")
        pytest.skip(str(exc))


@pytest.fixture(params=backends.NAMES)
def backend(request):
    return require(request.param)


@pytest.fixture(
    params=[(b, v) for b in backends.NAMES for v in backends.variants(b)], ids=lambda bv: backends.mode_label(*bv)
)
def backend_mode(request):
    """(backend bound to a variant, the variant's name), for every variant of every backend."""
    name, variant = request.param
    return require(name, variant), variant
