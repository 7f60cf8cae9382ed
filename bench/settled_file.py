"""``settled.json``: a run's close calls timed again in the same interleaved rounds (``python -m bench settle``).

One document per run folder: ``{"schema": "bench.settled/1", "groups": [...]}``. Each group holds the
comparison group's columns (:data:`KEYS`), the ``labels`` of the rows timed together, and ``sessions``:
for each session of fresh server processes, its rounds, each the seconds per call of every row in the
order of ``labels``. The report's "who wins" verdicts read it through :func:`read` only
(:func:`bench.verdicts.fastest`, its ``settled`` argument); a received folder's file is checked whole
before any of it is believed, and a file that fails is left out with one line saying why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import safe_io

NAME = "settled.json"
SCHEMA = "bench.settled/1"
#: a comparison group's columns inside one run (the run and its machine are the folder's)
KEYS = ("problem", "size", "dtype", "device", "threads", "kind")
# the rounds are timed as ``python -m bench diagnose duel`` times them (bench.runner.duel), with these settings:
#: a row runs untimed for this long before each timed batch: a framework's thread pools slept while the other
#: rows measured, and wake slowly. JAX's jit row of the Newton objective (small, 44.6 us a call in a run, timed
#: alone) against NumPy's, 2 threads: after one untimed call 75 to 107 us in seven duels (NumPy ahead in six,
#: x1.16 to x1.75), after 10 ms of untimed calls 43 to 58 us in five (four ties, one x1.20 the other way);
#: rows of half a millisecond and more made the same calls either way (k-means, logistic regression, 2026-12-05)
WARM_SECONDS = 10e-3
#: rows faster than this per call are still moved by what ran just before (above): the duel says so beside its
#: call, and ``python -m bench settle`` leaves such groups to the run's medians
PARTNER_SCALE = 2e-4
#: a group with more close rows than this is left to the medians (``python -m bench settle --max-rows``)
SETTLE_ROWS = 6
#: a group's rounds decide its call only from this many sessions of fresh processes on (one session's ratio
#: moves by more than its own rounds show: see bench.runner.duel.SESSIONS)
MIN_SESSIONS = 2
#: the seconds a round may say a call took
MIN_SECONDS, MAX_SECONDS = 1e-12, 1e5
#: what a file may hold: rows a group, sessions, rounds a session, and bytes
MAX_ROWS, MAX_SESSIONS, MAX_ROUNDS, MAX_BYTES = 8, 100, 100_000, 64 * 2**20


class SettledError(ValueError):
    """A file that is no settled.json of this version (one line: what is wrong)."""


def check(doc: Any) -> list[dict[str, Any]]:
    """The groups of a parsed document, every value checked; :class:`SettledError` where one is wrong."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise SettledError(f"not a {SCHEMA} document")
    groups = doc.get("groups")
    if not isinstance(groups, list):
        raise SettledError("'groups' is not a list")
    out = []
    for k, group in enumerate(groups):
        where = f"group {k + 1}"
        if not isinstance(group, dict):
            raise SettledError(f"{where} is not an object")
        for key in KEYS:
            value = group.get(key)
            if key == "threads" and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise SettledError(f"{where}: 'threads' is missing or not a positive integer")
            if key != "threads" and not (isinstance(value, str) and value):
                raise SettledError(f"{where}: {key!r} is missing or not a name")
        labels = group.get("labels")
        if not (isinstance(labels, list) and 2 <= len(labels) <= MAX_ROWS and all(isinstance(x, str) for x in labels)):
            raise SettledError(f"{where}: 'labels' is not a list of 2 to {MAX_ROWS} row labels")
        if len(set(labels)) != len(labels):
            raise SettledError(f"{where}: a row label appears twice")
        sessions = group.get("sessions")
        if not (isinstance(sessions, list) and 1 <= len(sessions) <= MAX_SESSIONS):
            raise SettledError(f"{where}: 'sessions' is not a list of 1 to {MAX_SESSIONS} sessions")
        for rounds in sessions:
            if not (isinstance(rounds, list) and 1 <= len(rounds) <= MAX_ROUNDS):
                raise SettledError(f"{where}: a session is not a list of 1 to {MAX_ROUNDS} rounds")
            for r in rounds:
                if not (isinstance(r, list) and len(r) == len(labels) and all(_seconds(x) for x in r)):
                    raise SettledError(f"{where}: a round is not {len(labels)} positive, finite seconds")
        out.append({**{k: group[k] for k in KEYS}, "labels": labels, "sessions": sessions})
    return out


def _seconds(x: Any) -> bool:
    """A call's time: a number of seconds in [1e-12, 1e5] (no bool, NaN, infinity or integer too large for a float)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and MIN_SECONDS <= x <= MAX_SECONDS


def read(run_dir: Path | str) -> list[dict[str, Any]]:
    """A run folder's settled groups ([] where it has no file); :class:`SettledError` for a file that fails."""
    path = Path(run_dir) / NAME
    if not path.exists():
        return []
    if path.is_symlink() or not path.is_file():
        raise SettledError("not a plain file")
    if path.stat().st_size > MAX_BYTES:
        raise SettledError(f"larger than {MAX_BYTES // 2**20} MiB")
    doc, why = safe_io.read_json(path)
    if why:
        raise SettledError(why)
    return check(doc)


def write(run_dir: Path | str, groups: list[dict[str, Any]]) -> Path:
    """Write the groups (checked first: a writer's mistake never leaves a file the report refuses)."""
    doc = {"schema": SCHEMA, "groups": groups}
    check(doc)
    path = Path(run_dir) / NAME
    # seconds to 5 significant digits: the rounds of a run's close calls stay well under a megabyte or two
    safe_io.write_text(path, json.dumps(_rounded(doc), separators=(",", ":"), allow_nan=False))
    return path


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value
