"""nox sessions: ``tests`` (the test suite), ``tests_fast`` (its unit tests), ``lint``; bench and report sessions below.

Every session installs the project with ``constraints.txt``, the lock file that
pins the framework versions reference results are measured with.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

import nox
import nox.command

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

sys.path.insert(0, str(Path(__file__).parent))  # the repository's own packages, whatever the working directory
import backends  # noqa: E402 - imports no framework (tests/test_protocol.py)

#: the built-in backends, in registry order: ``nox -s bench`` times each in its own environment
BENCH_BACKENDS = backends.NAMES
#: the extras each backend's session installs: its own (``BackendInfo.extra``) and the dev tools
BACKEND_EXTRAS = {name: ",".join(e for e in (backends.info(name).extra, "dev") if e) for name in BENCH_BACKENDS}

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


def local_label_steps(extras: str, constraints: Path = CONSTRAINTS) -> list[tuple[str, str]]:
    """(pin, index) for each pinned package with a local version label that ``extras`` pull in."""
    wanted = extra_packages(extras)
    return [
        (pin, LOCAL_LABEL_INDEXES[name])
        for name, pin in pins(constraints).items()
        if "+" in pin.split("==", 1)[-1] and name in wanted
    ]


def install(session: nox.Session, extras: str, constraints: Path | None = None) -> None:
    """The project with ``extras``, every version pinned by constraints.txt (or ``constraints``).

    A pin with a local version label (``torch==2.13.0+cpu``) is installed first, alone,
    from the index that serves it (PyTorch's CPU wheel index), so that the public index
    is never asked for it and the main install finds it already satisfied.
    """
    for pin, index in local_label_steps(extras, constraints or CONSTRAINTS):
        try:
            session.install("--no-deps", "--extra-index-url", index, pin)
        except nox.command.CommandFailed:
            session.error(
                f"{pin} is served by {index}, which pip could not reach or which lacks it: "
                "allow that index, or set BENCH_TORCH_INDEX to a mirror of it"
            )
    session.install("-c", str(constraints or "constraints.txt"), "-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, every backend installed; the 25 slowest tests named at the end."""
    install(session, "all,dev")
    session.run("python", "-m", "pytest", "--durations=25", *session.posargs)


@nox.session
def tests_fast(session: nox.Session) -> None:
    """The inner loop: the unit tests that are not slow (``-m "unit and not slow"``, under a minute on two
    cores). No framework is installed: a unit test runs none (the markers: tests/support/markers.py)."""
    install(session, "dev")
    session.run("python", "-m", "pytest", "-q", "-m", "unit and not slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (the rule set in pyproject.toml), ruff's formatter, mypy on the files pyproject lists."""
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
    session.notify("report", posargs=[out])


def _check_filters(args: list[str]) -> list[str]:
    """The run arguments ``bench check`` understands too (problem, dtype, mode, kind)."""
    keep, it = [], iter(args)
    for arg in it:
        name = arg.split("=", 1)[0]
        if name in ("--problem", "--dtype", "--mode", "--kind"):
            keep += [arg] if "=" in arg else [arg, next(it, "")]
    return keep


@nox.session
def report(session: nox.Session) -> None:
    """Charts, report.md and index.html: ``nox -s report -- RUN_DIR [RUN_DIR ...] [--compare OTHER] [--out DIR]``
    (no arguments: the newest run under results/); ``nox -s bench`` ends with it on its run folder."""
    install(session, "dev")
    session.run("python", "-m", "bench", "report", *session.posargs)


# --- framework versions side by side ------------------------------------------------------------
#
# ``nox -s versions -- jax==0.10.1 jax==0.10.2 [-- run arguments]`` makes one virtual environment per
# requested version (every other package pinned by constraints.txt), checks agreement in each, times
# the same plan in each, in rounds that alternate the environments (A B, then B A, ...) so that the
# machine's drift hits every version alike, and ends with ``python -m bench versions``: each cell
# slower, faster or cannot tell, with the change's 95% interval. A framework named once is compared
# with its pinned version; several frameworks in one call are each compared with their own. The run
# arguments choose the plan (``--problem``, ``--size``, ``--kind``, ``--mode`` ...); ``--out DIR``
# (default results/versions-<date-time>) and ``--rounds N`` (default 2) are the session's own.
# A version the indexes pip reaches cannot install is named in one line and left out. ``torch==2.12.0``
# asks for the CPU build of constraints.txt's label (2.12.0+cpu, from PyTorch's CPU index); PEP 440's
# ``torch===2.12.0`` for exactly 2.12.0, the public index's own build (CUDA, several GB, also runs on a CPU).

#: a framework's distributions: a requested version of one replaces the pins of all (pip chooses the rest)
VERSION_FAMILIES = {name: backends.info(name).distributions for name in BENCH_BACKENDS}
VERSION_ROUNDS = 2
VERSIONS_USAGE = "nox -s versions -- jax==0.10.1 jax==0.10.2 [-- run arguments]"


class VersionUnavailable(Exception):
    """A requested version that cannot be installed (the message: one line saying why)."""


def _family(name: str) -> str | None:
    return next((f for f, members in VERSION_FAMILIES.items() if canonical(name) in members), None)


def _version_args(posargs: list[str]) -> tuple[list[str], list[str]]:
    """(the requested versions, the run arguments): the versions end at ``--`` or at the first option."""
    if "--" in posargs:
        at = posargs.index("--")
        return posargs[:at], posargs[at + 1 :]
    at = next((i for i, arg in enumerate(posargs) if arg.startswith("-")), len(posargs))
    return posargs[:at], posargs[at:]


def _take_option(args: list[str], name: str) -> tuple[str | None, list[str]]:
    """(the value of ``name VALUE`` or ``name=VALUE`` in ``args``, the other arguments)."""
    value, rest, it = None, [], iter(args)
    for arg in it:
        if arg == name:
            value = next(it, None)
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return value, rest


def _requirement_parts(requirement: str) -> tuple[str, bool, str]:
    """(name, exact, version) of ``name==version`` or ``name===version`` (exact: PEP 440's arbitrary
    equality, that very version string, never a build with a local label)."""
    if "===" in requirement:
        name, _, version = requirement.partition("===")
        return name, True, version
    name, _, version = requirement.partition("==")
    return name, False, version


def _requirement_name(requirement: str) -> str:
    return _requirement_parts(requirement)[0]


def version_requirements(specs: list[str], pinned: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(every requirement to give an environment, in order, the framework's pinned version first where it
    is named once; the one-line refusals of what is no ``name==version`` of a known framework)."""
    pinned = pins() if pinned is None else pinned
    wanted: dict[str, list[str]] = {}
    refused = []
    for spec in specs:
        name, exact, version = _requirement_parts(spec)
        family = _family(name)
        if not version or not re.fullmatch(r"[A-Za-z0-9._+!-]+", version) or family is None:
            refused.append(
                f"{spec!r}: name a version as NAME==VERSION of {', '.join(VERSION_FAMILIES)} ({VERSIONS_USAGE})"
            )
            continue
        # the distribution constraints.txt pins for this framework (tensorflow -> tensorflow-cpu on Linux)
        dist = next((d for d in VERSION_FAMILIES[family] if d in pinned), canonical(name))
        label = pinned.get(dist, "").partition("+")[2]
        if label and "+" not in version and not exact:  # torch==2.12.0 -> the CPU build torch==2.12.0+cpu
            version = f"{version}+{label}"
        requirement = f"{dist}{'===' if exact else '=='}{version}"
        if requirement not in wanted.setdefault(family, []):
            wanted[family].append(requirement)
    out = []
    for family, requirements in wanted.items():
        if len(requirements) == 1:
            pin = next((pinned[d] for d in VERSION_FAMILIES[family] if d in pinned), None)
            base = f"{canonical(pin.split('==')[0])}=={pin.split('==')[1]}" if pin else None
            if base is None or base == requirements[0]:
                refused.append(f"{requirements[0]}: name a second version of {family} to compare it with")
                continue
            requirements = [base, *requirements]
        out += requirements
    return out, refused


def index_problem(requirement: str, listing: str | None) -> str | None:
    """Why ``requirement`` (``jax==0.10.1``) cannot be installed, in one line, from what ``pip index
    versions`` printed; None where it is listed, or where the listing says nothing to go by."""
    if not listing or "unknown command" in listing:
        return None
    name, _, version = _requirement_parts(requirement)
    index = LOCAL_LABEL_INDEXES.get(canonical(name))
    hint = (
        f"; {name}'s {version.partition('+')[2]} builds come from {index}, which pip could not reach or which "
        "lacks it: allow that index, or set BENCH_TORCH_INDEX to a mirror of it"
        if index and "+" in version
        else ""
    )
    found = re.search(r"Available versions:\s*(.*)", listing)
    if found:
        offered = [v.strip() for v in found.group(1).split(",") if v.strip()]
        if version in offered:
            return None
        shown = ", ".join(offered[:8]) + (" ..." if len(offered) > 8 else "")
        return f"{requirement} cannot be installed: the indexes pip reaches offer {name} {shown}{hint}"
    errors = [line.strip() for line in listing.splitlines() if line.strip().startswith("ERROR")]
    said = errors[0] if errors else (listing.strip().splitlines() or [""])[-1].strip()
    return f"{requirement} cannot be installed: pip index versions {name} says {said!r}{hint}"


def _index_listing(session: nox.Session, name: str) -> str | None:
    """What ``pip index versions NAME`` prints (the index that serves a local-label pin asked too)."""
    index = LOCAL_LABEL_INDEXES.get(canonical(name))
    extra = ["--extra-index-url", index] if index else []
    return session.run("python", "-m", "pip", "index", "versions", name, *extra, silent=True, success_codes=range(256))


class _EnvironmentPip:
    """Enough of a session for :func:`install` to install into another virtual environment."""

    def __init__(self, session: nox.Session, python: str, requirement: str):
        self.session, self.python, self.requirement = session, python, requirement

    def install(self, *args: str) -> None:
        self.session.run(self.python, "-m", "pip", "install", "--quiet", *args, external=True)

    def error(self, *args) -> None:
        raise VersionUnavailable(f"{self.requirement} cannot be installed: {' '.join(map(str, args))}")


def _version_environment(session: nox.Session, requirement: str, folder: str) -> str:
    """The python of a virtual environment with ``requirement`` and the project (its framework's extras),
    every other package pinned by constraints.txt; :class:`VersionUnavailable` where that cannot be."""
    problem = index_problem(requirement, _index_listing(session, _requirement_name(requirement)))
    if problem:
        raise VersionUnavailable(problem)
    name = canonical(_requirement_name(requirement))
    family = VERSION_FAMILIES[_family(name) or name]
    python = f"{folder}/bin/python"
    session.run("python", "-m", "venv", folder)
    constraints = Path(folder) / "constraints.txt"  # constraints.txt with the framework's pins replaced
    constraints.parent.mkdir(parents=True, exist_ok=True)
    constraints.write_text(
        "".join(f"{pin}\n" for dist, pin in pins().items() if dist not in family) + requirement + "\n"
    )
    extras = _family(name) or "numpy"  # the runner's own needs (pytest, pytest-benchmark) are the project's
    extras = extras if extras != "numpy" else "dev"
    try:
        install(_EnvironmentPip(session, python, requirement), extras, constraints)
    except nox.command.CommandFailed:
        raise VersionUnavailable(
            f"{requirement} cannot be installed with the other pins of constraints.txt (pip's error above)"
        ) from None
    return python


@nox.session
def versions(session: nox.Session) -> None:
    """Framework versions side by side: ``nox -s versions -- jax==0.10.1 jax==0.10.2 [-- run arguments]``."""
    install(session, "dev")  # the comparison's own environment
    specs, args = _version_args(session.posargs)
    if not specs:
        session.log(f"name the versions to compare: {VERSIONS_USAGE}; the indexes pip reaches offer:")
        for name in ("jax", "torch", "tensorflow-cpu"):
            listing = _index_listing(session, name) or ""
            found = re.search(r"Available versions:\s*(.*)", listing)
            session.log(f"  {name}: {found.group(1).strip() if found else 'none'}")
        return
    requirements, refused = version_requirements(specs)
    if refused:
        session.error(refused[0])
    rounds_text, args = _take_option(args, "--rounds")
    if rounds_text is not None and not (rounds_text.isdigit() and 1 <= int(rounds_text) <= 20):
        session.error(f"--rounds {rounds_text}: give a whole number of rounds from 1 to 20 (default {VERSION_ROUNDS})")
    rounds = int(rounds_text) if rounds_text else VERSION_ROUNDS
    named_out = _take_option(args, "--out")[0]
    out, args = _split_out(args)
    out = named_out or out.replace("results/", "results/versions-", 1)
    for word in ("--backend", "--resume"):
        if any(a == word or a.startswith(word + "=") for a in args):
            session.error(f"{word}: nox -s versions chooses each environment's backend and run folders; leave it out")
    if not any(a == "--repeat" or a.startswith("--repeat=") for a in args):
        args = ["--repeat", "none", *args]  # the rounds measure every cell again, in other processes
    envs = getattr(getattr(session, "virtualenv", None), "location", None)
    envs_dir = str(Path(envs).parent) if envs else ".nox"
    ready: list[tuple[str, str, str]] = []  #: (requirement, python, folder of its timings)
    for requirement in requirements:
        slug = re.sub(r"[^A-Za-z0-9._+-]", "_", requirement.replace("===", "-").replace("==", "-"))
        try:
            python = _version_environment(session, requirement, f"{envs_dir}/versions-{slug}")
        except VersionUnavailable as exc:
            session.warn(f"{exc}; left out, the other versions still run")
            continue
        ready.append((requirement, python, f"{out}/{slug}"))
    family_of = {r: _family(_requirement_name(r[0])) for r in ready}
    for family in VERSION_FAMILIES:
        members = [r for r in ready if family_of[r] == family]
        if len(members) == 1:
            session.warn(f"{members[0][0]} is the only version of {family} installed: nothing to compare it with")
    ready = [r for r in ready if sum(family_of[o] == family_of[r] for o in ready) > 1]
    if not ready:
        session.error("no framework has two versions installed: nothing to compare (the lines above say why)")
    for requirement, python, folder in ready:
        backend = _family(_requirement_name(requirement)) or "numpy"
        Path(folder).mkdir(parents=True, exist_ok=True)
        session.run(
            python, "-m", "bench", "check", "--quiet", "--json", f"{folder}/agreement.json",
            *_check_filters(args), f"--backend={backend}", success_codes=[0, 1], external=True,
        )  # fmt: skip
    for k in range(1, rounds + 1):
        for requirement, python, folder in ready if k % 2 else list(reversed(ready)):
            backend = _family(_requirement_name(requirement)) or "numpy"
            session.log(f"round {k} of {rounds}: {requirement}")
            session.run(
                python, "-m", "bench", "run", "--backend", backend, "--out", f"{folder}/round-{k}", *args,
                success_codes=[0, 3], external=True,
            )  # fmt: skip
    session.run("python", "-m", "bench", "versions", "--runs", *[f for _, _, f in ready], "--out", f"{out}/report")
