"""Shared fixtures: one ``backend`` fixture, parametrized over every backend.

A backend whose framework is missing is skipped with its one-line reason on a
developer's machine, and fails under CI (``CI`` set), where every framework is
installed: a missing backend must never pass silently.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import backends

REPO = Path(__file__).resolve().parent.parent
#: the shortest timing, for tests of what a run records rather than what it measures
QUICK = ["--threads", "1", "--max-time", "0.005", "--min-rounds", "1"]
#: the test backends of tests/fault_backend.py (``fault``: one fault per kind; ``slow``: every call sleeps)
FAULT_PLUGINS = {"BENCH_PLUGINS": "tests.fault_backend"}
#: a run that lasts a few seconds: the slow backend on the article's linear regression
SLOW_RUN = ["--backend", "slow", "--problem", "linear_regression", "--size", "article", *QUICK]


def bench_cli(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m bench ARGS`` in the repository, output captured; ``env`` is added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


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
