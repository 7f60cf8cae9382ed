"""nox sessions: ``tests`` (the test suite), ``lint``; bench and report sessions below.

Every session installs the project with ``constraints.txt``, the lock file that
pins the framework versions reference results are measured with.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import nox
import nox.command

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

BACKEND_EXTRAS = {"numpy": "dev", "jax": "jax,dev", "torch": "torch,dev", "tensorflow": "tensorflow,dev"}

#: The index that serves each pinned package whose version has a local label
#: (``torch==2.13.0+cpu``): the public index has no such builds, only its default
#: torch for Linux, a CUDA build of several gigabytes. ``BENCH_TORCH_INDEX`` names
#: a mirror of PyTorch's CPU wheel index instead.
LOCAL_LABEL_INDEXES = {"torch": os.environ.get("BENCH_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")}
CONSTRAINTS = Path(__file__).parent / "constraints.txt"
#: the same pins with the frameworks' CUDA builds (README: "GPU runs"); no session installs it
GPU_CONSTRAINTS = Path(__file__).parent / "constraints-gpu.txt"


def pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    """A constraints file (constraints.txt) as {canonical package name: requirement line}."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0]
            out[canonical(name)] = line
    return out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def extra_packages(extras: str) -> set[str]:
    """The canonical names of the packages the project's extras ask for (``all`` expanded)."""
    optional = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names, todo, seen = set(), [e.strip() for e in extras.split(",") if e.strip()], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional.get(extra, []):
            nested = re.fullmatch(r"autodiff-bench\[(.*)\]", req.split(";")[0].strip())
            if nested:
                todo += [e.strip() for e in nested.group(1).split(",")]
            else:
                names.add(canonical(re.split(r"[=<>!~;\[ ]", req, maxsplit=1)[0]))
    return names


def local_label_steps(extras: str) -> list[tuple[str, str]]:
    """(pin, index) for each pinned package with a local version label that ``extras`` pull in."""
    wanted = extra_packages(extras)
    return [
        (pin, LOCAL_LABEL_INDEXES[name])
        for name, pin in pins().items()
        if "+" in pin.split("==", 1)[-1] and name in wanted
    ]


def install(session: nox.Session, extras: str) -> None:
    """The project with ``extras``, every version pinned by constraints.txt.

    A pin with a local version label (``torch==2.13.0+cpu``) is installed first, alone,
    from the index that serves it (PyTorch's CPU wheel index), so that the public index
    is never asked for it and the main install finds it already satisfied.
    """
    for pin, index in local_label_steps(extras):
        try:
            session.install("--no-deps", "--extra-index-url", index, pin)
        except nox.command.CommandFailed:
            session.error(
                f"{pin} is served by {index}, which pip could not reach or which lacks it: "
                "allow that index, or set BENCH_TORCH_INDEX to a mirror of it"
            )
    session.install("-c", "constraints.txt", "-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, every backend installed."""
    install(session, "all,dev")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (the rule set in pyproject.toml), ruff's formatter, mypy on the protocol, backends and problems."""
    install(session, "dev")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


# --- benchmark sessions -----------------------------------------------------------------
#
# ``nox -s bench`` checks agreement, then times every backend in its own virtual
# environment (the ``bench_backend`` sessions), all into one run folder under
# results/, and ends with the report. Arguments after ``--`` go to
# ``python -m bench run`` (for example ``-- --size small --threads 1``); ``--out DIR``
# there names the run folder (default: results/<date-time>), and ``--backend NAME``
# chooses the backend sessions that run (each gets only its own backend; the
# agreement check is narrowed to them too).

BENCH_BACKENDS = ("numpy", "jax", "torch", "tensorflow")


def _split_out(posargs: list[str]) -> tuple[str, list[str]]:
    """(run folder, the other arguments) from a session's posargs."""
    import datetime

    args, out, it = [], None, iter(posargs)
    for arg in it:
        if arg == "--out":
            out = next(it, None)
        elif arg.startswith("--out="):
            out = arg.split("=", 1)[1]
        else:
            args.append(arg)
    return out or f"results/{datetime.datetime.now():%Y%m%d-%H%M%S}", args


def _split_backends(args: list[str]) -> tuple[list[str], list[str]]:
    """(the backends named by ``--backend`` options, comma lists split; the other arguments)."""
    named: list[str] = []
    rest, it = [], iter(args)
    for arg in it:
        if arg == "--backend" or arg.startswith("--backend="):
            value = arg.split("=", 1)[1] if "=" in arg else next(it, None)
            if value is None:
                rest.append(arg)  # no value: ``bench run`` says so
                continue
            named += [b.strip() for b in value.split(",") if b.strip() and b.strip() not in named]
        else:
            rest.append(arg)
    return named, rest


def _session_backends(backend: str, named: list[str]) -> list[str]:
    """What the ``bench_backend(backend)`` session times: of ``named``, its own (the article's loops run
    with NumPy); with nothing named, its backend (and the article's loops with NumPy)."""
    own = [backend] + (["article"] if backend == "numpy" else [])
    return [b for b in named if b in own] if named else own


@nox.session
@nox.parametrize("backend", [nox.param(b, id=b) for b in BENCH_BACKENDS])
def bench_backend(session: nox.Session, backend: str) -> None:
    """Time one backend in its own environment; pytest-benchmark JSON and cell records go to the run folder."""
    install(session, BACKEND_EXTRAS[backend])
    out, args = _split_out(session.posargs)
    named, args = _split_backends(args)
    mine = _session_backends(backend, named)
    others = [b for b in named if b not in mine]
    if others:
        session.error(
            f"bench_backend({backend}) times {' and '.join(_session_backends(backend, []))} only, not --backend "
            f"{others[0]}: use nox -s bench -- --backend {others[0]}, which runs the session that has it"
        )
    backend_args = [word for b in mine for word in ("--backend", b)]
    session.run("python", "-c", f"import pathlib; pathlib.Path({out!r}).mkdir(parents=True, exist_ok=True)")
    # --resume: several backend sessions fill one run folder, and a rerun continues it.
    # Exit status 3: the run ended but some cell did not end ok (named in the summary and the report).
    session.run("python", "-m", "bench", "run", *backend_args, "--out", out, "--resume", *args, success_codes=[0, 3])


@nox.session
def bench(session: nox.Session) -> None:
    """Agreement check, then every backend (each in its own environment), then the report."""
    install(session, "all,dev")
    out, args = _split_out(session.posargs)
    named, args = _split_backends(args)
    foreign = [b for b in named if b not in (*BENCH_BACKENDS, "article")]
    if foreign:
        session.error(
            f"nox -s bench times {', '.join(BENCH_BACKENDS)} and article, each in its own environment, not "
            f"--backend {foreign[0]}: time that one with python -m bench run in an environment that has it"
        )
    session.run("python", "-c", f"import pathlib; pathlib.Path({out!r}).mkdir(parents=True, exist_ok=True)")
    check_args = [a for a in _check_filters(args)] + [f"--backend={b}" for b in named if b != "article"]
    # a mismatch is reported in agreement.json and the report; the timings still run
    session.run(
        "python",
        "-m",
        "bench",
        "check",
        "--quiet",
        "--json",
        f"{out}/agreement.json",
        *check_args,
        success_codes=[0, 1],
    )
    for backend in BENCH_BACKENDS:  # a --backend reaches only the session that times it
        mine = _session_backends(backend, named)
        if mine:
            posargs = ["--out", out, *[f"--backend={b}" for b in mine], *args]
            session.notify(f"bench_backend({backend})", posargs=posargs)
    session.notify("bench_report", posargs=[out])


def _check_filters(args: list[str]) -> list[str]:
    """The run arguments ``bench check`` understands too (problem, dtype, mode, kind)."""
    keep, it = [], iter(args)
    for arg in it:
        name = arg.split("=", 1)[0]
        if name in ("--problem", "--dtype", "--mode", "--kind"):
            keep += [arg] if "=" in arg else [arg, next(it, "")]
    return keep


@nox.session
def bench_report(session: nox.Session) -> None:
    """The report of a run folder: ``nox -s bench_report -- RUN_DIR``."""
    install(session, "dev")
    if not session.posargs:
        session.error("name the run folder: nox -s bench_report -- results/<run>")
    run = session.posargs[0]
    session.run("python", "-m", "bench", "report", *session.posargs)
    session.log(f"report: {run}/report/index.html (tidy table: {run}/results.csv)")


@nox.session
def report(session: nox.Session) -> None:
    """Charts, report.md and index.html: ``nox -s report -- RUN_DIR [RUN_DIR ...] [--compare OTHER] [--out DIR]``
    (no arguments: the newest run under results/)."""
    install(session, "dev")
    session.run("python", "-m", "bench", "report", *session.posargs)
