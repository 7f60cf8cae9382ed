"""Shared fixtures and hooks: one ``backend`` fixture, parametrized over every backend, and the
markers every test gets (``unit`` or ``framework``, and ``slow``: the rule is tests/support/markers.py).

A backend whose framework is missing is skipped with its one-line reason on a
developer's machine, and fails under CI (``CI`` set), where every framework is
installed: a missing backend must never pass silently. Helpers the test modules
share are in ``tests/support``, not here.
"""

from __future__ import annotations

import pytest

import backends

from .support import markers, require


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    markers.apply(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with markers.watched(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with markers.watched(item):
        return (yield)


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
