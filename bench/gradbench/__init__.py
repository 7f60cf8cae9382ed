"""Our backends as a GradBench tool (github.com/gradbench/gradbench).

``python -m bench gradbench --backend B [--mode M]`` speaks GradBench's protocol
on stdin and stdout (JSON Lines: start, define, evaluate, analysis) for the
modules hello, lse, llsq, kmeans, gmm, ode, det, lstm, particle and saddle, computing every function through
this harness's own problem code and backend verbs (see :mod:`bench.gradbench.tool`).
Give it to GradBench's intermediary as a tool command:

    gradbench run --eval "gradbench repo eval lse" --tool "python -m bench gradbench --backend jax"

``--mode`` takes eager, compiled or a variant name (jit, autograd, xla ...);
default: the backend's compiled variant where it has one. ``--threads`` sizes
every thread pool before the framework starts (default 1: GradBench runs its
tools single-threaded). Logs go to stderr; stdout carries replies only.
:mod:`bench.gradbench.evals` is a small eval side that replays GradBench's
inputs and summarises the timings (``python -m bench.gradbench.evals --help``).
"""

from __future__ import annotations

import argparse
import os
import sys

import backends

from ..cli import UsageError, choose, load_plugins

HELP = "serve GradBench's protocol on stdin/stdout: one backend as a GradBench tool"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", required=True, metavar="NAME", help=f"one of {', '.join(backends.NAMES)}")
    p.add_argument(
        "--mode",
        "--variant",
        metavar="MODE",
        dest="mode",
        help="eager, compiled or a variant (jit, autograd, xla ...); default: compiled where there is one",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="threads for every framework pool, set before the framework starts (default 1, as GradBench)",
    )


def variant(name: str, mode: str | None) -> str:
    """The variant ``--mode`` names for a backend (default: its compiled one, else eager)."""
    info = backends.info(name)
    try:
        return info.variant(mode or ("compiled" if info.can_compile else "eager")).name
    except KeyError as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def main(args: argparse.Namespace) -> int:
    from ..runner import threads

    load_plugins()  # backends BENCH_PLUGINS registers (python -m bench.gradbench too)
    (name,) = choose([args.backend], backends.REGISTRY, "backend")
    chosen = variant(name, args.mode)
    if args.threads < 1:
        raise UsageError(f"--threads must be a positive integer, not {args.threads}")
    os.environ.update(threads.environment(args.threads))  # before any pool starts (NumPy's too, when run directly)
    cpus = threads.pin(args.threads)
    from .tool import Tool, protocol_stdout, serve

    out = protocol_stdout()  # from here on, stray prints of any library go to stderr
    try:
        backend = backends.get(name, chosen)
    except backends.BackendUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    settings = {"threads": args.threads, "cpus": cpus, **backend.set_threads(args.threads)}
    print(f"gradbench tool: {backend.label} {backend.version()}, {args.threads} thread(s)", file=sys.stderr)
    return serve(Tool(backend, settings), sys.stdin, out)
