"""Our backends as a GradBench tool (github.com/gradbench/gradbench).

``python -m bench gradbench --backend B [--mode M]`` speaks GradBench's protocol
on stdin and stdout (JSON Lines: start, define, evaluate, analysis) for the
modules hello, lse, llsq, kmeans, gmm, ode, det, lstm, ba, ht, particle and saddle, computing every function through
this harness's own problem code and backend verbs (see :mod:`bench.gradbench.tool`).
Give it to GradBench's intermediary as a tool command:

    gradbench run --eval "gradbench repo eval lse" --tool "python -m bench gradbench --backend jax"

``--mode`` takes eager, compiled or a variant name (jit, autograd, xla ...);
default: the backend's compiled variant where it has one. ``--threads`` sizes
every thread pool before the framework starts (default 1: GradBench runs its
tools single-threaded). Logs go to stderr; stdout carries replies only.
``--eval MODULE:SIZE ...`` runs the other side instead (:mod:`bench.gradbench.evals`):
it starts this tool for each backend (``--backend``, repeatable; default every
installed one) and variant (``--mode``, repeatable; default every variant),
replays GradBench's inputs, checks every output and prints the median timings:

    python -m bench gradbench --eval lse:n2500 ht:complicated-big-c100 hello:1 --backend jax
"""

from __future__ import annotations

import argparse
import os
import sys

import backends
import problems

from ..cli import UsageError, choose, load_plugins

HELP = "serve GradBench's protocol on stdin/stdout as a GradBench tool, or replay its evals (--eval)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help=f"one of {', '.join(backends.NAMES)}; once for the tool, with --eval repeatable (default: every one)",
    )
    p.add_argument(
        "--mode",
        action="append",
        metavar="MODE",
        help="eager, compiled or a variant (jit, autograd, xla ...); the tool's default: compiled where there is "
        "one; with --eval repeatable, default every variant",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="threads for every framework pool, set before the framework starts (default 1, as GradBench)",
    )
    p.add_argument(
        "--eval",
        nargs="+",
        metavar="MODULE:SIZE",
        help="replay these workloads on the tool instead of serving (lse:n2500, particle:w0, hello:1 ...)",
    )
    p.add_argument("--min-runs", type=int, default=10, metavar="N", help="with --eval: runs per function (10)")
    p.add_argument(
        "--min-seconds", type=float, default=1.0, metavar="S", help="with --eval: seconds per function (1.0)"
    )


def variant(name: str, mode: str | None) -> str:
    """The variant ``--mode`` names for a backend (default: its compiled one, else eager)."""
    info = backends.info(name)
    try:
        return info.variant(mode or ("compiled" if info.can_compile else "eager")).name
    except KeyError as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def main(args: argparse.Namespace) -> int:
    from ..runner import pools

    load_plugins()  # backends BENCH_PLUGINS registers (python -m bench.gradbench too)
    if args.threads < 1:
        raise UsageError(f"--threads must be a positive integer, not {args.threads}")
    if args.eval:
        from .evals import run

        names = choose(args.backend, backends.REGISTRY, "backend") if args.backend else None
        return run(args.eval, names, args.mode, args.threads, args.min_runs, args.min_seconds)
    names = choose(args.backend, backends.REGISTRY, "backend") if args.backend else []
    if len(names) != 1 or len(args.mode or []) > 1:
        raise UsageError(
            f"the tool serves one backend: --backend NAME once ({', '.join(backends.NAMES)}), --mode at most once"
        )
    (name,) = names
    chosen = variant(name, (args.mode or [None])[0])
    os.environ.update(pools.pool_variables(args.threads))  # before any pool starts (NumPy's too, when run directly)
    cpus = pools.pin(args.threads)
    from .tool import Tool, protocol_stdout, serve

    out = protocol_stdout()  # from here on, stray prints of any library go to stderr
    try:
        backend = backends.get(name, chosen)
    except backends.BackendUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    settings = {"threads": args.threads, "cpus": cpus, **backend.set_threads(args.threads)}
    print(f"gradbench tool: {backend.label} {backend.version()}, {args.threads} thread(s)", file=sys.stderr)
    modules = long_loop_modules(name, chosen) if not args.mode else {}
    for module, other in modules.items():
        print(
            f"gradbench tool: {module} runs {other.label}, since {backend.label} would unroll its long loop "
            f"(--mode chooses one variant for every module)",
            file=sys.stderr,
        )
    return serve(Tool(backend, settings, modules), sys.stdin, out)


def long_loop_modules(name: str, chosen: str) -> dict:
    """The modules that run in the backend's ``long_loop_variant`` rather than ``chosen``: the problems with a
    long loop (``Problem.long_loop``), where ``chosen`` is a compiled variant that unrolls it."""
    from .tool import MODULES

    info = backends.info(name)
    if not info.long_loop_variant or not info.variant(chosen).compiled:
        return {}
    long = [m for m in MODULES if m in problems.NAMES and problems.get(m).long_loop]
    return {m: backends.get(name, info.long_loop_variant) for m in long} if long else {}
