"""The ``run`` command's arguments, validated in full once, into one typed :class:`RunConfig`.

Nothing below the command line sees the argparse namespace. Every number is
checked here (finite, in range) before any file is written.
"""

from __future__ import annotations

import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from backends.base import DTYPES
from problems.base import KINDS

from ..cli import UsageError
from . import pools

#: dtypes timed unless --dtype says otherwise
DEFAULT_DTYPES = ("float64",)
#: kinds timed unless --kind says otherwise: the article's derivatives (jvp and vjp of the model: --kind jvp,vjp)
DEFAULT_KINDS = ("objective", "gradient", "hessian", "hvp", "solve")
DEFAULT_TIMEOUT = 180.0
DEFAULT_MIN_ROUNDS = 5
#: pytest-benchmark's calibrated rounds last this long per cell (at least DEFAULT_MIN_ROUNDS rounds)
DEFAULT_MAX_TIME = 0.1
#: timed seconds allowed to a cell whose one call exceeds --max-time
DEFAULT_SLOW_BUDGET = 10.0
#: limits of the numeric flags (a day is the longest anything may take)
LIMITS = {"timeout": (0.0, 86_400.0), "max_time": (0.0, 3_600.0), "slow_budget": (0.0, 86_400.0)}
MAX_ROUNDS = 1_000_000
FILTERS = ("backend", "problem", "size", "dtype", "mode", "kind", "device")
#: which cells a second worker process measures again, later in the run (bench.verdicts.contenders)
REPEATS = ("auto", "contenders", "all", "none")
DEFAULT_REPEAT = "auto"
#: the processes that measure each cell ``--repeat`` chooses, the first included (pyperf's ``--processes``)
DEFAULT_PROCESSES = 2
MAX_PROCESSES = 20


@dataclass(frozen=True)
class RunConfig:
    """Everything ``python -m bench run`` was asked to do, checked."""

    backend: tuple[str, ...] = ()  #: filters as given (empty: the default)
    problem: tuple[str, ...] = ()
    size: tuple[str, ...] = ()
    dtype: tuple[str, ...] = ()
    mode: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    threads: int = 1
    out: Path | None = None
    resume: bool = False
    timeout: float = DEFAULT_TIMEOUT
    min_rounds: int = DEFAULT_MIN_ROUNDS
    max_time: float = DEFAULT_MAX_TIME
    slow_budget: float = DEFAULT_SLOW_BUDGET
    tag: str | None = None
    max_memory: float | None = None  #: bytes; None: the memory available when planning
    list_only: bool = False
    scheduler: str | None = None
    repeat: str = DEFAULT_REPEAT
    processes: int = DEFAULT_PROCESSES
    wait_policy: str = pools.DEFAULT_WAIT_POLICY
    command: str = "python -m bench run"

    @property
    def filtered(self) -> bool:
        """Whether any filter was given (else --resume continues the folder's own plan)."""
        return any(getattr(self, name) for name in FILTERS) or self.threads_given

    threads_given: bool = False


def add_arguments(p) -> None:
    add = p.add_argument
    add(
        "--backend",
        action="append",
        metavar="NAME",
        help="numpy, jax, torch, tensorflow or article (repeatable; default: every installed one and article)",
    )
    add(
        "--problem",
        action="append",
        metavar="NAME",
        help="problem to time (repeatable; default: the article's seven; GradBench's lse, llsq, gmm, ode when named)",
    )
    add(
        "--size",
        action="append",
        metavar="SIZE",
        help="a named size (article, small, medium, large ...), an integer main dimension, or gradbench (every "
        "GradBench workload of the chosen problems) (repeatable; default: each problem's default sizes)",
    )
    add(
        "--dtype",
        action="append",
        metavar="DTYPE",
        help=f"{' or '.join(DTYPES)} (repeatable; default: {', '.join(DEFAULT_DTYPES)})",
    )
    add(
        "--mode",
        action="append",
        metavar="MODE",
        help="eager, compiled, witness or a variant name (hand, jit, func, autograd, compile, tape, function, xla; "
        "python -m bench list shows them) (repeatable; default: every variant and the witnesses)",
    )
    add(
        "--kind",
        action="append",
        metavar="KIND",
        help=f"{', '.join(KINDS)} (repeatable; default: {', '.join(DEFAULT_KINDS)})",
    )
    add(
        "--device",
        action="append",
        metavar="DEVICE",
        help="cpu or gpu (repeatable; default: cpu). Before a gpu run each backend is asked whether it sees a GPU: "
        "one named with --backend that does not stops the run (exit 2, nothing run); of the default backends, "
        "those that do not are left out of the GPU cells (a note each) and the others run",
    )
    add(
        "--threads",
        metavar="N",
        help=f"threads for every framework (default: all {pools.default()} CPUs this process may use)",
    )
    add("--out", metavar="DIR", help="run folder (default: results/<date-time>)")
    add(
        "--resume",
        action="store_true",
        help="continue the run folder (--out, or the latest under results/) without redoing finished cells",
    )
    add(
        "--timeout",
        metavar="SECONDS",
        default=str(DEFAULT_TIMEOUT),
        help=f"longest time one cell may take, first call included (default: {DEFAULT_TIMEOUT:g})",
    )
    add(
        "--min-rounds",
        metavar="N",
        default=str(DEFAULT_MIN_ROUNDS),
        help=f"pytest-benchmark's --benchmark-min-rounds (default: {DEFAULT_MIN_ROUNDS})",
    )
    add(
        "--max-time",
        metavar="SECONDS",
        default=str(DEFAULT_MAX_TIME),
        help=f"pytest-benchmark's --benchmark-max-time per cell (default: {DEFAULT_MAX_TIME:g})",
    )
    add(
        "--slow-budget",
        metavar="SECONDS",
        default=str(DEFAULT_SLOW_BUDGET),
        help="timed seconds allowed to a cell whose one call exceeds --max-time: 1 to 3 rounds "
        f"(default: {DEFAULT_SLOW_BUDGET:g})",
    )
    add(
        "--repeat",
        metavar="WHICH",
        help="cells measured again in a second worker process, later in the run, so that each verdict rests on "
        "two processes: contenders (the rows a fastest-row verdict is close between, unstable ones, the witnesses "
        "and their best rows), auto (the contenders, then the cells measured while the machine ran slow or busy, "
        "then the cheapest other cells, within 30%% of the run's time), "
        f"all, or none (default: {DEFAULT_REPEAT})",
    )
    add(
        "--processes",
        metavar="N",
        help="how many worker processes measure each cell --repeat chooses, the first included, each later "
        "pass in a new process: the between-process noise of a median shrinks as the square root of N, at N "
        "times the cells' time; from 3, a cell is judged on the median of all its processes, robust to a slow "
        f"few (2 to {MAX_PROCESSES}; default: {DEFAULT_PROCESSES})",
    )
    add(
        "--wait-policy",
        metavar="POLICY",
        default=pools.DEFAULT_WAIT_POLICY,
        help="how OpenMP's idle threads wait in every worker (OMP_WAIT_POLICY): passive (sleep), active (spin, "
        "pathological on a shared machine) or inherit (as this shell has it) "
        f"(default: {pools.DEFAULT_WAIT_POLICY}; recorded in env.json)",
    )
    add("--tag", metavar="NAME", help="machine name stored with the results (default: the host name)")
    add(
        "--max-memory",
        metavar="SIZE",
        help="refuse sizes estimated to need more memory than this, e.g. 8GB (default: memory available now)",
    )
    add(
        "--scheduler",
        metavar="ADDRESS",
        help="run the worker groups on a Dask cluster: tcp://HOST:8786 (a running scheduler) or local:N "
        "(a local cluster of N workers); needs the [cluster] extra",
    )
    add("--list", action="store_true", help="print the cells that would run and exit")


def from_args(args) -> RunConfig:
    """The one typed configuration; bad input is one :class:`UsageError` line, before any file is written."""
    threads_given = args.threads is not None
    tag = args.tag
    if tag is not None and (not tag.strip() or any(c in tag for c in "/\\\n\r\t")):
        raise UsageError(f"--tag {tag!r} must be a non-empty name without slashes or line breaks")
    given_repeat, given_processes = getattr(args, "repeat", None), getattr(args, "processes", None)
    repeat = _choice("--repeat", DEFAULT_REPEAT if given_repeat is None else given_repeat, REPEATS)
    processes = parse_count(
        "--processes", str(DEFAULT_PROCESSES) if given_processes is None else given_processes, 2, MAX_PROCESSES
    )
    if repeat == "none" and processes != DEFAULT_PROCESSES:
        raise UsageError(f"--processes {processes} measures the cells --repeat chooses, and --repeat none chooses none")
    for option, value in (("--repeat", given_repeat), ("--processes", given_processes)):
        if args.scheduler and value is not None and value != "none":
            raise UsageError(
                f"{option} {value} has no effect with --scheduler: a cluster run measures each cell in one "
                "process and measures none again; leave it out, or run without --scheduler"
            )
    if args.scheduler:  # what env.json records: a cluster run measures each cell once
        repeat, processes = "none", 1
    return RunConfig(
        backend=_tuple(args.backend),
        problem=_tuple(args.problem),
        size=_tuple(args.size),
        dtype=_tuple(args.dtype),
        mode=_tuple(args.mode),
        kind=_tuple(args.kind),
        device=_tuple(args.device),
        threads=parse_threads(args.threads),
        threads_given=threads_given,
        out=Path(args.out) if args.out else None,
        resume=bool(args.resume),
        timeout=parse_seconds("--timeout", args.timeout, *LIMITS["timeout"]),
        min_rounds=parse_count("--min-rounds", args.min_rounds, 1, MAX_ROUNDS),
        max_time=parse_seconds("--max-time", args.max_time, *LIMITS["max_time"]),
        slow_budget=parse_seconds("--slow-budget", args.slow_budget, *LIMITS["slow_budget"]),
        tag=tag,
        max_memory=parse_memory(args.max_memory) if args.max_memory is not None else None,
        list_only=bool(args.list),
        scheduler=args.scheduler,
        repeat=repeat,
        processes=processes,
        wait_policy=_choice(
            "--wait-policy",
            getattr(args, "wait_policy", pools.DEFAULT_WAIT_POLICY),
            pools.WAIT_POLICIES,
        ),
        command=shlex.join(["python", "-m", "bench", "run", *sys.argv[2:]]),
    )


def _choice(flag: str, value, allowed: tuple[str, ...]) -> str:
    text = str(value).strip()
    if text not in allowed:
        raise UsageError(f"{flag} {text!r} is not allowed; use one of {', '.join(allowed)}")
    return text


def _tuple(values) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def parse_seconds(flag: str, value, low: float, high: float) -> float:
    """A finite number of seconds in (low, high]."""
    try:
        x = float(str(value).strip())
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not a number of seconds") from None
    if not math.isfinite(x) or not low < x <= high:
        raise UsageError(f"{flag} {value} must be a positive number of seconds, at most {high:g}")
    return x


def parse_count(flag: str, value, low: int, high: int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not a whole number; use {low} to {high:,}") from None
    if not low <= n <= high:
        raise UsageError(f"{flag} {n} is out of range; use {low} to {high:,}")
    return n


def parse_threads(value) -> int:
    cpus = pools.default()
    if value is None:
        return cpus
    try:
        n = int(str(value).strip())
    except ValueError:
        raise UsageError(f"--threads {value!r} is not an integer; use 1 to {cpus}") from None
    if not 1 <= n <= cpus:
        raise UsageError(f"--threads {n} is out of range; this machine lets this process use 1 to {cpus} CPUs")
    return n


def parse_memory(value) -> float:
    """Bytes from '8GB', '512MB', '1e9'."""
    text = str(value).strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1:], 1)
    try:
        amount = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise UsageError(f"--max-memory {value!r} is not an amount of memory such as 8GB or 512MB") from None
    if not math.isfinite(amount) or amount <= 0:
        raise UsageError(f"--max-memory {value!r} must be a positive, finite amount such as 8GB")
    return amount


def available_memory() -> float:
    import psutil

    return float(psutil.virtual_memory().available)
