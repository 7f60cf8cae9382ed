"""Many runs, read as histories: the runs of each machine in date order, each cell's series of
medians over them, and the steps found in each series (:mod:`.steps`).

A run's date is its ``env.json``'s ``finished`` time, else the start of its last command, else the
folder's modification time. Rows are keyed by their machine (a cluster run's rows by each row's
machine), so runs of different machines are never one series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import results
from bench.report.comparison import speed_ratio, speed_text
from bench.report.load import Run
from bench.stats import MIN_EFFECT, Interval
from bench.verdicts import row_interval, row_stability

from .steps import Found, find_steps, usable

#: the columns naming one cell across runs of a machine
KEY = (*results.CELL_KEY, "threads")
#: the machine of rows and runs that name none
NO_MACHINE = "(machine not named)"


def run_date(run: Run) -> datetime:
    """When the run finished (env.json), else when its last command started, else the folder's mtime."""
    stamps = [run.env.finished] + [c.started for c in reversed(run.env.commands)]
    for stamp in stamps:
        if stamp:
            try:
                when = datetime.fromisoformat(stamp)
            except ValueError:
                continue
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(run.path.stat().st_mtime, UTC)
    except OSError:
        return datetime.fromtimestamp(0, UTC)


def versions(run: Run) -> dict[str, str]:
    return dict(run.env.versions)


def commit(run: Run) -> str:
    """The short commit of the code that ran (``*`` where its files differed from it), or ``""``."""
    sha = run.env.git_commit
    if not sha:
        return ""
    return sha[:7] + ("*" if run.env.git_dirty is True else "")


def changed_versions(before: Run | None, now: Run) -> list[tuple[str, str, str]]:
    """``(name, before, now)`` for every version that differs between two runs (``-``: not installed)."""
    if before is None:
        return []
    a, b = versions(before), versions(now)
    names = dict.fromkeys([*a, *b])
    return [(name, a.get(name, "-"), b.get(name, "-")) for name in names if a.get(name) != b.get(name)]


def version_changes(before: Run | None, now: Run) -> list[str]:
    """``jax 0.10.1 → 0.10.2`` for every version that differs between two runs, and the machine's speed
    where it changed beyond :data:`bench.report.comparison.SPEED_FACTOR` (a host changed under one name)."""
    out = [f"{name} {old} → {new}" for name, old, new in changed_versions(before, now)]
    moved = speed_ratio(before.env, now.env) if before is not None else None
    return out + ([f"machine speed {speed_text(*moved)}"] if moved else [])


@dataclass
class Timeline:
    """One machine's runs, oldest first."""

    machine: str
    runs: list[Run]
    dates: list[datetime]

    def changes(self, i: int) -> list[str]:
        return version_changes(self.runs[i - 1] if i else None, self.runs[i])

    def label(self, i: int) -> str:
        """A run's axis label: its date, its commit and the versions that changed since the run before."""
        parts = [self.dates[i].strftime("%Y-%m-%d %H:%M"), commit(self.runs[i])]
        before = self.runs[i - 1] if i else None
        parts += [f"{name} {new}" for name, _, new in changed_versions(before, self.runs[i])]
        return "\n".join(p for p in parts if p)


@dataclass
class Series:
    """One cell's medians over a machine's runs: ``points[i]`` for run ``i`` (None: not timed ok there)."""

    machine: str
    cell: dict[str, Any]
    points: list[Interval | None]
    stable: list[bool]  #: whether run i's median takes part in finding steps
    steps: list[Step] = field(default_factory=list)

    @property
    def name(self) -> str:
        c = self.cell
        return f"{c['problem']} {c['size']} {c['kind']} {c['label']} {c['dtype']} {c['device']} t{c['threads']}"


@dataclass
class Step:
    series: Series
    found: Found
    at: int  #: the run (position in the machine's timeline) of the first median on the new level
    before: int  #: the run of the last median on the old level

    @property
    def change(self) -> float:
        return self.found.change.value - 1

    @property
    def size(self) -> float:
        return abs(math.log(self.found.change.value))


@dataclass
class History:
    timelines: dict[str, Timeline]
    series: list[Series]
    min_effect: float
    single: list[str] = field(default_factory=list)  #: machines with one run only (no history)

    @property
    def steps(self) -> list[Step]:
        return worst_first([s for series in self.series for s in series.steps])


def worst_first(steps: list[Step]) -> list[Step]:
    """Slower steps first, the largest first; then the faster ones, the largest first."""
    return sorted(steps, key=lambda s: (s.found.verdict != "slower", -s.size))


def _machine_of(run: Run, row_machine: Any) -> str:
    if isinstance(row_machine, str) and row_machine:
        return row_machine
    return run.machine or NO_MACHINE


def build(runs: list[Run], min_effect: float = MIN_EFFECT) -> History:
    """Group the runs by machine, order them by date, and find the steps of every cell's series."""
    rows: dict[str, dict[int, list[dict]]] = {}  #: machine -> run index -> ok rows
    for index, run in enumerate(runs):
        frame = run.table
        if not len(frame):
            continue
        for row in frame[frame["status"] == "ok"].to_dict("records"):
            rows.setdefault(_machine_of(run, row.get("machine")), {}).setdefault(index, []).append(row)
    history = History({}, [], min_effect)
    for machine in sorted(rows):
        indices = sorted(rows[machine], key=lambda i: (run_date(runs[i]), str(runs[i].path)))
        if len(indices) < 2:
            history.single.append(machine)
            continue
        timeline = Timeline(machine, [runs[i] for i in indices], [run_date(runs[i]) for i in indices])
        history.timelines[machine] = timeline
        history.series += _series(machine, [rows[machine][i] for i in indices], min_effect)
    return history


def _cell(row: dict) -> tuple:
    return tuple(str(row.get(name)) for name in KEY)


def _series(machine: str, per_run: list[list[dict]], min_effect: float) -> list[Series]:
    cells: dict[tuple, dict] = {}
    by_run: list[dict[tuple, dict]] = []  #: per run: cell -> its row (the last, where a run holds it twice)
    for rows in per_run:
        by_run.append({})
        for row in rows:
            key = _cell(row)
            cells.setdefault(key, {**{name: row.get(name) for name in KEY}, "backend": row.get("backend")})
            by_run[-1][key] = row
    out = []
    for key, cell in cells.items():
        points: list[Interval | None] = []
        stable: list[bool] = []
        for rows_of in by_run:
            found_row = rows_of.get(key)
            row = found_row if found_row is not None else {}
            iv = row_interval(row) if found_row is not None else None
            points.append(iv if iv is not None and math.isfinite(iv.value) else None)
            stable.append(iv is not None and usable(iv) and row_stability(row) is None)
        series = Series(machine, cell, points, stable)
        positions = [i for i, ok in enumerate(stable) if ok]
        for found in find_steps([points[i] for i in positions], min_effect):  # type: ignore[misc]
            series.steps.append(Step(series, found, positions[found.at], positions[found.at - 1]))
        out.append(series)
    return out
