"""The protocol tax on the headline cells, measured apart from a run: every protocol row of
every backend against its witness.

``python -m bench diagnose tax [--backend NAME ...] [--seconds S] [--json PATH]``

One process per backend (started through :mod:`.launch`: pinned to the thread count's
CPUs before the framework is imported, the framework's own thread setters called),
so the rows of one backend are comparable. Within a process every row of a cell is
built first (outside any timer), warmed up, and then timed round-robin, one call of
each row per round (in a fresh random order each round), so that drifts of a shared
machine hit every row alike. Rounds are grouped into windows of a quarter second; a
window in which other processes used more than a tenth of the CPUs
(:class:`.machine.Watch`) does not count (``--quiet``), and the figure is the median
of the quiet rounds (marked * where too few were quiet: then of all rounds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import backends

from .. import safe_io
from ..cells import WITNESS
from ..cli import UsageError, choose
from . import launch, pools
from .interleave import rounds as interleaved_rounds
from .machine import Watch

HELP = "the protocol tax on the headline cells, timed round-robin on a quiet machine"
#: seconds of rounds between two looks at what else the machine did
WINDOW = 0.25
#: the settings a backend's worker process is given
WORKER_SETTINGS = ("problem", "threads", "dtype", "seconds", "min_rounds", "max_rounds", "quiet", "patience")


@dataclasses.dataclass
class _Row:
    """One row of a cell in the worker: its built call, its first call's time and its samples."""

    cell: Any  # a bench.cells.Cell (imported in the worker only)
    call: Callable[[], object]
    first: float
    rounds: int = 0
    all: list[float] = dataclasses.field(default_factory=list)
    quiet: list[float] = dataclasses.field(default_factory=list)


def worker(args: argparse.Namespace) -> None:
    """Time every row of every headline cell for one backend; one JSON line per row on stdout."""
    import witnesses

    from ..cells import Cell, build

    backends.get(args.backend).set_threads(args.threads)
    for problem, size, kind in witnesses.CELLS:
        if args.problem and problem not in args.problem:
            continue
        cells = [Cell(problem, size, args.backend, v, args.dtype, kind) for v in backends.variants(args.backend)]
        if witnesses.covers(cells[0]):
            cells.append(Cell(problem, size, args.backend, WITNESS, args.dtype, kind))
        rows: list[_Row] = []
        for cell in cells:
            built = build(cell)
            start = time.perf_counter()
            built.call()  # first call: tracing, compilation
            first = time.perf_counter() - start
            if first > 4 * args.seconds:  # a slow (eager) row: its first call is its one sample
                rows.append(_Row(cell, built.call, first, rounds=0, all=[first]))
                continue
            start = time.perf_counter()
            built.call()  # a second warm-up call (a compiled cell's first steady-state call)
            once = time.perf_counter() - start
            rounds = max(args.min_rounds, min(args.max_rounds, int(args.seconds / max(once, 1e-9))))
            rows.append(_Row(cell, built.call, first, rounds=rounds))
        # Rounds: one call of each row that still needs samples, in a fresh random order each
        # round (:func:`.interleave.rounds`), grouped into windows of at least 0.25 s; a window in
        # which other processes used more than --quiet of the CPUs is kept apart: a thread pool that
        # shares its CPUs with another program can run several times slower (PyTorch's two OpenMP threads: 5x).
        order, windows, quiet_windows = random.Random(0), 0, 0
        deadline = time.monotonic() + args.patience * args.seconds * len(rows)
        while True:
            need = [r for r in rows if len(r.quiet) < r.rounds]
            enough = all(len(r.all) >= r.rounds for r in rows)
            if not need or (enough and time.monotonic() > deadline):
                break
            with Watch() as watch:
                window = interleaved_rounds([r.call for r in need], order, WINDOW)
            quiet = watch.others_share() <= args.quiet
            windows, quiet_windows = windows + 1, quiet_windows + quiet
            for each in window:
                for r, seconds in zip(need, each):
                    r.all.append(seconds)
                    if quiet:
                        r.quiet.append(seconds)
        for r in rows:
            use_quiet = len(r.quiet) >= max(3, r.rounds // 3)
            t = sorted(r.quiet if use_quiet else r.all)
            q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
            print(
                json.dumps(
                    {
                        "problem": problem,
                        "size": size,
                        "kind": kind,
                        "backend": args.backend,
                        "variant": r.cell.variant,
                        "label": r.cell.label,
                        "dtype": args.dtype,
                        "median": statistics.median(t),
                        "iqr": q[2] - q[0],
                        "min": min(r.all),
                        "rounds": len(t),
                        "quiet": use_quiet,
                        "median_all": statistics.median(r.all),
                        "rounds_all": len(r.all),
                        "quiet_windows": f"{quiet_windows}/{windows}",
                        "first_call": r.first,
                        "threads": args.threads,
                    }
                ),
                flush=True,
            )


def run_backend(args: argparse.Namespace, backend: str) -> list[dict]:
    """One backend's rows, timed in a process of its own pinned to ``args.threads`` CPUs."""
    config = {k: getattr(args, k) for k in WORKER_SETTINGS} | {"backend": backend}
    cmd = launch.command("bench.runner.tax_probe", json.dumps(config), threads=args.threads)
    proc = subprocess.run(cmd, env=pools.pool_variables(args.threads), capture_output=True, text=True, check=False)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        print(f"{backend}: worker failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    """Per cell and backend: every row's median, the best protocol row, the witness and their ratio.
    A median marked * is over every round: too few rounds were quiet."""

    def ms(r):
        return f"{r['median'] * 1e3:.3f}{'' if r.get('quiet') else '*'}"

    head = (
        f"{'cell':<36} {'backend':<11} {'best protocol row':<20} {'median ms':>10} {'witness ms':>11} {'tax':>6} "
        f"{'quiet':>7}  every row (median ms)"
    )
    out = [head]
    cells = list(dict.fromkeys((r["problem"], r["size"], r["kind"]) for r in rows))
    for problem, size, kind in cells:
        for backend in backends.NAMES:
            group = [
                r for r in rows if (r["problem"], r["size"], r["kind"], r["backend"]) == (problem, size, kind, backend)
            ]
            if not group:
                continue
            protocol = [r for r in group if r["variant"] != WITNESS]
            witness = [r for r in group if r["variant"] == WITNESS]
            best = min(protocol, key=lambda r: r["median"])
            w = witness[0] if witness else None
            every = ", ".join(f"{r['label']} {ms(r)}" for r in group)
            tax = f"{best['median'] / w['median']:.2f}" if w else "-"
            out.append(
                f"{problem + '/' + size + '/' + kind:<36} {backend:<11} {best['label']:<20} {ms(best):>10} "
                f"{ms(w) if w else '-':>11} {tax:>6} {group[0].get('quiet_windows', ''):>7}  {every}"
            )
    return "\n".join(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", action="append", help="repeatable; default: every registered backend")
    p.add_argument("--problem", action="append", help="repeatable; default: every headline cell")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="float64", choices=backends.DTYPES)
    p.add_argument("--seconds", type=float, default=3.0, help="timing budget per row (default 3)")
    p.add_argument("--min-rounds", type=int, default=5)
    p.add_argument("--max-rounds", type=int, default=300)
    p.add_argument(
        "--quiet",
        type=float,
        default=0.1,
        help="a timing window counts as quiet when other processes used at most this share of the CPUs (default 0.1)",
    )
    p.add_argument(
        "--patience",
        type=float,
        default=4.0,
        help="wait for quiet windows up to this many times the timing budget of a cell (default 4)",
    )
    p.add_argument("--json", metavar="PATH", type=Path, help="also write the rows as JSON")


def main(args: argparse.Namespace) -> int:
    import witnesses

    chosen = choose(args.backend, backends.NAMES, "backend")
    args.problem = choose(args.problem, dict.fromkeys(p for p, _, _ in witnesses.CELLS), "headline problem")
    for name in ("threads", "min_rounds", "max_rounds"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} takes a positive integer, not {getattr(args, name)}")
    if not args.seconds > 0 or not 0 <= args.quiet <= 1 or not args.patience > 0:
        raise UsageError("--seconds and --patience take a positive number, --quiet a share from 0 to 1")
    rows = []
    for backend in chosen:
        rows += run_backend(args, backend)
    print(table(rows))
    if args.json:
        safe_io.write_text(args.json, json.dumps(rows, indent=1))  # a link at that name is replaced, not followed
    return 0


if __name__ == "__main__":  # one backend's worker, started by run_backend() through runner.launch: CONFIG_JSON
    worker(argparse.Namespace(**json.loads(sys.argv[1])))
