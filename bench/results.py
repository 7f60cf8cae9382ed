"""The tidy results of a run: one JSON record per measured cell, one table per run.

This module owns the results schema: every column's name, type and meaning
(:data:`SCHEMA_COLUMNS`). Whoever reads a run (the runner's summary, the
report, ``bench diagnose overhead``) reads it through :func:`load`, which gives every
column its one dtype (:func:`typed`).

Run folder layout (``results/<timestamp or --out>/``)::

    cells/<cell id>.json   one record per finished cell, written atomically
    results.csv            every record as one tidy table (written by :func:`load`)
    env.json               machine, CPU, cores, python, framework versions, settings
    plan.json              the cells the run was asked for (used by ``--resume``)
    bench-<group>*.json    pytest-benchmark's own JSON, one per worker process
    logs/                  each worker's console output

Records are JSON and the table CSV: nothing here can run code when loaded. Times are in seconds.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import safe_io
from .fmt import csv_cell, from_csv_cell, terminal
from .safe_io import MAX_DEPTH, too_deep  # noqa: F401 - read here by bench.gradbench and the tests


@dataclass(frozen=True)
class Column:
    name: str
    type: str  #: "int", "float" or "text"
    doc: str
    contract: bool = True  #: part of the stable table (else: detail, free to grow)


SCHEMA_COLUMNS: tuple[Column, ...] = (
    Column("problem", "text", "problem name"),
    Column("size", "text", "size name (article, small ...) or the integer asked for"),
    Column("n", "int", "the problem's main dimension"),
    Column("n_params", "int", "number of parameters differentiated"),
    Column("backend", "text", "numpy, jax, torch, tensorflow or article"),
    Column("mode", "text", "eager or compiled"),
    Column("label", "text", "row label: backend+variant (jax+jit, torch+autograd ...)"),
    Column("dtype", "text", "float64 or float32"),
    Column("device", "text", "cpu or gpu"),
    Column("threads", "int", "threads every framework was given"),
    Column("kind", "text", "objective, gradient, hessian, hvp, jvp, vjp or solve"),
    Column("status", "text", "ok, nan, diverged, crashed, timeout, error, not_run or wrong"),
    Column("reason", "text", "why a cell did not end ok"),
    Column("median", "float", "median seconds per call (pytest-benchmark)"),
    Column("iqr", "float", "interquartile range of the rounds, seconds"),
    Column("min", "float", "fastest round, seconds"),
    Column("mean", "float", "mean of the rounds, seconds"),
    Column("stddev", "float", "standard deviation of the rounds, seconds"),
    Column("rounds", "int", "timed rounds"),
    Column("first_call", "float", "the first call (tracing, compilation), seconds"),
    Column("ratio", "float", "median over the objective's median, same row otherwise"),
    Column("peak_mem_mb", "float", "peak resident memory of the worker during the cell"),
    Column("version", "text", "framework version"),
    Column("machine", "text", "machine name (--tag or host name)"),
    Column("run", "text", "run folder name"),
    Column("cell", "text", "cell id", contract=False),
    Column("processes", "int", "worker processes whose rounds the cell's statistics pool", contract=False),
    Column("ci_lo", "float", "lower end of the median's 95% interval, seconds (bench.uncertainty)", contract=False),
    Column("ci_hi", "float", "upper end of the median's 95% interval, seconds", contract=False),
    Column("stability", "text", "why the cell gives no verdict (unstable), else empty", contract=False),
    Column(
        "slow",
        "float",
        "the machine's speed probe while the cell was timed over its fastest (1: at its best)",
        contract=False,
    ),
    Column("paired_tax", "float", "this row over its witness, timed in interleaved rounds (bench.tax)", contract=False),
    Column("paired_lo", "float", "lower end of that ratio's 95% interval", contract=False),
    Column("paired_hi", "float", "upper end of that ratio's 95% interval", contract=False),
    Column("variant", "text", "the backend's variant (jit, autograd, xla, witness ...)", contract=False),
    Column("iterations", "int", "steps of a solve", contract=False),
    Column("final_loss", "float", "a solve's final loss (its fingerprint, against NumPy's)", contract=False),
    Column("final_norm", "float", "the 2-norm of a solve's final parameters (its fingerprint)", contract=False),
    Column("warm_call", "float", "the second call, seconds", contract=False),
    Column("build_time", "float", "building data and functions, seconds", contract=False),
    Column("cell_time", "float", "the whole cell, calibration included, seconds", contract=False),
    # the memory a cell added is peak_mem_mb minus this, derived where it is shown; tables and records of
    # older runs also hold it as cell_mem_mb, a column no longer listed here, so left out when they load
    Column("base_mem_mb", "float", "resident memory before the cell", contract=False),
    Column("attempts", "int", "how many times the cell was tried", contract=False),
    Column("previous", "text", "status and reason of an earlier attempt", contract=False),
    Column("load", "float", "1-minute load average when the worker group started", contract=False),
    Column("started", "text", "start time", contract=False),
    Column("finished", "text", "end time", contract=False),
)
COLUMNS = tuple(c.name for c in SCHEMA_COLUMNS if c.contract)
EXTRA_COLUMNS = tuple(c.name for c in SCHEMA_COLUMNS if not c.contract)
ALL_COLUMNS = COLUMNS + EXTRA_COLUMNS
INT_COLUMNS = tuple(c.name for c in SCHEMA_COLUMNS if c.type == "int")
FLOAT_COLUMNS = tuple(c.name for c in SCHEMA_COLUMNS if c.type == "float")
TEXT_COLUMNS = tuple(c.name for c in SCHEMA_COLUMNS if c.type == "text")

#: every status a cell can end with; ``not_run``: its worker died before it could run; ``wrong``: a solve that
#: disagrees with NumPy's solve in the same run (given by :func:`load`, never by a worker: :mod:`bench.solves`)
STATUSES = ("ok", "nan", "diverged", "crashed", "timeout", "error", "not_run", "wrong")
#: statuses whose timings are meaningful
STAT_COLUMNS = ("median", "iqr", "min", "mean", "stddev")
#: columns that identify a cell across runs
CELL_KEY = ("problem", "size", "label", "dtype", "device", "kind")

SCHEMA = "autodiff-bench/cell/1"
CELLS = "cells"
CSV = "results.csv"
#: where runs go by default; ``run --resume`` and ``report`` without a folder take :func:`latest_run` there
RESULTS_ROOT = Path("results")

#: called with (path, reason) for every file :func:`load` leaves out
OnSkip = Callable[[Path, str], None]


def total_seconds(frame, column: str) -> float:
    """A seconds column (``cell_time``, ``first_call`` ...) summed over the rows; a missing value or column: 0."""
    import pandas as pd

    return float(pd.to_numeric(frame[column], errors="coerce").fillna(0.0).sum()) if column in frame else 0.0


def now(compact: bool = False) -> str:
    """This moment as records, markers and env.json write it (local time with its UTC offset), or
    ``compact`` as a run folder's or a set-aside file's name takes it (``20261203-071500``)."""
    return time.strftime("%Y%m%d-%H%M%S" if compact else "%Y-%m-%dT%H:%M:%S%z")


def latest_run(root: Path = RESULTS_ROOT) -> Path | None:
    """The run folder under ``root`` (one holding ``plan.json``, ``cells/`` or ``results.csv``) written
    to last, or None: the run ``--resume`` continues and ``report`` draws when given no folder."""
    marks = ("plan.json", CELLS, CSV)
    runs = [p for p in root.glob("*/") if any((p / m).exists() for m in marks)] if root.is_dir() else []
    return max(runs, key=lambda p: max((p / m).stat().st_mtime for m in marks if (p / m).exists()), default=None)


def record(**fields: Any) -> dict[str, Any]:
    """A cell record with every column present (missing ones are ``None``)."""
    unknown = set(fields) - set(ALL_COLUMNS)
    if unknown:
        raise KeyError(f"not a result column: {', '.join(sorted(unknown))}")
    return {"schema": SCHEMA, **{name: fields.get(name) for name in ALL_COLUMNS}}


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """An ``OSError`` raised while writing ``path`` names it (a full disk says which file it hit)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def write_json(path: Path | str, data: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, fsync, rename.

    On any failure (a full disk included) the temporary file is removed and the
    old file, if any, is left as it was; the error propagates, naming ``path``.
    A symbolic link at ``path`` is replaced, never followed (:mod:`bench.safe_io`).
    """
    path = Path(path)
    text = json.dumps(data, indent=1, default=_jsonable, allow_nan=False)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        safe_io.write_text(path, text, durable=True)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a result")


def clean(value: Any) -> Any:
    """A value JSON can hold: non-finite floats ``None``, NumPy scalars and arrays numbers and lists (nested)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return [clean(v) for v in value] if isinstance(value, (list, tuple)) else clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cell_path(run_dir: Path | str, cell_id: str) -> Path:
    return Path(run_dir) / CELLS / f"{cell_id}.json"


def save(run_dir: Path | str, cell_id: str, rec: dict[str, Any]) -> Path:
    """Store one finished cell, atomically."""
    path = cell_path(run_dir, cell_id)
    with writing(path.parent):
        safe_io.make_dir(path.parent)  # a link planted at cells/ is never followed
    write_json(path, {k: clean(v) for k, v in rec.items()})
    return path


def read_record(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for a valid cell record at ``path``, else ``(None, why not)``."""
    rec, why = safe_io.read_json(path)
    if why:
        return None, "a folder, not a cell record" if path.is_dir() else f"not a cell record: {why}"
    problem = problem_with(rec)
    if problem is None and rec["cell"] != path.stem:
        problem = f"its cell id {rec['cell']!r} is not its file name"
    return (None, problem) if problem else (rec, None)


def problem_with(rec: Any) -> str | None:
    """Why a parsed file is not a cell record, or None if it is one."""
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        return f"not a cell record (schema {SCHEMA!r} expected)"
    missing = [c for c in COLUMNS if c not in rec]
    if missing:
        return f"cell record without {', '.join(missing)}"
    if rec["status"] not in STATUSES:
        return f"unknown status {rec['status']!r}"
    if not isinstance(rec.get("cell"), str) or not rec["cell"]:
        return "cell record without an id"
    for column in SCHEMA_COLUMNS:
        value = rec.get(column.name)
        if value is None:
            continue
        if column.type == "text" and not isinstance(value, str):
            return f"{column.name} is {type(value).__name__}, not text"
        if column.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{column.name} is {type(value).__name__}, not a number"
        if column.type == "int" and not isinstance(value, int):
            return f"{column.name} is {value!r}, not a whole number"
        if column.type == "float" and isinstance(value, float) and not math.isfinite(value):
            return f"{column.name} is {value!r}, not a finite number"
    median = rec.get("median")
    if rec["status"] == "ok" and median is not None and median <= 0:
        return f"an ok cell whose median is {median!r} s (a time is positive)"
    return None


def scan(run_dir: Path | str) -> tuple[dict[str, dict[str, Any]], dict[Path, str]]:
    """Every file under ``cells/``: ``({cell id: valid record}, {path: why it is not one})``."""
    folder = Path(run_dir) / CELLS
    good: dict[str, dict[str, Any]] = {}
    bad: dict[Path, str] = {}
    if not folder.is_dir():
        return good, bad
    for path in sorted(folder.glob("*.json")):
        rec, why = read_record(path)
        if rec is None:
            bad[path] = why or "unreadable"
        else:
            good[rec["cell"]] = rec
    return good, bad


def recorded(run_dir: Path | str) -> set[str]:
    """Ids with a record file, without reading them (cheap enough to poll; files are written atomically)."""
    try:
        names = os.listdir(Path(run_dir) / CELLS)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return {name[:-5] for name in names if name.endswith(".json") and not name.startswith(".")}


def skip_to_stderr(path: Path, reason: str) -> None:
    print(f"warning: skipping {terminal(path)}: {terminal(reason)}", file=sys.stderr)


def _records(run_dir: Path, on_skip: OnSkip) -> Iterable[dict[str, Any]]:
    good, bad = scan(run_dir)
    for path, why in bad.items():
        on_skip(path, why)
    return good.values()


def csv_is_derived(run_dir: Path | str) -> bool:
    """Whether the folder's ``results.csv`` (if any) holds only cells that have records.

    A table with rows that no record backs (a committed reference run, a table
    copied in) is never rewritten: it is the only copy of those results.
    """
    run_dir = Path(run_dir)
    path = run_dir / CSV
    if not path.exists():
        return True
    try:
        ids = _csv_cells(path)
    except (OSError, ValueError):
        return False
    return ids <= recorded(run_dir)


def _csv_cells(path: Path) -> set[str]:
    import csv

    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "cell" not in reader.fieldnames:
            raise ValueError(f"{path} has no cell column")
        return {from_csv_cell(row["cell"]) for row in reader}


def empty():
    """A table with every column and no row."""
    import pandas as pd

    return typed(pd.DataFrame(columns=list(ALL_COLUMNS)))


def load(path: Path | str, write_csv: bool = True, on_skip: OnSkip = skip_to_stderr, probe_floor: float | None = None):
    """The tidy table of a run: one row per measured cell, every column its schema dtype.

    ``path`` is a run folder (its ``cells/`` records are read, bad files passed to ``on_skip`` and left
    out, and ``results.csv`` rewritten unless ``write_csv`` is False or the table holds rows no record
    backs), a run folder holding only ``results.csv``, or a CSV file written by this function. ``ratio``
    is each row's median over the objective's median for the same problem, size, label, dtype, device
    and threads. ``probe_floor``: the machine's fastest speed probe over the runs this one is compared
    with (:func:`bench.uncertainty.annotate`).
    """
    import pandas as pd

    path = Path(path)
    if path.is_file():
        return _read_csv(path, on_skip)
    if not path.is_dir():
        raise FileNotFoundError(f"no run folder or results file at {path}")
    if not (path / CELLS).is_dir() and (path / CSV).is_file():
        return _read_csv(path / CSV, on_skip)
    records = list(_records(path, on_skip))
    frame = pd.DataFrame(records, columns=list(ALL_COLUMNS))
    from .tax import paired_taxes
    from .uncertainty import annotate

    stated = annotate(records, probe_floor)  # every ok cell's median interval and stability (from its raw rounds)
    for cell, tax in paired_taxes(records).items():  # a protocol row over its witness, in interleaved rounds
        stated.setdefault(cell, {}).update(paired_tax=tax.value, paired_lo=tax.lo, paired_hi=tax.hi)
    for name in ("processes", "ci_lo", "ci_hi", "stability", "slow", "paired_tax", "paired_lo", "paired_hi"):
        frame[name] = [stated.get(cell, {}).get(name) for cell in frame["cell"]]
    # the median over the processes timed while the machine ran at its best (bench.uncertainty.clean)
    frame["median"] = [stated.get(c, {}).get("median", m) for c, m in zip(frame["cell"], frame["median"])]
    frame = typed(frame)
    frame["ratio"] = _ratios(frame)
    from .solves import judge

    frame = judge(frame)  # a solve whose result disagrees with NumPy's in this run is wrong, never timed
    frame = frame.sort_values(["problem", "n", "kind", "label", "dtype", "device", "threads"], kind="stable")
    frame = frame.reset_index(drop=True)
    if write_csv and csv_is_derived(path):
        _write_csv(frame, path / CSV)
    return frame


def typed(frame):
    """Every schema column present with its one dtype: ``Int64``, ``float64`` or ``string``.

    Timings of cells that did not end ok are blanked: they never enter a statistic.
    """
    import pandas as pd

    frame = frame.copy()
    for name in ALL_COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    for name in INT_COLUMNS:
        numbers = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        frame[name] = numbers.where(numbers == numbers.round()).astype("Int64")  # a fraction is no count
    for name in FLOAT_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in TEXT_COLUMNS:
        frame[name] = frame[name].astype("string")
    bad = frame["status"] != "ok"
    for name in STAT_COLUMNS + ("ratio", "ci_lo", "ci_hi", "paired_tax", "paired_lo", "paired_hi"):
        frame.loc[bad.fillna(True), name] = float("nan")
    return frame


def _ratios(frame):
    keys = ["run", "machine", "problem", "size", "label", "dtype", "device", "threads"]
    objective = frame[(frame["kind"] == "objective") & (frame["status"] == "ok")]
    base = objective.set_index(keys)["median"]
    base = base[~base.index.duplicated(keep="last")]
    index = frame.set_index(keys).index
    return (frame["median"].to_numpy() / base.reindex(index).to_numpy()).astype("float64")


def _write_csv(frame, path: Path) -> None:
    frame = frame.copy()
    for name in TEXT_COLUMNS:
        frame[name] = frame[name].map(csv_cell, na_action="ignore")
    with writing(path), safe_io.replacing(path) as tmp:
        frame.to_csv(tmp, index=False)


def _read_csv(path: Path, on_skip: OnSkip = skip_to_stderr):
    import io

    import pandas as pd

    from .csv_rows import whole_rows

    text = whole_rows(path, lambda why: on_skip(path, why), STATUSES)  # truncated or malformed rows left out
    frame = pd.read_csv(io.StringIO(text), dtype={"size": "string"})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a results table: no column {', '.join(missing)}")
    for name in TEXT_COLUMNS:
        if name in frame.columns:
            frame[name] = frame[name].map(from_csv_cell, na_action="ignore")
    return typed(frame)[list(ALL_COLUMNS)]
