"""How much the harness adds: a run's medians against a bare ``timeit`` of the same call.

``python -m bench.runner.overhead RUN_DIR [--cells N] [--backend NAME ...]``

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

from .. import results
from . import launch
from . import threads as thread_settings


def _measure(specs: list[dict], repeat: int) -> None:
    """Worker side: rebuild each cell and time its call with timeit; one JSON line per cell."""
    from ..cells import Cell, build

    for spec in specs:
        built = build(Cell.from_dict(spec["cell"]), device=spec["device"])
        built.call()
        built.call()
        timer = timeit.Timer(built.call)
        number, _ = timer.autorange()
        per_call = statistics.median(timer.repeat(repeat=repeat, number=number)) / number
        print(json.dumps({"cell": spec["id"], "timeit": per_call, "number": number}), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.runner.overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir")
    p.add_argument("--cells", type=int, default=3, help="smallest cells per backend (default: 3)")
    p.add_argument("--backend", action="append", help="only these backends (repeatable)")
    p.add_argument("--repeat", type=int, default=15, help="timeit repeats (default: 15)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _measure(json.loads(args.worker), args.repeat)
        return 0

    frame = results.load(args.run_dir, write_csv=False)
    ok = frame[(frame["status"] == "ok") & (frame["backend"] != "article")]
    if args.backend:
        ok = ok[ok["backend"].isin(args.backend)]
    rows = []
    for (backend, threads), g in ok.groupby(["backend", "threads"]):
        smallest = g.nsmallest(args.cells, "median")
        specs = [
            {
                "id": r.cell,
                "device": r.device,
                "cell": {k: getattr(r, k) for k in ("problem", "size", "backend", "dtype", "kind")}
                | {"variant": r.variant if isinstance(r.variant, str) else r.mode},
            }
            for r in smallest.itertuples()
        ]
        proc = subprocess.run(
            launch.command(
                "bench.runner.overhead",
                args.run_dir,
                "--repeat",
                str(args.repeat),
                "--worker",
                json.dumps(specs),
                threads=int(threads),
            ),
            env=thread_settings.environment(int(threads)),
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


if __name__ == "__main__":
    sys.exit(main())
