"""``python -m bench selftest``: how far this machine's verdicts can be trusted.

Runs the same plan twice, back to back, nothing changed in between (an A/A test), and
compares the two runs as ``report --compare`` does. Whatever difference the second run
shows is noise, so the figures say what the harness can resolve here:

* how many cells the comparison calls changed (the false alarms of ``--compare``; goal: none),
  and why the cells it cannot tell could not be told (the machine ran slow, another process took
  a CPU ...: each reason with its count and the range of its figures),
* how often the 95% interval of a cell's change between the two runs holds no change (goal: 95%:
  the test that the intervals are calibrated, since the true change is none),
* how often each run's 95% interval of a median holds the other run's median (the other median
  has its own noise: a calibrated interval holds it about 83% of the time where both runs are
  equally noisy, P(|Z| < 1.96 / sqrt 2)),
* the smallest change this machine resolves: the 95th percentile of the change between the
  two runs over the cells both call stable (a change smaller than that is not visible here),
* how many "fastest" verdicts flip: comparison groups where both runs name a winner ahead
  beyond the noise and name different ones (goal: none), and where the fastest row or the
  fastest framework merely changes (ties may change; a verdict may not).

Where most cells cannot be told apart, it says so last: the machine is too disturbed for verdicts now.

Any ``run`` option after ``--`` chooses the plan (default: ``--size small --problem
linear_regression --problem xor_net --kind gradient --kind solve``, about a minute per
run on two cores). The two run folders and ``selftest.json`` are kept under ``--out``.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import results
from .cli import UsageError
from .fmt import counted
from .report import comparison, load
from .stats import MIN_EFFECT
from .verdicts import fastest

HELP = "measure this machine's noise: the same plan run twice (A/A), and how many verdicts would flip"
DEFAULT_PLAN = ("--size", "small", "--problem", "linear_regression", "--problem", "xor_net")
DEFAULT_PLAN += ("--kind", "gradient", "--kind", "solve")


def add_arguments(parser) -> None:
    parser.add_argument("--out", metavar="DIR", help="where the two runs go (default: results/selftest-<date-time>)")
    parser.add_argument(
        "--use",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        help="compare two existing run folders of the same plan instead of running it twice",
    )
    parser.add_argument(
        "run_options",
        nargs="*",
        metavar="-- RUN_OPTION",
        help=f"options for both runs (default: {' '.join(DEFAULT_PLAN)})",
    )


def main(args) -> int:
    if args.use:
        a, b = (Path(p) for p in args.use)
    else:
        out = Path(args.out or results.RESULTS_ROOT / f"selftest-{results.now(compact=True)}")
        if out.exists() and any(out.iterdir()):
            raise UsageError(f"{out} exists and is not empty: choose another --out")
        plan = list(args.run_options) or list(DEFAULT_PLAN)
        if any(o in ("--out", "--resume") for o in plan):
            raise UsageError("selftest chooses the run folders itself: leave --out and --resume out of the run options")
        a, b = out / "a", out / "b"
        for k, folder in enumerate((a, b), 1):
            print(f"selftest: run {k} of 2 -> {folder}", flush=True)
            code = subprocess.call([sys.executable, "-m", "bench", "run", *plan, "--out", str(folder)])
            if code not in (0, 3):  # 3: some cells did not end ok, which the comparison shows
                raise UsageError(f"run {k} of 2 ended with exit status {code}; see {folder}")
    figures = aa_figures(a, b)
    for line in lines(figures):
        print(line)
    target = (a.parent if not args.use else Path(args.out or a.parent)) / "selftest.json"
    results.write_json(target, figures)
    print(f"figures: {target}")
    return 0


def aa_figures(a: Path, b: Path, min_effect: float = MIN_EFFECT) -> dict[str, Any]:
    """The A/A figures of two runs of one plan (see the module's docstring)."""
    floor = load.shared_probe_floor([a, b])  # both judged against the machine at its best in either
    run_a, run_b = load.load_run(a, "a", floor), load.load_run(b, "b", floor)
    frame_a, frame_b = load.combine([run_a]), load.combine([run_b])
    unlike = {"b": comparison.speed_change(run_a.env, run_b.env)}  # the host changed between the two runs
    table = comparison.compare(frame_b, frame_a, min_effect, unlike)
    counts = comparison.tally(table)
    stable = table[(table["verdict"] != "unknown") & table["change"].notna()]
    changes = [abs(math.log1p(c)) for c in stable["change"]]
    resolvable = math.expm1(_quantile(changes, 0.95)) if changes else math.nan
    coverage = _coverage(frame_a, frame_b)
    bounded = table[table["change_lo"].notna() & table["change_hi"].notna()]
    holds = ((bounded["change_lo"] <= 0) & (bounded["change_hi"] >= 0)).sum()
    flips = _flips(frame_a, frame_b)
    return {
        "cells": len(table),
        "called_changed": counts["slower"] + counts["faster"],
        "cannot_tell": counts["unknown"],
        "cannot_tell_why": counted(table[table["verdict"] == "unknown"]["why"]),
        "status_changed": counts["status"],
        "moved_10pct": int(sum(c > math.log(1.1) for c in changes)),
        "stable": len(stable),
        "resolvable_change": resolvable,
        "coverage": coverage,
        "change_holds_none": holds / len(bounded) if len(bounded) else math.nan,
        "change_intervals": len(bounded),
        **flips,
        "min_effect": min_effect,
        "machine_changed": unlike["b"],
        "runs": [str(a), str(b)],
    }


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(math.ceil(q * len(xs))) - 1)]


def _coverage(frame_a, frame_b) -> float:
    """The share of cells (in both runs, with an interval) whose interval in one run holds the other's median."""
    key = [*results.CELL_KEY, "threads"]
    merged = frame_a.merge(frame_b, on=key, suffixes=("_a", "_b"))
    hits = total = 0
    for r in merged.to_dict("records"):
        for mine, other in (("_a", "_b"), ("_b", "_a")):
            lo, hi, m = r[f"ci_lo{mine}"], r[f"ci_hi{mine}"], r[f"median{other}"]
            if all(isinstance(x, float) and math.isfinite(x) for x in (lo, hi, m)):
                total += 1
                hits += lo <= m <= hi
    return hits / total if total else math.nan


def _flips(frame_a, frame_b) -> dict[str, int]:
    """Fastest-row verdicts of the two runs side by side, per comparison group."""
    key = ["problem", "size", "dtype", "device", "threads", "kind"]
    fa, fb = fastest(frame_a), fastest(frame_b)
    both = fa.merge(fb, on=key, suffixes=("_a", "_b"))
    return {
        "groups": len(both),
        "verdicts_flipped": int(
            (
                (both["outcome_a"] == "ahead")
                & (both["outcome_b"] == "ahead")
                & (both["fastest_a"] != both["fastest_b"])
            ).sum()
        ),
        "verdicts_both_runs": int(((both["outcome_a"] == "ahead") & (both["outcome_b"] == "ahead")).sum()),
        "fastest_row_changed": int((both["fastest_a"] != both["fastest_b"]).sum()),
        "fastest_framework_changed": int((both["backend_a"] != both["backend_b"]).sum()),
    }


def lines(f: dict[str, Any]) -> list[str]:
    """The figures in words."""
    pct = lambda x: "n/a" if not isinstance(x, float) or math.isnan(x) else f"{x:.0%}"  # noqa: E731
    moved = f.get("machine_changed")
    out = [f"  between the two runs {moved}: no cell is called changed"] if moved else []
    out += [
        f"A/A: {f['cells']} cells timed twice, nothing changed in between",
        f"  called changed by --compare: {f['called_changed']} (goal 0); cannot tell (unstable): {f['cannot_tell']}; "
        f"status changed: {f['status_changed']}",
    ]
    why = f.get("cannot_tell_why") or []
    out += [f"    {cells} {text}" for text, cells in why[:3]]
    out += [f"    {sum(c for _, c in why[3:])} for other reasons"] if why[3:] else []
    out += [
        f"  moved more than 10%: {f['moved_10pct']} of {f['stable']} stable cells",
        f"  a 95% interval of the change holds none: {pct(f.get('change_holds_none'))} of the "
        f"{f.get('change_intervals', 'n/a')} cells with one (goal 95%)",
        f"  a 95% interval of a median holds the other run's median: {pct(f['coverage'])} of the cells "
        "(about 83% where the intervals are calibrated: the other median has its own noise)",
        "  smallest change this machine resolves (95th percentile of the A/A change): "
        f"{pct(f['resolvable_change'])} (from the {f['stable']} cells both runs call stable)",
        f"  fastest-row verdicts both runs call: {f['verdicts_both_runs']} of {f['groups']} groups; flipped: "
        f"{f['verdicts_flipped']} (goal 0); the fastest row changed in {f['fastest_row_changed']}, the fastest "
        f"framework in {f['fastest_framework_changed']} (ties may change)",
    ]
    if f["cannot_tell"] > f["cells"] / 2:
        out.append(
            f"  most cells cannot be told apart on this machine now ({f['cannot_tell']} of {f['cells']}): its "
            "verdicts are 'cannot tell', not wrong; run the self-test again when the machine is quiet"
        )
    return out
