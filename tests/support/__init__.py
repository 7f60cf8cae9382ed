"""Helpers the test modules share: the repository root, the quickest run options, the fault
plugins, ``python -m bench`` in a child process, and a backend or a skip.

They live here rather than in ``tests/conftest.py``, which pytest loads as a plugin and which
holds only fixtures and hooks; ``tests/support/markers.py`` sets the test markers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import backends

REPO = Path(__file__).resolve().parent.parent.parent
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


def sigint_as_a_terminal() -> None:
    """``preexec_fn`` of a child a test stops with Ctrl-C's SIGINT: its default handling back, which a shell
    that starts the suite in the background (``cmd &``) sets to ignored, so Python would never raise
    KeyboardInterrupt in it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
