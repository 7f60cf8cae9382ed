"""nox sessions: ``tests`` (the test suite), ``lint``; bench and report sessions below.

Every session installs the project with ``constraints.txt``, the lock file that
pins the framework versions reference results are measured with.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

BACKEND_EXTRAS = {"numpy": "dev", "jax": "jax,dev", "torch": "torch,dev", "tensorflow": "tensorflow,dev"}


def install(session: nox.Session, extras: str) -> None:
    session.install("-c", "constraints.txt", "-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, every backend installed."""
    install(session, "all,dev")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "backends", "problems", "bench", "tests", "noxfile.py")


@nox.session
def report(session: nox.Session) -> None:
    """Charts, report.md and index.html: ``nox -s report -- RUN_DIR [RUN_DIR ...] [--compare OTHER] [--out DIR]``
    (no arguments: the newest run under results/)."""
    install(session, "dev")
    session.run("python", "-m", "bench", "report", *session.posargs)
