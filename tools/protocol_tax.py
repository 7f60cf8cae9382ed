"""The protocol tax on the headline cells: every protocol row of every backend against its witness.

One process per backend (threads fixed before the framework is imported, the
process pinned to that many CPUs, the framework's own thread setters called),
so the rows of one backend are comparable. Within a process every row of a
cell is built first (outside any timer), warmed up, and then timed round-robin,
one call of each row per round (in a fresh random order each round), so that
drifts of a shared machine hit every row alike. Rounds are grouped into windows
of a quarter second; a window in which other processes used more than a tenth
of the CPUs does not count (``--quiet``), and the figure is the median of the
quiet rounds (marked * where too few were quiet: then of all rounds). Not part
of the test suite::

    .venv/bin/python tools/protocol_tax.py                     # every backend, 2 threads, float64
    .venv/bin/python tools/protocol_tax.py --backend torch --seconds 5 --json tax.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
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


class Watch:
    """Others' share of the machine's CPUs over a window: all CPU time used system-wide
    (psutil) less this process's own, over wall time x CPUs."""

    def __init__(self):
        import psutil

        self.psutil, self.process, self.cpus = psutil, psutil.Process(), psutil.cpu_count() or 1

    def read(self) -> tuple[float, float, float]:
        t = self.psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0) + getattr(t, "steal", 0.0)
        busy = sum(t) - idle - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        own = self.process.cpu_times()
        return time.monotonic(), busy, own.user + own.system

    def others(self, a, b) -> float:
        return max(0.0, (b[1] - a[1]) - (b[2] - a[2])) / max((b[0] - a[0]) * self.cpus, 1e-9)


def worker(args) -> None:
    """Time every row of every headline cell for one backend; one JSON line per row on stdout."""
    _threads.pin(args.threads)
    import backends
    import witnesses
    from bench.cells import WITNESS, Cell, build

    backends.get(args.backend).set_threads(args.threads)
    watch = Watch()
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
            row = {"cell": cell, "call": built.call, "first": first, "all": [], "quiet": []}
            if first > 4 * args.seconds:  # a slow (eager) row: its first call is its one sample
                rows.append({**row, "rounds": 0, "all": [first]})
                continue
            start = time.perf_counter()
            built.call()  # a second warm-up call (a compiled cell's first steady-state call)
            once = time.perf_counter() - start
            rounds = max(args.min_rounds, min(args.max_rounds, int(args.seconds / max(once, 1e-9))))
            rows.append({**row, "rounds": rounds})
        # Rounds: one call of each row that still needs samples, in a fresh random order each
        # round (the row after an eager one pays for its garbage and cache traffic: measured
        # 12-25 us on a 35 us cell, so no row may always be that one). Calls are grouped into
        # windows of at least 0.25 s; a window in which other processes used more than
        # --quiet of the CPUs is kept apart: a thread pool that shares its CPUs with another
        # program can run several times slower (PyTorch's two OpenMP threads: 5x).
        order, pending, windows, quiet_windows = random.Random(0), [], 0, 0
        deadline = time.monotonic() + args.patience * args.seconds * len(rows)
        mark = watch.read()
        while True:
            need = [r for r in rows if len(r["quiet"]) < r["rounds"]]
            enough = all(len(r["all"]) >= r["rounds"] for r in rows)
            if not need or (enough and time.monotonic() > deadline):
                break
            for r in order.sample(need, len(need)):
                start = time.perf_counter()
                r["call"]()
                pending.append((r, time.perf_counter() - start))
            now = watch.read()
            if now[0] - mark[0] >= 0.25:
                quiet = watch.others(mark, now) <= args.quiet
                windows, quiet_windows = windows + 1, quiet_windows + quiet
                for r, t in pending:
                    r["all"].append(t)
                    if quiet:
                        r["quiet"].append(t)
                pending, mark = [], now
        for r in rows:
            use_quiet = len(r["quiet"]) >= max(3, r["rounds"] // 3)
            t = sorted(r["quiet"] if use_quiet else r["all"])
            q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
            print(
                json.dumps(
                    {
                        "problem": problem,
                        "size": size,
                        "kind": kind,
                        "backend": args.backend,
                        "variant": r["cell"].variant,
                        "label": r["cell"].label,
                        "dtype": args.dtype,
                        "median": statistics.median(t),
                        "iqr": q[2] - q[0],
                        "min": min(r["all"]),
                        "rounds": len(t),
                        "quiet": use_quiet,
                        "median_all": statistics.median(r["all"]),
                        "rounds_all": len(r["all"]),
                        "quiet_windows": f"{quiet_windows}/{windows}",
                        "first_call": r["first"],
                        "threads": args.threads,
                    }
                ),
                flush=True,
            )


def run_backend(args, backend: str) -> list[dict]:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        backend,
        "--threads",
        str(args.threads),
        "--dtype",
        args.dtype,
        "--seconds",
        str(args.seconds),
        "--min-rounds",
        str(args.min_rounds),
        "--max-rounds",
        str(args.max_rounds),
        "--quiet",
        str(args.quiet),
        "--patience",
        str(args.patience),
    ]
    for p in args.problem or ():
        cmd += ["--problem", p]
    env = _threads.environment(args.threads)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
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
        for backend in BACKENDS:
            group = [
                r for r in rows if (r["problem"], r["size"], r["kind"], r["backend"]) == (problem, size, kind, backend)
            ]
            if not group:
                continue
            protocol = [r for r in group if r["variant"] != "witness"]
            witness = [r for r in group if r["variant"] == "witness"]
            best = min(protocol, key=lambda r: r["median"])
            w = witness[0] if witness else None
            every = ", ".join(f"{r['label']} {ms(r)}" for r in group)
            tax = f"{best['median'] / w['median']:.2f}" if w else "-"
            out.append(
                f"{problem + '/' + size + '/' + kind:<36} {backend:<11} {best['label']:<20} {ms(best):>10} "
                f"{ms(w) if w else '-':>11} {tax:>6} {group[0].get('quiet_windows', ''):>7}  {every}"
            )
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
        from bench import safe_io

        safe_io.write_text(args.json, json.dumps(rows, indent=1))  # a link at that name is replaced, not followed
    return 0


if __name__ == "__main__":
    sys.exit(main())
