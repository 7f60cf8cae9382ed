"""Charts and a self-contained report of one or more runs.

``python -m bench report RUN_DIR [RUN_DIR ...] [--compare OTHER_RUN_DIR] [--out DIR]``

Reads each run folder's tidy results (``results.csv`` or ``cells/*.json``), its
agreement check (``agreement.json``), its environment (``env.json``) and the
article pictures (``article-*.json``), and writes into ``--out`` (default
``RUN_DIR/report``):

* ``charts/*.png`` and ``charts/*.svg``: time per backend and mode with IQR
  whiskers, scaling with fitted slopes and crossovers, derivative/objective
  ratios, first-call against steady-state time and the calls after which
  compiling pays off, the agreement heatmap, the article's pictures, and with
  ``--compare`` the relative change of every cell;
* ``report.md`` and ``index.html`` (every chart embedded, a sortable summary
  table, the environment of every run).

Several run folders (one per machine or CI job) are shown side by side, each
row tagged ``label @ run``. A corrupt, truncated or foreign file is named in a
warning, skipped, and the rest is used.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import results as tidy_results
from .cli import UsageError

HELP = "draw the charts and write report.md and index.html for one or more run folders"

#: tidy columns the report reads (bench.results.COLUMNS)
COLUMNS = (
    "problem", "size", "n", "n_params", "backend", "mode", "label", "dtype", "device", "threads", "kind",
    "status", "reason", "median", "iqr", "min", "mean", "stddev", "rounds", "first_call", "ratio",
    "peak_mem_mb", "version", "machine", "run",
)
NUMERIC = ("n", "n_params", "threads", "median", "iqr", "min", "mean", "stddev", "rounds", "first_call", "ratio",
           "peak_mem_mb")
TEXT = tuple(c for c in COLUMNS if c not in NUMERIC)
#: columns that identify a cell across runs
CELL_KEY = ["problem", "size", "label", "dtype", "device", "kind"]
#: a run folder's result files, looked for in this order
DEFAULT_RESULTS = "results"


@dataclass
class Run:
    """One run folder, loaded."""

    path: Path
    tag: str
    results: Any  #: pandas DataFrame (may be empty)
    env: dict = field(default_factory=dict)
    agreement: list[dict] = field(default_factory=list)
    article: dict[str, dict] = field(default_factory=dict)  #: backend -> article document
    skipped: list[str] = field(default_factory=list)  #: one line per file left out

    @property
    def machine(self) -> str:
        machine = self.env.get("machine")
        if isinstance(machine, dict):
            machine = machine.get("name") or machine.get("hostname") or machine.get("node")
        return str(machine or "")


# --- loading -------------------------------------------------------------------


def _read_json(path: Path, skipped: list[str]) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        skipped.append(f"{path}: not readable JSON ({str(exc).splitlines()[0]})")
        return None


def _tidy(frame):
    """Every contract column present, numbers as float, text as str ('' for missing)."""
    import pandas as pd

    frame = frame.copy()
    for name in COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    for name in NUMERIC:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in TEXT:
        frame[name] = frame[name].astype("object").where(frame[name].notna(), "").astype(str)
    frame.loc[frame["status"] == "", "status"] = "ok"
    bad = frame["status"] != "ok"
    for name in ("median", "iqr", "min", "mean", "stddev", "ratio"):
        frame.loc[bad, name] = float("nan")
    return frame.reset_index(drop=True)


def load_results(run_dir: Path, skipped: list[str]):
    """The run's tidy table through ``bench.results.load``; bad files are named in ``skipped``.

    If every cell record is unusable but the folder holds ``results.csv``, the table is used.
    """
    import pandas as pd

    results = tidy_results

    def warn(message: str) -> None:
        skipped.append(re.sub(r"^skipping ", "", str(message)))

    frame = None
    try:
        frame = results.load(run_dir, write_csv=False, warn=warn)
        if len(frame) == 0 and (run_dir / results.CSV).is_file() and (run_dir / results.CELLS).is_dir():
            frame = results.load(run_dir / results.CSV)
    except (ValueError, OSError, KeyError) as exc:  # pandas' parser errors are ValueErrors
        skipped.append(f"{run_dir / results.CSV}: not a readable results table ({str(exc).splitlines()[0]})")
    if frame is None or len(frame) == 0:
        return _tidy(pd.DataFrame(columns=list(COLUMNS)))
    return _tidy(frame)


AGREEMENT_FIELDS = ("problem", "backend", "mode", "kind", "rho", "ok")


def load_agreement(run_dir: Path, skipped: list[str]) -> list[dict]:
    path = run_dir / "agreement.json"
    if not path.is_file():
        return []
    rows = _read_json(path, skipped)
    if rows is None:
        return []
    if isinstance(rows, dict) and isinstance(rows.get("rows"), list):
        rows = rows["rows"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(AGREEMENT_FIELDS) <= set(r) for r in rows):
        skipped.append(f"{path}: not an agreement table (a list of rows with {', '.join(AGREEMENT_FIELDS)})")
        return []
    return rows


def load_article(run_dir: Path, skipped: list[str]) -> dict[str, dict]:
    out = {}
    for path in sorted(run_dir.glob("article-*.json")):
        doc = _read_json(path, skipped)
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("pictures"), dict) or "backend" not in doc:
            skipped.append(f"{path}: not an article pictures file")
            continue
        out[str(doc["backend"])] = doc
    return out


def load_env(run_dir: Path, skipped: list[str]) -> dict:
    path = run_dir / "env.json"
    if not path.is_file():
        return {}
    env = _read_json(path, skipped)
    if env is None:
        return {}
    if not isinstance(env, dict):
        skipped.append(f"{path}: not an environment record (a JSON object)")
        return {}
    return env


def load_run(path: str | Path, tag: str | None = None) -> Run:
    run_dir = Path(path)
    if not run_dir.exists():
        raise UsageError(f"run folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a run folder")
    skipped: list[str] = []
    env = load_env(run_dir, skipped)
    results = load_results(run_dir, skipped)
    agreement, article = load_agreement(run_dir, skipped), load_article(run_dir, skipped)
    by_file: dict[str, str] = {}
    for line in skipped:  # one line per file, the first reason given
        by_file.setdefault(line.split(": ", 1)[0], line)
    run = Run(run_dir, tag or run_dir.resolve().name, results, env, agreement, article, list(by_file.values()))
    if len(run.results) == 0 and not run.agreement and not run.article:
        detail = f" (skipped: {'; '.join(skipped)})" if skipped else ""
        raise UsageError(f"no results in {run_dir}: expected results.csv, cells/*.json, agreement.json "
                         f"or article-*.json{detail}")
    return run


def _unique_tags(paths: list[Path]) -> list[str]:
    names = [p.resolve().name for p in paths]
    if len(set(names)) == len(names):
        return names
    parents = [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]
    if len(set(parents)) == len(parents):
        return parents
    return [f"{n}#{i + 1}" for i, n in enumerate(names)]


def combine(runs: list[Run]):
    """One table of every run, with ``run`` set to each run's tag and ``series``
    the name a chart shows (``label``, plus `` @ run`` when several runs)."""
    import pandas as pd

    frames = []
    for run in runs:
        frame = run.results.copy()
        frame["run"] = run.tag
        if run.machine:
            frame.loc[frame["machine"] == "", "machine"] = run.machine
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if frames else _tidy(pd.DataFrame(columns=list(COLUMNS)))
    several = len(runs) > 1
    frame["series"] = frame["label"] + (" @ " + frame["run"] if several else "")
    return frame


# --- analysis --------------------------------------------------------------------


BACKEND_ORDER = ("article", "numpy", "jax", "torch", "tensorflow")


def label_order(labels) -> list[str]:
    """Labels in display order: article, numpy, then each framework eager before compiled."""

    def key(label: str):
        base, _, run = label.partition(" @ ")
        backend, _, compiled = base.partition("+")
        rank = BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER)
        return (run, rank, backend, bool(compiled), base)

    return sorted(set(labels), key=key)


def fastest(frame):
    """Per problem, size, dtype, device, kind: the fastest series, its median, and the
    runner-up's factor (how much slower the second is). Only ``ok`` cells count."""
    import pandas as pd

    ok = frame[(frame["status"] == "ok") & frame["median"].notna()]
    rows = []
    for key, group in ok.groupby(["problem", "size", "dtype", "device", "kind"], sort=False):
        group = group.sort_values("median")
        best = group.iloc[0]
        second = group.iloc[1] if len(group) > 1 else None
        rows.append({
            "problem": key[0], "size": key[1], "n": best["n"], "dtype": key[2], "device": key[3], "kind": key[4],
            "fastest": best["series"], "median": best["median"],
            "runner_up": second["series"] if second is not None else "",
            "margin": second["median"] / best["median"] if second is not None and best["median"] > 0 else math.nan,
        })
    return pd.DataFrame(rows, columns=["problem", "size", "n", "dtype", "device", "kind", "fastest", "median",
                                       "runner_up", "margin"])


def scaling_axis(group) -> tuple[str, str]:
    """The x axis of a problem's scaling, and its unit: the problem's main dimension n
    (its size ladder: samples, parameters ...) where it differs at every size, else
    the parameter count."""
    sizes = group["size"].nunique()
    problem = str(group["problem"].iloc[0]) if len(group) else ""
    if sizes > 1 and group.groupby("size")["n"].first().nunique() < sizes \
            and group.groupby("size")["n_params"].first().nunique() == sizes:
        return "n_params", "parameters"
    try:
        import problems

        unit = problems.get(problem).size_unit
    except Exception:  # noqa: BLE001 - a problem this checkout does not know: plain n
        unit = ""
    return "n", f"n ({unit})" if unit else "data size n"


def fit_slope(x, y) -> float:
    """Least-squares slope of log10(y) against log10(x) (NaN with fewer than two sizes)."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = np.log10(x[keep]), np.log10(y[keep])
    if len(np.unique(x)) < 2:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def crossovers(curves: dict[str, tuple[list[float], list[float]]]) -> list[dict]:
    """Where one series overtakes another: for each pair of curves (x sorted, times),
    each sign change of log(t_a / t_b) between two common sizes, located by linear
    interpolation in log-log space. ``winner`` is the one faster after the crossing."""
    import numpy as np

    names = sorted(curves)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            xa, ya = curves[a]
            xb, yb = curves[b]
            common = sorted(set(xa) & set(xb))
            if len(common) < 2:
                continue
            ta = dict(zip(xa, ya))
            tb = dict(zip(xb, yb))
            d = [math.log10(ta[x]) - math.log10(tb[x]) for x in common]
            for k in range(len(common) - 1):
                d0, d1 = d[k], d[k + 1]
                if d0 == 0 or d0 * d1 >= 0:
                    continue
                lx0, lx1 = math.log10(common[k]), math.log10(common[k + 1])
                lx = lx0 + (lx1 - lx0) * d0 / (d0 - d1)
                winner, loser = (a, b) if d1 < 0 else (b, a)
                lt = float(np.interp(lx, [lx0, lx1], [math.log10(ta[common[k]]), math.log10(ta[common[k + 1]])]))
                out.append({"winner": winner, "loser": loser, "x": 10**lx, "time": 10**lt,
                            "between": (common[k], common[k + 1])})
    return sorted(out, key=lambda c: c["x"])


def scaling(frame) -> tuple[list[dict], list[dict]]:
    """Fitted slopes and crossovers for every problem, dtype, device and kind with two sizes or more."""
    slopes, crossings = [], []
    ok = frame[(frame["status"] == "ok") & frame["median"].notna()]
    for (problem, dtype, device, kind), group in ok.groupby(["problem", "dtype", "device", "kind"], sort=False):
        column, unit = scaling_axis(frame[frame["problem"] == problem])
        curves = {}
        for series, rows in group.groupby("series", sort=False):
            rows = rows.dropna(subset=[column]).groupby(column)["median"].median()
            if len(rows) < 2:
                continue
            curves[series] = (list(map(float, rows.index)), list(map(float, rows.values)))
            slopes.append({"problem": problem, "dtype": dtype, "device": device, "kind": kind, "series": series,
                           "axis": column, "slope": fit_slope(rows.index, rows.values), "sizes": len(rows)})
        for c in crossovers(curves):
            crossings.append({"problem": problem, "dtype": dtype, "device": device, "kind": kind, "axis": unit, **c})
    return slopes, crossings


def break_even(frame) -> list[dict]:
    """For every cell measured eagerly and compiled: the number of calls after which
    the compiled mode's total time (first call + later steady calls) is lower.

    eager: F_e + (k-1) m_e, compiled: F_c + (k-1) m_c, so compiling pays off from
    k = 1 + ceil((F_c - F_e) / (m_e - m_c)) calls; never if m_c >= m_e."""
    ok = frame[(frame["status"] == "ok") & frame["median"].notna()]
    out = []
    keys = ["run", "problem", "size", "dtype", "device", "kind", "backend"]
    for key, group in ok.groupby(keys, sort=False):
        modes = {m: g.iloc[0] for m, g in group.groupby("mode")}
        if "eager" not in modes or "compiled" not in modes:
            continue
        e, c = modes["eager"], modes["compiled"]
        fe, fc = e["first_call"], c["first_call"]
        me, mc = e["median"], c["median"]
        if not (math.isfinite(fe) and math.isfinite(fc)):
            calls = math.nan
        elif mc >= me:
            calls = math.inf
        else:
            calls = 1 + max(0, math.ceil((fc - fe) / (me - mc)))
        out.append({**dict(zip(keys, key)), "n": e["n"], "label": c["label"], "first_compiled": fc,
                    "first_eager": fe, "median_compiled": mc, "median_eager": me, "calls": calls})
    return out


def agreement_table(runs: list[Run]):
    """One row per run, problem, dtype and backend-mode label: the worst rho against
    the hand derivative (or, where no hand check exists, the binding reference),
    which kind it came from, and whether every check passed."""
    import pandas as pd

    import backends

    rows = []
    for run in runs:
        for row in run.agreement:
            backend, mode = str(row.get("backend")), str(row.get("mode") or "eager")
            info = backends.REGISTRY.get(backend)
            if row.get("label"):
                label = str(row["label"])
            elif mode == "eager" or (info is not None and not info.compiled_label):
                label = backend
            else:
                label = backends.mode_label(backend, mode) if info is not None else f"{backend}+{mode}"
            checks = row.get("checks") if isinstance(row.get("checks"), list) else []
            hand = [c for c in checks if isinstance(c, dict) and c.get("reference") == "hand"]
            if hand:
                rho, reference = max(_num(c.get("rho")) for c in hand), "hand"
            else:
                rho, reference = _num(row.get("rho")), str(row.get("reference") or "")
            ok = bool(row.get("ok")) and all(bool(c.get("ok", True)) for c in checks if isinstance(c, dict))
            rows.append({"run": run.tag, "problem": str(row.get("problem")), "dtype": str(row.get("dtype") or ""),
                         "label": label, "backend": backend, "kind": str(row.get("kind")), "rho": rho,
                         "reference": reference, "ok": ok, "tolerance": _num(row.get("tolerance"))})
    columns = ["run", "problem", "dtype", "label", "backend", "kind", "rho", "reference", "ok", "tolerance"]
    return pd.DataFrame(rows, columns=columns)


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def compare(current, baseline, floor: float = 0.0):
    """Relative change of every cell present in both tables.

    ``change`` = median_now / median_before - 1. The measured noise of a cell is the
    relative IQR of the two measurements combined, sqrt((iqr/median)_now^2 +
    (iqr/median)_before^2); a change is flagged when |log ratio| exceeds the noise
    (and ``floor``), or when the status changed."""
    import numpy as np
    import pandas as pd

    key = CELL_KEY + ["run"]
    cur = current.drop(columns=["series"], errors="ignore")
    base = baseline.drop(columns=["series", "run"], errors="ignore").drop_duplicates(CELL_KEY, keep="last")
    merged = cur.merge(base, on=CELL_KEY, suffixes=("", "_before"), how="inner")
    rel_now = merged["iqr"] / merged["median"]
    rel_before = merged["iqr_before"] / merged["median_before"]
    merged["noise"] = np.sqrt(rel_now.fillna(0) ** 2 + rel_before.fillna(0) ** 2)
    merged["ratio_now"] = merged["median"] / merged["median_before"]
    merged["change"] = merged["ratio_now"] - 1
    timed = merged["median"].notna() & merged["median_before"].notna()
    status_changed = merged["status"] != merged["status_before"]
    beyond = timed & (np.abs(np.log(merged["ratio_now"].where(timed, 1.0))) > np.maximum(merged["noise"], floor))
    merged["flag"] = np.where(status_changed, "status", np.where(beyond, np.where(merged["change"] > 0,
                                                                                      "slower", "faster"), ""))
    columns = key + ["n", "median_before", "median", "change", "noise", "status_before", "status", "flag"]
    out = merged[columns].copy()
    out["series"] = out["label"]
    return out.sort_values(["problem", "n", "kind", "label"]).reset_index(drop=True) if len(out) else \
        pd.DataFrame(columns=columns + ["series"])


# --- command line ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                        help="run folder(s) to report on; several are shown side by side "
                             f"(default: the newest folder under {DEFAULT_RESULTS}/)")
    parser.add_argument("--compare", metavar="OTHER_RUN_DIR",
                        help="a run to compare against: relative change of every cell, flagged beyond the noise")
    parser.add_argument("--out", metavar="DIR", help="where to write the report (default: RUN_DIR/report)")
    parser.add_argument("--formats", default="png,svg", help="chart formats, comma-separated (default: png,svg)")
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution (default: 100)")
    parser.add_argument("--only", metavar="NAMES",
                        help="draw only these chart groups, comma-separated: " + ", ".join(CHART_GROUPS))
    parser.add_argument("--charts", metavar="PATTERNS",
                        help="draw only the charts whose file name matches one of these comma-separated "
                             "patterns (e.g. 'agreement-*,article-cost-history')")
    parser.add_argument("--charts-only", action="store_true",
                        help="write the chart files only, no report.md or index.html")


CHART_GROUPS = ("times", "scaling", "ratio", "compile", "agreement", "article", "compare")


def newest_run(root: Path = Path(DEFAULT_RESULTS)) -> Path:
    candidates = [p for p in root.glob("*") if p.is_dir() and ((p / tidy_results.CSV).is_file() or (p / tidy_results.CELLS).is_dir())]
    if not candidates:
        raise UsageError(f"no run folder given and none found under {root}/; run `python -m bench run` first")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def main(args: argparse.Namespace) -> int:
    formats = [f.strip() for f in str(args.formats).split(",") if f.strip()]
    for fmt in formats:
        if fmt not in ("png", "svg"):
            raise UsageError(f"unknown chart format {fmt!r}; choose from png, svg")
    if "png" not in formats:
        formats.insert(0, "png")  # the HTML and markdown embed PNGs
    if args.dpi < 30 or args.dpi > 600:
        raise UsageError(f"--dpi {args.dpi} is out of range (30 to 600)")
    only = None
    if args.only:
        from .cli import choose

        only = choose([args.only], CHART_GROUPS, "chart group")
    select = [p.strip() for p in args.charts.split(",") if p.strip()] if args.charts else None
    paths = [Path(p) for p in args.run_dirs] or [newest_run()]
    out = write_report(paths, compare_with=Path(args.compare) if args.compare else None,
                       out=Path(args.out) if args.out else None, formats=formats, dpi=args.dpi, only=only,
                       select=select, pages=not args.charts_only,
                       warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    if args.charts_only:
        print(f"charts written: {out / 'charts'}")
    else:
        print(f"report written: {out / 'index.html'}")
        print(f"                {out / 'report.md'}")
    return 0


def write_report(run_dirs: list[Path], compare_with: Path | None = None, out: Path | None = None,
                 formats: tuple[str, ...] | list[str] = ("png", "svg"), dpi: int = 100,
                 only: list[str] | None = None, select: list[str] | None = None, pages: bool = True,
                 warn: Callable[[str], None] = lambda m: None) -> Path:
    """Load the runs, draw every chart, write report.md and index.html; return the folder."""
    from . import charts, html

    if not run_dirs:
        raise UsageError("no run folder given")
    tags = _unique_tags([Path(p) for p in run_dirs])
    runs = [load_run(p, tag) for p, tag in zip(run_dirs, tags)]
    machines = [run.machine for run in runs]
    if len(runs) > 1 and all(machines) and len(set(machines)) == len(machines):
        for run, machine in zip(runs, machines):  # one run per machine: name each by its machine
            run.tag = machine
    baseline = load_run(compare_with, f"{Path(compare_with).resolve().name} (before)") if compare_with else None
    for run in runs + ([baseline] if baseline else []):
        for line in run.skipped:
            warn(f"skipped {line}")
    out = Path(out) if out else Path(run_dirs[0]) / "report"
    out.mkdir(parents=True, exist_ok=True)
    frame = combine(runs)
    changes = compare(frame, combine([baseline])) if baseline is not None else None
    context = {
        "runs": runs,
        "baseline": baseline,
        "frame": frame,
        "fastest": fastest(frame),
        "scaling": scaling(frame),
        "break_even": break_even(frame),
        "agreement": agreement_table(runs),
        "compare": changes,
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python -m bench report " + " ".join(str(p) for p in run_dirs)
                   + (f" --compare {compare_with}" if compare_with else ""),
    }
    context["charts"] = charts.draw_all(context, out / "charts", formats=tuple(formats), dpi=dpi, only=only,
                                        select=select)
    if select and not context["charts"]:
        raise UsageError(f"no chart matches {', '.join(select)}")
    if pages:
        html.write_markdown(context, out / "report.md")
        html.write_html(context, out / "index.html")
    return out
