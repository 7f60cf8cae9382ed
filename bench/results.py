"""The tidy results of a run: one JSON record per measured cell, one table per run.

Run folder layout (``results/<timestamp or --out>/``)::

    cells/<cell id>.json   one record per finished cell, written atomically
    results.csv            every record as one tidy table (written by :func:`load`)
    env.json               machine, CPU, cores, python, framework versions, settings
    plan.json              the cells the run was asked for (used by ``--resume``)
    bench-<backend>*.json  pytest-benchmark's own JSON, one per worker process
    logs/                  each worker's console output

Records are JSON and the table CSV: nothing here can run code when loaded.
Times are in seconds.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: the tidy columns, in order; the report reads these names
COLUMNS = (
    "problem",
    "size",
    "n",
    "n_params",
    "backend",
    "mode",
    "label",
    "dtype",
    "device",
    "threads",
    "kind",
    "status",
    "reason",
    "median",
    "iqr",
    "min",
    "mean",
    "stddev",
    "rounds",
    "first_call",
    "ratio",
    "peak_mem_mb",
    "version",
    "machine",
    "run",
)
#: columns after the contract: useful detail, free to grow
EXTRA_COLUMNS = ("cell", "iterations", "warm_call", "build_time", "cell_time", "base_mem_mb", "started", "finished")

#: every status a cell can end with
STATUSES = ("ok", "nan", "diverged", "crashed", "timeout", "error")
#: statuses whose timings are meaningful
TIMED = ("ok",)
TIME_COLUMNS = ("median", "iqr", "min", "mean", "stddev", "first_call", "warm_call", "build_time", "cell_time")

SCHEMA = "autodiff-bench/cell/1"
CELLS = "cells"
CSV = "results.csv"


def record(**fields: Any) -> dict[str, Any]:
    """A cell record with every column present (missing ones are ``None``)."""
    unknown = set(fields) - set(COLUMNS) - set(EXTRA_COLUMNS)
    if unknown:
        raise KeyError(f"not a result column: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {"schema": SCHEMA}
    for name in COLUMNS + EXTRA_COLUMNS:
        out[name] = fields.get(name)
    return out


def write_json(path: Path | str, data: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, default=_jsonable, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a result")


def clean(value: Any) -> Any:
    """Non-finite floats become ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cell_path(run_dir: Path | str, cell_id: str) -> Path:
    return Path(run_dir) / CELLS / f"{cell_id}.json"


def save(run_dir: Path | str, cell_id: str, rec: dict[str, Any]) -> Path:
    """Store one finished cell, atomically."""
    path = cell_path(run_dir, cell_id)
    write_json(path, {k: clean(v) for k, v in rec.items()})
    return path


def finished(run_dir: Path | str) -> set[str]:
    """Ids of the cells already recorded in a run folder (valid records only)."""
    return {rec["cell"] for _, rec in _records(Path(run_dir), warn=lambda msg: None)}


def recorded(run_dir: Path | str) -> set[str]:
    """Ids with a record file, without reading them (cheap enough to poll; files are written atomically)."""
    try:
        names = os.listdir(Path(run_dir) / CELLS)
    except FileNotFoundError:
        return set()
    return {name[:-5] for name in names if name.endswith(".json") and not name.startswith(".")}


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _records(run_dir: Path, warn: Callable[[str], None]) -> Iterable[tuple[Path, dict[str, Any]]]:
    folder = run_dir / CELLS
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            warn(f"skipping {path}: not a readable JSON result ({str(exc).splitlines()[0]})")
            continue
        problem = _problem_with(rec)
        if problem:
            warn(f"skipping {path}: {problem}")
            continue
        yield path, rec


def _problem_with(rec: Any) -> str | None:
    """Why a parsed file is not a cell record, or None if it is one."""
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        return f"not a cell record (schema {SCHEMA!r} expected)"
    missing = [c for c in COLUMNS if c not in rec]
    if missing:
        return f"cell record without {', '.join(missing)}"
    if rec["status"] not in STATUSES:
        return f"unknown status {rec['status']!r}"
    if not isinstance(rec.get("cell"), str):
        return "cell record without an id"
    return None


def load(path: Path | str, write_csv: bool = True, warn: Callable[[str], None] = warn_stderr):
    """The tidy table of a run: one row per measured cell.

    ``path`` is a run folder (its ``cells/`` records are read, bad files skipped
    with a one-line warning each, and ``results.csv`` rewritten unless
    ``write_csv`` is False), a run folder holding only ``results.csv``, or a CSV
    file written by this function. ``ratio`` is each row's median over the
    objective's median for the same problem, size, label, dtype, device and threads.
    """
    import pandas as pd

    path = Path(path)
    if path.is_file():
        return _read_csv(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no run folder or results file at {path}")
    if not (path / CELLS).is_dir() and (path / CSV).is_file():
        return _read_csv(path / CSV)
    rows = [rec for _, rec in _records(path, warn)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS + EXTRA_COLUMNS))
    frame = _typed(frame)
    frame["ratio"] = _ratios(frame)
    frame = frame.sort_values(["problem", "n", "kind", "label", "dtype", "device", "threads"], kind="stable")
    frame = frame.reset_index(drop=True)
    if write_csv:
        _write_csv(frame, path / CSV)
    return frame


def _typed(frame):
    import pandas as pd

    for name in ("n", "n_params", "threads", "rounds", "iterations"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
    for name in TIME_COLUMNS + ("ratio", "peak_mem_mb", "base_mem_mb"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in ("problem", "size", "backend", "mode", "label", "dtype", "device", "kind", "status", "reason",
                 "version", "machine", "run", "cell", "started", "finished"):
        frame[name] = frame[name].astype("string")
    # Timings of cells that did not end well are never part of any statistic.
    bad = frame["status"] != "ok"
    for name in ("median", "iqr", "min", "mean", "stddev"):
        frame.loc[bad, name] = float("nan")
    return frame


def _ratios(frame):
    keys = ["run", "machine", "problem", "size", "label", "dtype", "device", "threads"]
    objective = frame[(frame["kind"] == "objective") & (frame["status"] == "ok")]
    base = objective.set_index(keys)["median"]
    base = base[~base.index.duplicated(keep="last")]
    index = frame.set_index(keys).index
    return (frame["median"].to_numpy() / base.reindex(index).to_numpy()).astype("float64")


def _write_csv(frame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_csv(path: Path):
    import pandas as pd

    frame = pd.read_csv(path, dtype={"size": "string"})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a results table: no column {', '.join(missing)}")
    for name in EXTRA_COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    return _typed(frame[list(COLUMNS + EXTRA_COLUMNS)].copy())
