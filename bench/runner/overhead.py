"""How much the harness adds: a run's medians against a bare ``timeit`` of the same call.

``python -m bench diagnose overhead RUN_DIR [--cells N] [--backend NAME ...]``

For each backend of the run, the N finished cells with the smallest median (where
any overhead would show first) are rebuilt in a fresh process with the run's
thread setting, and the same synchronised call is timed with ``timeit``
(``autorange`` for the loop count, then ``repeat``; per-call median). Prints one
line per cell with the run's median, timeit's, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

from .. import results
from ..cells import CellSpec, build
from ..cli import UsageError
from ..fmt import one_line
from . import launch, pools

HELP = "the harness's medians against a bare timeit of the same call"


def _measure(specs: list[dict], repeat: int) -> None:
    """Worker side: rebuild each cell and time its call with timeit; one JSON line per cell."""
    for spec in map(CellSpec.from_json, specs):
        built = build(spec.cell, device=spec.device)
        built.call()
        built.call()
        timer = timeit.Timer(built.call)
        number, _ = timer.autorange()
        per_call = statistics.median(timer.repeat(repeat=repeat, number=number)) / number
        print(json.dumps({"cell": spec.id, "timeit": per_call, "number": number}), flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path)
    p.add_argument("--cells", type=int, default=3, help="smallest cells per backend (default: 3)")
    p.add_argument("--backend", action="append", help="only these backends (repeatable)")
    p.add_argument("--repeat", type=int, default=15, help="timeit repeats (default: 15)")


def main(args: argparse.Namespace) -> int:
    if args.cells < 1 or args.repeat < 1:
        raise UsageError(f"--cells and --repeat take a positive integer, not {min(args.cells, args.repeat)}")
    if not args.run_dir.is_dir():
        raise UsageError(f"no run folder at {args.run_dir}")
    frame = results.load(args.run_dir, write_csv=False)
    ok = frame[(frame["status"] == "ok") & (frame["backend"] != "article")]
    if args.backend:
        unknown = sorted(set(args.backend) - set(ok["backend"]))
        if unknown:
            raise UsageError(f"no finished cell of {', '.join(unknown)} in {args.run_dir}")
        ok = ok[ok["backend"].isin(args.backend)]
    rows = []
    for (backend, threads), g in ok.groupby(["backend", "threads"]):
        smallest = g.nsmallest(args.cells, "median")
        specs = [CellSpec.from_record(r._asdict()).to_json() for r in smallest.itertuples()]
        proc = subprocess.run(
            launch.command("bench.runner.overhead", json.dumps(specs), str(args.repeat), threads=int(threads)),
            env=pools.pool_variables(int(threads)),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"warning: {backend}: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}", file=sys.stderr)
            continue
        medians = dict(zip(smallest["cell"], smallest["median"]))
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                got = json.loads(line)
                rows.append((got["cell"], medians[got["cell"]], got["timeit"]))
    width = max((len(r[0]) for r in rows), default=4)
    print(f"{'cell':<{width}}  {'harness':>10}  {'timeit':>10}  ratio")
    for cell, harness, bare in rows:
        print(f"{cell:<{width}}  {harness * 1e6:>8.2f}us  {bare * 1e6:>8.2f}us  {harness / bare:5.2f}")
    worst = max((h / b for _, h, b in rows), default=float("nan"))
    print(f"largest harness/timeit ratio: {worst:.2f}")
    return 0


if __name__ == "__main__":  # the worker, started by main() through runner.launch: SPECS_JSON REPEAT
    try:
        _measure(json.loads(sys.argv[1]), int(sys.argv[2]))
    except Exception as exc:  # one line on stderr: main() prints it as the backend's warning
        sys.exit(f"{type(exc).__name__}: {one_line(exc)}")
