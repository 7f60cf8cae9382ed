"""Do the harness's verdicts survive a rerun? The A/A, busy-machine and power checks, measured.

Not part of the test suite (it times real runs: about 30 minutes on two cores). Run it on a
quiet machine, from the repository root, with the project installed::

    python tools/verdict_checks.py --out /tmp/verdicts            # all three checks
    python tools/verdict_checks.py --out /tmp/verdicts --only power
    python tools/verdict_checks.py --judge /tmp/verdicts   # its stored runs judged again by today's code
    python tools/verdict_checks.py --out /tmp/taxcheck --only tax   # the protocol tax, twice (7 minutes)

1. **A/A**: ``python -m bench selftest -- --size small``: the default small plan twice, back
   to back; figures from :func:`bench.selftest.aa_figures` (cells called changed, interval
   coverage, flipped verdicts).
2. **busy**: the same plan (gradient and solve only) once on a quiet machine, once with a
   process spinning on one core: no cell the busy run calls stable may be called changed.
3. **power**: ``BENCH_PLUGINS=tests.slowed_backend``: NumPy made 0%, 10% and 25% slower
   (``BENCH_SLOWDOWN``) over the article's problems, derivative kinds, small size; the
   share of the cells ``report --compare`` calls slower, at the default run's budget and
   with every cell measured in four or six processes (``--repeat all --processes 4``, ``6``),
   and each run's between-process noise: power moves with it (a host whose processes run in two
   speeds x1.2 apart gives a noise of 8% to 15%, and 10% is then out of reach).
4. **tax**: the five headline cells (their protocol rows and witnesses; the Newton Hessian, the
   logistic gradient and the XOR loop in their compiled rows only) in two runs, back to back: each
   protocol tax in both, how often one run's interval holds the other's figure, whether the calls
   agree, and the ratio of the two medians timed apart beside it (what the tax was before it was
   timed in interleaved rounds).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, env: dict | None = None) -> int:
    cmd = [sys.executable, "-m", "bench", *args]
    print("$", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, **(env or {})})


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def aa(out: Path) -> dict:
    code = bench("selftest", "--out", str(out / "aa"), "--", "--size", "small")
    return json.loads((out / "aa" / "selftest.json").read_text()) if code == 0 else {"error": code}


def compared(now: Path, before: Path) -> dict:
    """``report --compare``'s tally of run ``now`` against ``before``, both judged against the machine at its
    best in either (their shared speed-probe floor), and the share of the cells it calls slower."""
    from bench.report import comparison, load

    floor = load.shared_probe_floor([now, before])
    table = comparison.compare(
        load.combine([load.load_run(now, "now", floor)]), load.combine([load.load_run(before, "before", floor)])
    )
    counts = comparison.tally(table)
    return {"cells": len(table), **counts, "called_slower": counts["slower"] / max(1, len(table))}


def busy(out: Path) -> dict:
    plan = ["--size", "small", "--kind", "gradient", "--kind", "solve"]
    bench("run", *plan, "--out", str(out / "quiet"))
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
    spinner.start()  # one core kept busy for the whole second run
    try:
        bench("run", *plan, "--out", str(out / "busy"))
    finally:
        stop.set()
        spinner.join()
    return compared(out / "busy", out / "quiet")


#: the power check's budgets: the default run's, and every cell in four or six processes (``--processes``)
POWER_BUDGETS = {
    "default": [],
    "4 processes": ["--repeat", "all", "--processes", "4"],
    "6 processes": ["--repeat", "all", "--processes", "6"],
}


def power(out: Path) -> dict:
    plan = ["--backend", "slowed", "--size", "small", "--threads", "1"]
    plan += [a for k in ("objective", "gradient", "hessian", "hvp") for a in ("--kind", k)]
    env = {"BENCH_PLUGINS": "tests.slowed_backend"}
    os.environ.update(env)
    from bench.cli import load_plugins

    load_plugins()
    for budget, options in POWER_BUDGETS.items():
        folder = out / budget.replace(" ", "-")
        for pct in (0, 10, 25):
            slowdown = {**env, "BENCH_SLOWDOWN": str(pct / 100)}
            bench("run", *plan, *options, "--out", str(folder / f"slowed-{pct}"), env=slowdown)
    return judge_power(out)


def judge_power(out: Path) -> dict:
    """The power check's figures from its stored runs (judged by the code as it is now), and an A/A of its
    own: each slowdown's run of six processes against the one of four (nothing changed between them)."""
    figures: dict = {}
    for budget in POWER_BUDGETS:
        folder = out / budget.replace(" ", "-")
        runs = [folder / f"slowed-{pct}" for pct in (0, 10, 25)]
        if not all(run.is_dir() for run in runs):
            continue
        # power moves with the machine: its between-process noise (standard deviation of a log median) per run
        figures[f"{budget}, noise"] = [between(run) for run in runs]
        for pct, run in zip((10, 25), runs[1:]):
            figures[f"{budget}, {pct}%"] = compared(run, runs[0])
    for pct in (0, 10, 25):
        four, six = (out / f"{n}-processes" / f"slowed-{pct}" for n in (4, 6))
        if four.is_dir() and six.is_dir():
            figures[f"A/A, 6 against 4 processes, {pct}%"] = compared(six, four)
    return figures


#: the tax check's plans: every headline cell with a witness, the slow eager training loops left out
TAX_PLANS = {
    "small": ["--problem", "kmeans", "--problem", "linear_regression", "--size", "small"]
    + ["--kind", "gradient", "--kind", "solve"],
    "medium": ["--problem", "logistic_regression", "--problem", "newton", "--size", "medium"]
    + ["--kind", "gradient", "--kind", "hessian", "--mode", "compiled", "--mode", "witness"],
    "xor": ["--problem", "xor_net", "--size", "article", "--kind", "solve", "--mode", "compiled", "--mode", "witness"],
}


def tax(out: Path) -> dict:
    for run in ("a", "b"):
        for name, plan in TAX_PLANS.items():
            backends = [a for b in ("jax", "torch", "tensorflow") for a in ("--backend", b)]
            bench("run", *plan, *backends, "--repeat", "none", "--out", str(out / "tax" / f"{run}-{name}"))
    return judge_tax(out)


def judge_tax(out: Path) -> dict:
    """Each headline tax in the two runs, and how often one run's 95% interval holds the other's figure."""
    from bench import results
    from bench.tax import protocol_tax

    rows, held, same_call, missing = [], 0, 0, 0
    for name in TAX_PLANS:
        a, b = (protocol_tax(results.load(out / "tax" / f"{run}-{name}", write_csv=False)) for run in ("a", "b"))
        keys = ["problem", "size", "kind", "backend", "dtype", "device", "threads"]
        both = a.merge(b, on=keys, suffixes=("", "_b"))
        missing += len(a) + len(b) - 2 * len(both)  # a tax only one run has (a witness that failed)
        for _, row in both.iterrows():
            x = row[[c for c in both.columns if not c.endswith("_b")]]
            y = row[keys + [c for c in both.columns if c.endswith("_b")]].rename(lambda c: c.removesuffix("_b"))
            held += (x.tax_lo <= y.tax <= x.tax_hi) + (y.tax_lo <= x.tax <= y.tax_hi)
            same_call += x.call == y.call
            rows.append(
                {
                    "cell": f"{x['problem']} {x['size']} {x['kind']} {x['backend']}",
                    "best": [x.best, y.best],
                    "tax": [round(x.tax, 3), round(y.tax, 3)],
                    "interval": [[round(x.tax_lo, 3), round(x.tax_hi, 3)], [round(y.tax_lo, 3), round(y.tax_hi, 3)]],
                    "interleaved": [bool(x.interleaved), bool(y.interleaved)],
                    "call": [x.call, y.call],
                    "medians_apart": [
                        round(x.best_median / x.witness_median, 3),
                        round(y.best_median / y.witness_median, 3),
                    ],
                }
            )
    return {
        "taxes": rows,
        "held": f"{held} of {2 * len(rows)}",
        "same call": f"{same_call} of {len(rows)}",
        "in one run only": missing,
    }


def between(run: Path) -> float | None:
    """The run's between-process noise, as its report's methods page states it, rounded."""
    from bench.report.methods import between_noise

    noise = between_noise(run)
    return None if noise is None else round(noise, 4)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="folder for the runs (must not exist)")
    p.add_argument("--only", choices=("aa", "busy", "power", "tax"), action="append", help="run only these checks")
    p.add_argument("--judge", nargs="+", type=Path, metavar="OUT", help="judge stored power checks again, run nothing")
    args = p.parse_args()
    if args.judge:
        sys.path.insert(0, str(ROOT))
        os.environ["BENCH_PLUGINS"] = "tests.slowed_backend"
        from bench.cli import load_plugins

        load_plugins()
        for folder in args.judge:
            judged = {"power": judge_power(folder)} | ({"tax": judge_tax(folder)} if (folder / "tax").is_dir() else {})
            print(folder, json.dumps(judged, indent=1))
        return 0
    if not args.out:
        p.error("--out FOLDER is needed to run the checks (or --judge OUT ... to judge stored ones)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    sys.path.insert(0, str(ROOT))
    checks = {"aa": aa, "busy": busy, "power": power, "tax": tax}
    figures = {}
    for name in args.only or list(checks):
        started = time.monotonic()
        figures[name] = {**checks[name](out), "seconds": round(time.monotonic() - started)}
        print(name, json.dumps(figures[name], indent=1), flush=True)
    (out / "verdict_checks.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
