"""The protocol tax on the headline cells: every protocol row of every backend against its witness.

One process per backend (threads fixed before the framework is imported, the
process pinned to that many CPUs, the framework's own thread setters called),
so the rows of one backend are comparable. Within a process every row of a
cell is built first (outside any timer), warmed up, and then timed round-robin,
one call of each row per round, so that drifts of a shared machine hit every
row alike. The figure is the median of the rounds. Not part of the test suite::

    .venv/bin/python tools/protocol_tax.py                     # every backend, 2 threads, float64
    .venv/bin/python tools/protocol_tax.py --backend torch --seconds 5 --json tax.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

try:
    from bench.runner import threads as _threads
except ImportError:  # before the runner package
    from bench import threads as _threads

BACKENDS = ("numpy", "jax", "torch", "tensorflow")


def worker(args) -> None:
    """Time every row of every headline cell for one backend; one JSON line per row on stdout."""
    _threads.pin(args.threads)
    import backends
    import witnesses
    from bench.cells import WITNESS, Cell, build

    backends.get(args.backend).set_threads(args.threads)
    for problem, size, kind in witnesses.CELLS:
        if args.problem and problem not in args.problem:
            continue
        cells = [Cell(problem, size, args.backend, v, args.dtype, kind) for v in backends.variants(args.backend)]
        if witnesses.covers(cells[0]):
            cells.append(Cell(problem, size, args.backend, WITNESS, args.dtype, kind))
        rows = []
        for cell in cells:
            built = build(cell)
            start = time.perf_counter()
            built.call()  # first call: tracing, compilation
            first = time.perf_counter() - start
            if first > 4 * args.seconds:  # a slow (eager) row: its first call is its one sample
                rows.append({"cell": cell, "call": built.call, "first": first, "rounds": 1, "times": [first]})
                continue
            start = time.perf_counter()
            built.call()  # a second warm-up call (a compiled cell's first steady-state call)
            once = time.perf_counter() - start
            rounds = max(args.min_rounds, min(args.max_rounds, int(args.seconds / max(once, 1e-9))))
            rows.append({"cell": cell, "call": built.call, "first": first, "rounds": rounds, "times": []})
        while any(len(r["times"]) < r["rounds"] for r in rows):
            for r in rows:
                if len(r["times"]) < r["rounds"]:
                    start = time.perf_counter()
                    r["call"]()
                    r["times"].append(time.perf_counter() - start)
        for r in rows:
            t = sorted(r["times"])
            q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
            print(json.dumps({"problem": problem, "size": size, "kind": kind, "backend": args.backend,
                              "variant": r["cell"].variant, "label": r["cell"].label, "dtype": args.dtype,
                              "median": statistics.median(t), "iqr": q[2] - q[0], "min": t[0], "rounds": len(t),
                              "first_call": r["first"], "threads": args.threads}), flush=True)


def run_backend(args, backend: str) -> list[dict]:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", backend, "--threads", str(args.threads),
           "--dtype", args.dtype, "--seconds", str(args.seconds), "--min-rounds", str(args.min_rounds),
           "--max-rounds", str(args.max_rounds)]
    for p in args.problem or ():
        cmd += ["--problem", p]
    env = _threads.environment(args.threads)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        print(f"{backend}: worker failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    """Per cell and backend: every row's median, the best protocol row, the witness and their ratio."""
    ms = lambda s: f"{s * 1e3:.3f}"  # noqa: E731
    out = [f"{'cell':<36} {'backend':<11} {'best protocol row':<22} {'median ms':>10} {'witness ms':>11} {'tax':>6}  "
           "every row (median ms)"]
    cells = sorted({(r["problem"], r["size"], r["kind"]) for r in rows}, key=lambda c: [r["problem"] for r in rows].index(c[0]))
    for problem, size, kind in cells:
        for backend in BACKENDS:
            group = [r for r in rows if (r["problem"], r["size"], r["kind"], r["backend"]) == (problem, size, kind, backend)]
            if not group:
                continue
            protocol = [r for r in group if r["variant"] != "witness"]
            witness = [r for r in group if r["variant"] == "witness"]
            best = min(protocol, key=lambda r: r["median"])
            w = witness[0]["median"] if witness else None
            every = ", ".join(f"{r['label']} {ms(r['median'])}" for r in group)
            out.append(f"{problem + '/' + size + '/' + kind:<36} {backend:<11} {best['label']:<22} {ms(best['median']):>10} "
                       f"{ms(w) if w else '-':>11} {best['median'] / w if w else float('nan'):>6.2f}  {every}")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", action="append", choices=BACKENDS, help="repeatable; default: all four")
    p.add_argument("--problem", action="append", help="repeatable; default: every headline cell")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--seconds", type=float, default=3.0, help="timing budget per row (default 3)")
    p.add_argument("--min-rounds", type=int, default=5)
    p.add_argument("--max-rounds", type=int, default=300)
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument("--worker", metavar="BACKEND", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.backend = args.worker
        worker(args)
        return 0
    rows = []
    for backend in args.backend or BACKENDS:
        rows += run_backend(args, backend)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
