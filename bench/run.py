"""Time derivative computations with pytest-benchmark, one process per backend.

Every cell (problem x size x backend x mode x dtype x kind) is timed by the
suite ``bench/suite.py`` inside a worker process that runs one backend, with the
same ``--threads`` setting applied to every framework before it is imported.
Each finished cell is written at once to RUN/cells/<cell>.json (atomically),
so an interrupted run loses nothing and ``--resume`` carries on where it stopped.
A cell that crashes its worker or runs past ``--timeout`` is recorded as
``crashed`` or ``timeout`` and the run goes on with the next cell.

Defaults: every installed backend plus the article's own NumPy loops (pseudo
backend ``article``, kind ``solve``, float64), every problem, each problem's
default sizes, float64, both modes, every kind the problem defines, the CPU.

Examples:
  python -m bench run
  python -m bench run --backend jax --backend numpy --problem logistic_regression --size medium
  python -m bench run --size 5000 --kind gradient --dtype float32 --threads 1
  python -m bench run --resume --out results/nightly
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import backends
import problems
from backends.base import DEVICES, DTYPES, MODES
from problems.base import KINDS, SizeError

from . import results, worker
from . import threads as thread_settings
from .cells import ARTICLE, Cell
from .cli import UsageError, choose

HELP = "time every cell with pytest-benchmark, one process per backend; write a run folder"

#: dtypes timed unless --dtype says otherwise
DEFAULT_DTYPES = ("float64",)
DEFAULT_TIMEOUT = 180.0
DEFAULT_MIN_ROUNDS = 5
DEFAULT_MAX_TIME = 0.25
#: a worker that has not started its first cell after this long is stuck
STARTUP_ALLOWANCE = 120.0
#: estimated peak memory of a cell as a multiple of its float64 data
MEMORY_FACTOR = 4.0
#: seconds between two looks at a worker (the runner must not steal CPU from the timings)
POLL = 0.25
SUITE = Path(__file__).with_name("suite.py")
FILTERS = ("backend", "problem", "size", "dtype", "mode", "kind", "device", "threads")
#: the frameworks whose versions are recorded (distribution names)
DISTRIBUTIONS = ("numpy", "jax", "jaxlib", "torch", "tensorflow", "tensorflow-cpu", "pytest-benchmark", "python")


def add_arguments(p) -> None:
    add = p.add_argument
    add("--backend", action="append", metavar="NAME",
        help="numpy, jax, torch, tensorflow or article (repeatable; default: every installed one and article)")
    add("--problem", action="append", metavar="NAME", help="problem to time (repeatable; default: all)")
    add("--size", action="append", metavar="SIZE",
        help="a named size (article, small, medium, large ...) or an integer main dimension (repeatable; "
             "default: each problem's default sizes)")
    add("--dtype", action="append", metavar="DTYPE", help=f"{' or '.join(DTYPES)} (repeatable; default: "
        f"{', '.join(DEFAULT_DTYPES)})")
    add("--mode", action="append", metavar="MODE", help="eager or compiled (repeatable; default: both)")
    add("--kind", action="append", metavar="KIND", help=f"{', '.join(KINDS)} (repeatable; default: all)")
    add("--device", action="append", metavar="DEVICE", help="cpu or gpu (repeatable; default: cpu)")
    add("--threads", metavar="N", help=f"threads for every framework (default: all {thread_settings.default()} CPUs "
        "this process may use)")
    add("--out", metavar="DIR", help="run folder (default: results/<date-time>)")
    add("--resume", action="store_true",
        help="continue the run folder (--out, or the latest under results/) without redoing finished cells")
    add("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"longest time one cell may take, first call included (default: {DEFAULT_TIMEOUT:g})")
    add("--min-rounds", type=int, default=DEFAULT_MIN_ROUNDS, metavar="N",
        help=f"pytest-benchmark's --benchmark-min-rounds (default: {DEFAULT_MIN_ROUNDS})")
    add("--max-time", type=float, default=DEFAULT_MAX_TIME, metavar="SECONDS",
        help=f"pytest-benchmark's --benchmark-max-time per cell (default: {DEFAULT_MAX_TIME:g})")
    add("--slow-budget", type=float, default=worker.SLOW_BUDGET, metavar="SECONDS",
        help="timed seconds allowed to a cell whose one call exceeds --max-time: 1 to 3 rounds "
             f"(default: {worker.SLOW_BUDGET:g})")
    add("--tag", metavar="NAME", help="machine name stored with the results (default: the host name)")
    add("--max-memory", metavar="SIZE",
        help="refuse sizes estimated to need more memory than this, e.g. 8GB (default: memory available now)")
    add("--list", action="store_true", help="print the cells that would run and exit")


# -- the plan ---------------------------------------------------------------------------


def _split(values):
    return [item.strip() for value in values or () for item in str(value).split(",") if item.strip()]


def parse_threads(value) -> int:
    cpus = thread_settings.default()
    if value is None:
        return cpus
    try:
        n = int(str(value))
    except ValueError:
        raise UsageError(f"--threads {value!r} is not an integer; use 1 to {cpus}") from None
    if not 1 <= n <= cpus:
        raise UsageError(f"--threads {n} is out of range; this machine lets this process use 1 to {cpus} CPUs")
    return n


def parse_memory(value) -> float:
    """Bytes from '8GB', '512MB', '1e9'; default: memory available now."""
    if value is None:
        import psutil

        return float(psutil.virtual_memory().available)
    text = str(value).strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1:], 1)
    try:
        amount = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise UsageError(f"--max-memory {value!r} is not an amount of memory such as 8GB or 512MB") from None
    if amount <= 0:
        raise UsageError(f"--max-memory {value!r} must be positive")
    return amount


def choose_backends(values) -> list[str]:
    allowed = list(backends.REGISTRY) + [ARTICLE]
    if not values:
        return [name for name in backends.REGISTRY if backends.installed(name)] + [ARTICLE]
    chosen = choose(values, allowed, "backend")
    for name in chosen:
        if name != ARTICLE and not backends.installed(name):
            raise UsageError(backends.unavailable_reason(name))
    return chosen


def choose_problems(values, notes: list[str]):
    names = choose(values, problems.NAMES, "problem")
    chosen = []
    for name in names:
        try:
            chosen.append(problems.get(name))
        except Exception as exc:  # noqa: BLE001 - not written yet, or broken: named in one line
            if values:
                raise UsageError(f"problem {name!r} cannot be loaded: {exc}") from None
            notes.append(f"problem {name} is left out: it cannot be loaded ({exc})")
    return chosen


def choose_sizes(chosen_problems, values) -> dict[str, list[tuple[str, int]]]:
    """``{problem: [(label, n), ...]}``; named sizes apply to the problems that have them."""
    requested = _split(values)
    out: dict[str, list[tuple[str, int]]] = {}
    known_anywhere = set()
    for problem in chosen_problems:
        sizes: list[tuple[str, int]] = []
        for size in requested or [s for s in problem.default_sizes if s in problem.sizes]:
            if size in problem.sizes:
                known_anywhere.add(size)
            else:
                try:
                    int(size)
                except ValueError:
                    continue  # a name this problem does not have (checked below)
                known_anywhere.add(size)
            try:
                resolved = problem.resolve_size(size)
                resolved = (resolved.label, resolved.n)
            except SizeError as exc:
                raise UsageError(str(exc)) from None
            if resolved not in sizes:
                sizes.append(resolved)
        out[problem.name] = sizes
    unknown = [s for s in requested if s not in known_anywhere]
    if unknown:
        names = sorted({name for p in chosen_problems for name in p.sizes})
        raise UsageError(f"unknown size {unknown[0]!r}; use a positive integer or one of {', '.join(names)}")
    return out


def check_memory(problem, label: str, n: int, limit: float) -> None:
    need = MEMORY_FACTOR * problem.bytes_per_n() * n
    if need > limit:
        raise UsageError(
            f"size {label} of {problem.name} needs about {need / 2**30:.1f} GiB of memory (estimate), more than the "
            f"{limit / 2**30:.1f} GiB allowed; choose a smaller size"
        )


def make_plan(args, notes: list[str]) -> list[dict[str, Any]]:
    """Validate every filter and list the cells to run (no file is touched)."""
    names = choose_backends(args.backend)
    chosen_problems = choose_problems(args.problem, notes)
    dtypes = choose(args.dtype, DTYPES, "dtype") if args.dtype else list(DEFAULT_DTYPES)
    modes = choose(args.mode, MODES, "mode")
    kinds = choose(args.kind, KINDS, "kind")
    devices = choose(args.device, DEVICES, "device") if args.device else ["cpu"]
    threads = parse_threads(args.threads)
    limit = parse_memory(args.max_memory)
    sizes = choose_sizes(chosen_problems, args.size)
    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
    if args.min_rounds < 1 or args.max_time <= 0 or args.slow_budget <= 0:
        raise UsageError("--min-rounds must be at least 1, --max-time and --slow-budget positive")

    specs = []
    for problem in chosen_problems:
        for label, n in sizes[problem.name]:
            check_memory(problem, label, n, limit)
            for kind in [k for k in _kinds(problem, label, kinds) if k in kinds]:
                for device in devices:
                    for name in names:
                        if name == ARTICLE:
                            continue
                        for mode in [m for m in backends.modes(name) if m in modes]:
                            for dtype in dtypes:
                                specs.append(_spec(Cell(problem.name, label, name, mode, dtype, kind), n, device,
                                                   threads))
                if kind == "solve" and ARTICLE in names and problem.has_article:
                    specs.append(_spec(Cell(problem.name, label, ARTICLE, "eager", "float64", kind), n, "cpu",
                                       threads))
    if not specs:
        raise UsageError("these filters leave no cell to run")
    return specs


def _kinds(problem, label: str, wanted) -> tuple[str, ...]:
    kinds = problem.kinds()
    if "hessian" in kinds and "hessian" in wanted:
        kinds = problem.kinds(problem.instance(label))  # the dense Hessian depends on the parameter count
    return kinds


def _spec(cell: Cell, n: int, device: str, threads: int) -> dict[str, Any]:
    return {"id": f"{cell.id}-{device}-t{threads}", "cell": cell.as_dict(), "n": n, "device": device,
            "threads": threads}


def group_of(spec: dict[str, Any]) -> str:
    """The worker process a cell runs in: its backend (the article's loops run with NumPy), device, threads."""
    backend = "numpy" if spec["cell"]["backend"] == ARTICLE else spec["cell"]["backend"]
    return f"{backend}-{spec['device']}-t{spec['threads']}"


# -- the run folder ------------------------------------------------------------------------


def latest_run(root: Path = Path("results")) -> Path | None:
    runs = [p for p in root.glob("*/") if (p / "plan.json").is_file()] if root.is_dir() else []
    return max(runs, key=lambda p: (p / "plan.json").stat().st_mtime) if runs else None


def prepare_out(args) -> Path:
    """The run folder, created and proven writable; refuses to mix a new run into old results."""
    if args.out:
        run_dir = Path(args.out)
    elif args.resume:
        run_dir = latest_run()
        if run_dir is None:
            raise UsageError("--resume without --out needs an earlier run folder under results/; none found")
    else:
        run_dir = Path("results") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"cannot write to output folder {run_dir}: it exists and is not a folder")
    if not args.resume and any((run_dir / results.CELLS).glob("*.json")):
        raise UsageError(f"output folder {run_dir} already holds results; add --resume to continue it "
                         "or choose another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to output folder {run_dir}: {exc.strerror or exc}") from None
    return run_dir


def merge_plan(run_dir: Path, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the new cells to plan.json; returns every cell of the folder's plan."""
    path = run_dir / "plan.json"
    old = _read_json(path, {}).get("cells", [])
    ids = {s["id"] for s in old}
    merged = old + [s for s in specs if s["id"] not in ids]
    results.write_json(path, {"cells": merged})
    return merged


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def environment(args, run_dir: Path, specs) -> dict[str, Any]:
    versions = {}
    for dist in DISTRIBUTIONS:
        if dist == "python":
            versions[dist] = platform.python_version()
            continue
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "machine": args.tag or platform.node(),
        "hostname": platform.node(),
        "cpu": worker.cpu_model(),
        "cores": os.cpu_count(),
        "cpus_allowed": len(thread_settings.available_cpus()),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions,
        "threads": sorted({s["threads"] for s in specs}),
        "devices": sorted({s["device"] for s in specs}),
        "dtypes": sorted({s["cell"]["dtype"] for s in specs}),
        "backends": sorted({s["cell"]["backend"] for s in specs}),
        "timeout": args.timeout,
        "min_rounds": args.min_rounds,
        "max_time": args.max_time,
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_env(run_dir: Path, env: dict[str, Any], **extra) -> None:
    path = run_dir / "env.json"
    old = _read_json(path, {})
    commands = old.get("commands", [])
    if "command" in extra:
        commands.append({"command": extra.pop("command"), "started": _now()})
    merged = {**old, **env, **extra, "commands": commands}
    # several invocations (one per backend environment under nox) fill one folder: keep what each saw
    if isinstance(old.get("versions"), dict) and "versions" in env:
        merged["versions"] = {**old["versions"], **env["versions"]}
    for key in ("threads", "devices", "dtypes", "backends"):
        if isinstance(old.get(key), list) and key in env:
            merged[key] = sorted(set(old[key]) | set(env[key]), key=str)
    results.write_json(path, merged)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# -- workers ----------------------------------------------------------------------------------


def launch(module: str, *args: str) -> list[str]:
    """The command that runs ``python -m module args`` pinned to the thread setting (see :mod:`bench.launch`)."""
    return [sys.executable, "-m", "bench.launch", module, *args]


def child_env(threads: int) -> dict[str, str]:
    env = thread_settings.environment(threads)
    env["BENCH_PARENT"] = str(os.getpid())
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _free_name(run_dir: Path, stem: str, suffix: str) -> Path:
    path, k = run_dir / f"{stem}{suffix}", 1
    while path.exists():
        k += 1
        path = run_dir / f"{stem}-{k}{suffix}"
    return path


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"worker process died with {name}{why}"
    return f"worker process exited with status {returncode}"


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    text = [line for line in text if not line.startswith("$ ")]  # the command line
    interesting = [line for line in text if "Error" in line or "error" in line] or text
    return " | ".join(interesting[-lines:])[:400]


class Runner:
    def __init__(self, args, run_dir: Path, specs, console, progress=None, task=None):
        self.args, self.run_dir, self.specs = args, run_dir, specs
        self.console, self.progress, self.task = console, progress, task
        self.machine = args.tag or platform.node()
        self.proc: subprocess.Popen | None = None

    def note(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def record_failure(self, spec: dict[str, Any], status: str, reason: str) -> None:
        cell = Cell(**spec["cell"])
        rec = results.record(
            cell=spec["id"], problem=cell.problem, size=cell.size, n=spec.get("n"), backend=cell.backend,
            mode=cell.mode, label=cell.label, dtype=cell.dtype, device=spec["device"], threads=spec["threads"],
            kind=cell.kind, status=status, reason=reason, machine=self.machine, run=self.run_dir.name,
            finished=_now(),
        )
        results.save(self.run_dir, spec["id"], rec)
        self.note(f"{status:>8}  {spec['id']}: {reason}")

    def _advance(self) -> set[str]:
        done = results.recorded(self.run_dir)
        if self.progress is not None:
            self.progress.update(self.task, completed=sum(1 for s in self.specs if s["id"] in done))
        return done

    def run_group(self, group: str, specs: list[dict[str, Any]]) -> None:
        threads = specs[0]["threads"]
        device = specs[0]["device"]
        while True:
            done = self._advance()
            todo = [s for s in specs if s["id"] not in done]
            if not todo:
                return
            if not self._run_worker(group, todo, threads, device):
                return

    def _run_worker(self, group: str, todo, threads: int, device: str) -> bool:
        """One worker process on the cells left; False when it could not make progress."""
        args, run_dir = self.args, self.run_dir
        plan_path = _free_name(run_dir / ".plans", group, ".json")
        results.write_json(plan_path, {
            "run_dir": str(run_dir.resolve()), "run": run_dir.name, "machine": self.machine, "group": group,
            "device": device, "threads": threads, "slow_budget": args.slow_budget, "cells": todo,
        })
        json_path = _free_name(run_dir, f"bench-{group}", ".json")
        log_path = _free_name(run_dir / "logs", group, ".log")
        log_path.parent.mkdir(exist_ok=True)
        marker = worker.marker_path(run_dir, group)
        marker.unlink(missing_ok=True)
        env = child_env(threads)
        env[worker.PLAN_VARIABLE] = str(plan_path.resolve())
        cmd = launch("pytest", str(SUITE), "-p", "bench.worker", "-p", "no:cacheprovider", "-q", "-rfE",
                     f"--benchmark-json={json_path}", f"--benchmark-min-rounds={args.min_rounds}",
                     f"--benchmark-max-time={args.max_time}", "--benchmark-sort=name",
                     "--benchmark-columns=min,median,iqr,rounds",
                     "--rootdir", str(Path(__file__).resolve().parent.parent))
        ids = {s["id"] for s in todo}
        before = results.finished(run_dir) & ids
        started = time.time()
        with open(log_path, "w") as log:
            log.write("$ " + shlex.join(cmd) + "\n")
            log.flush()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            timed_out = None
            while self.proc.poll() is None:
                time.sleep(POLL)
                done = self._advance()
                now = time.time()
                current = _read_json(marker, {})
                cell_id = current.get("cell")
                if self.progress is not None:
                    self.progress.update(self.task, description=cell_id or group)
                if cell_id and cell_id not in done and now - current.get("started", now) > args.timeout:
                    timed_out = cell_id
                elif not current and now - started > max(args.timeout, STARTUP_ALLOWANCE):
                    timed_out = todo[0]["id"]
                if timed_out:
                    self.kill()
                    break
            returncode = self.proc.wait()
            self.proc = None
        done = results.finished(run_dir)
        spec_of = {s["id"]: s for s in todo}
        current = _read_json(marker, {}).get("cell")
        if timed_out and timed_out not in done:
            self.record_failure(spec_of[timed_out], "timeout", f"no result after {args.timeout:g} s; worker killed")
        elif current in spec_of and current not in done:
            self.record_failure(spec_of[current], "crashed",
                                f"{describe_exit(returncode)} {_log_tail(log_path, 1)}".strip())
        done = results.finished(run_dir)
        if not (done & ids) - before and any(i not in done for i in ids):
            reason = f"{describe_exit(returncode)} before running any cell: {_log_tail(log_path)}"
            for spec in todo:
                if spec["id"] not in done:
                    self.record_failure(spec, "error", reason)
            return False
        return True

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def article_data(self, backend: str, threads: int) -> None:
        """``python -m bench.article --backend NAME --out RUN`` where that module exists; failures are notes."""
        if importlib.util.find_spec("bench.article") is None:
            return
        done = self.run_dir / "logs" / f"article-{backend}.done"
        if done.exists():
            return
        log_path = self.run_dir / "logs" / f"article-{backend}.log"
        log_path.parent.mkdir(exist_ok=True)
        cmd = launch("bench.article", "--backend", backend, "--out", str(self.run_dir))
        with open(log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(threads),
                                         start_new_session=True)
            try:
                code = self.proc.wait(timeout=max(self.args.timeout, 600))
            except subprocess.TimeoutExpired:
                self.kill()
                code = "timeout"
            self.proc = None
        if code == 0:
            done.write_text(_now())
        else:
            self.note(f"note: article data for {backend} not written ({'timed out' if code == 'timeout' else ''}"
                      f"{describe_exit(code) if isinstance(code, int) else ''}; see {log_path})")


# -- summary ----------------------------------------------------------------------------------


def summary_rows(frame) -> list[dict[str, Any]]:
    """Per problem, size, dtype and kind (gradient and solve first): the fastest label and how it compares."""
    ok = frame[frame["status"] == "ok"]
    kinds = [k for k in ("gradient", "solve") if k in set(ok["kind"])] or [
        k for k in KINDS if k != "objective" and k in set(ok["kind"])] or ["objective"]
    rows = []
    for (problem, n, size, dtype, kind), g in ok[ok["kind"].isin(kinds)].groupby(
            ["problem", "n", "size", "dtype", "kind"], sort=True):
        best = g.loc[g["median"].idxmin()]
        numpy_rows = g[g["backend"] == "numpy"]
        article = ok[(ok["problem"] == problem) & (ok["size"] == size) & (ok["kind"] == "solve")
                     & (ok["backend"] == ARTICLE)]
        rows.append({
            "problem": problem, "size": size, "dtype": dtype, "kind": kind, "fastest": best["label"],
            "median": best["median"],
            "vs_numpy": numpy_rows["median"].min() / best["median"] if len(numpy_rows) else None,
            "vs_article": article["median"].min() / best["median"] if kind == "solve" and len(article) else None,
            "ratio": best["ratio"], "compile": max(0.0, best["first_call"] - best["median"]),
        })
    return rows


def print_summary(frame, console) -> None:
    from rich.table import Table

    table = Table(title="Fastest backend and mode per problem and size", show_lines=False)
    for name, justify in (("problem", "left"), ("size", "left"), ("dtype", "left"), ("kind", "left"),
                          ("fastest", "left"), ("median", "right"), ("× numpy", "right"), ("× article", "right"),
                          ("deriv/obj", "right"), ("first call − median", "right")):
        table.add_column(name, justify=justify)
    for row in summary_rows(frame):
        table.add_row(row["problem"], str(row["size"]), row["dtype"], row["kind"], row["fastest"],
                      _fmt_time(row["median"]), _fmt_x(row["vs_numpy"]), _fmt_x(row["vs_article"]),
                      _fmt_x(row["ratio"]), _fmt_time(row["compile"]))
    console.print(table)
    counts = Counter(frame["status"])
    console.print("cells: " + ", ".join(f"{counts[s]} {s}" for s in results.STATUSES if counts[s]))
    bad = frame[frame["status"] != "ok"]
    for (status, reason), g in bad.groupby(["status", "reason"], dropna=False):
        console.print(f"  {len(g)} {status}: {reason}  (e.g. {g['cell'].iloc[0]})", markup=False, highlight=False)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _fmt_time(t) -> str:
    if _missing(t):
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(t) >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def _fmt_x(x) -> str:
    return "-" if _missing(x) else f"{x:.3g}×"


# -- main ---------------------------------------------------------------------------------------


def main(args) -> int:
    from rich.console import Console

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        worker.load_plugins()
    except ImportError as exc:
        raise UsageError(f"cannot import {worker.PLUGINS_VARIABLE} module: {exc}") from None
    notes: list[str] = []
    filtered = any(getattr(args, name) for name in FILTERS)
    saved_dir = Path(args.out) if args.out else (latest_run() if args.resume else None)
    saved = _read_json(saved_dir / "plan.json", {}).get("cells") if args.resume and saved_dir else None
    if saved and not filtered:
        specs = saved  # resume the cells the folder was planned with
    else:
        specs = make_plan(args, notes)
    if args.list:
        for note in notes:
            console.print(f"note: {note}", markup=False)
        for spec in specs:
            console.print(spec["id"], markup=False, highlight=False)
        console.print(f"{len(specs)} cells", markup=False)
        return 0

    run_dir = prepare_out(args)
    for note in notes:
        console.print(f"note: {note}", markup=False)
    all_specs = merge_plan(run_dir, specs)
    command = shlex.join(["python", "-m", "bench", "run", *sys.argv[2:]])
    write_env(run_dir, environment(args, run_dir, all_specs), command=command)
    done = results.finished(run_dir)
    todo = [s for s in specs if s["id"] not in done]
    if args.resume:
        console.print(f"resuming {run_dir}: {len(specs) - len(todo)} of {len(specs)} cells already done",
                      markup=False)
    console.print(f"run folder: {run_dir}", markup=False)

    groups: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        groups.setdefault(group_of(spec), []).append(spec)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}", style="bold"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("starting", total=len(specs), completed=len(specs) - len(todo))
        runner = Runner(args, run_dir, specs, progress.console, progress, task)
        try:
            for group, group_specs in groups.items():
                progress.update(task, description=group)
                runner.run_group(group, group_specs)
                backend = group.split("-", 1)[0]
                if backend in backends.NAMES and any(s["cell"]["backend"] == backend for s in group_specs):
                    runner.article_data(backend, group_specs[0]["threads"])
            progress.update(task, description="done")
        except KeyboardInterrupt:
            runner.kill()
            progress.stop()
            console.print(f"interrupted: finished cells are kept in {run_dir}; continue with "
                          f"python -m bench run --resume --out {shlex.quote(str(run_dir))}", markup=False)
            raise

    frame = results.load(run_dir)
    write_env(run_dir, {}, finished=_now(), statuses=dict(Counter(frame["status"])))
    print_summary(frame, console)
    console.print(f"results: {run_dir / results.CSV}", markup=False)
    return 0
