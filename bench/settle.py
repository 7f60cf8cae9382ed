"""``python -m bench settle [RUN_DIR]``: a run's close calls timed again, their rows in the same rounds.

A run times each framework in worker processes of its own, one framework after another, so a "who
wins" call divides medians timed minutes apart; on a shared machine whose speed drifts, that ratio
carries the drift and its interval is wide: many groups end "no difference this run can see". This
command takes those groups (a tie, or a row too unstable to call) and times their close rows again
in the same interleaved rounds, as ``python -m bench diagnose duel`` does for one group: one server
process per framework and thread count builds the rows (started as a run's workers are), the rows
are asked in turn, a batch of calls each, in a fresh random order each round, so a drift hits every
row of a round alike and cancels in their ratios. It does so in ``--sessions`` sessions of fresh
processes; the call is the run's rule on the per-round ratios' 95% interval, stretched to hold each
session's own figure (:func:`bench.verdicts.in_rounds`).

The rounds go to ``settled.json`` in the run folder (written after each session; groups timed
before are kept until this settle has timed them in as many sessions), and the report's "who wins"
table, glance line, methods paragraph and times charts read them: where a group's rounds (two
sessions or more) hold its fastest row and every row that could be the fastest, its call is made on
them and says "in the same rounds" (:func:`bench.verdicts.settle`).

Left out: groups whose fastest row takes under 0.2 ms a call (which process ran just before moves
such a row: :data:`bench.settled_file.PARTNER_SCALE`), GPU rows, and groups with more close rows than
``--max-rows``. It runs on the machine that made the run, with the framework versions it ran.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import backends

from . import settled_file, verdicts
from .cli import UsageError
from .fmt import one_line
from .runner import config, duel, interleave

HELP = "time a run's close calls again, their rows in the same interleaved rounds, for calls that hold"
#: at most this many rows a group (every row that could be the fastest must be among them)
MAX_ROWS = settled_file.SETTLE_ROWS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", help="a run folder (default: the newest under results/)")
    p.add_argument("--sessions", default=duel.SESSIONS, help=f"sessions of fresh processes (default {duel.SESSIONS})")
    p.add_argument("--seconds", default=1.0, help="seconds of rounds per group and session (default 1)")
    p.add_argument("--max-rows", default=MAX_ROWS, help=f"leave out groups with more close rows (default {MAX_ROWS})")
    p.add_argument("--dry-run", action="store_true", help="list the groups it would time, and why others are left out")


#: the groups to time again, and why other close calls are not (:func:`bench.verdicts.to_settle`)
candidates = verdicts.to_settle


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from .report import load
    from .report.context import missing_cells

    run_dir = Path(args.run_dir) if args.run_dir else load.newest_run()
    sessions = config.parse_count("--sessions", args.sessions, settled_file.MIN_SESSIONS, settled_file.MAX_SESSIONS)
    seconds = config.parse_seconds("--seconds", args.seconds, 0.0, 3600.0)
    max_rows = config.parse_count("--max-rows", args.max_rows, 2, settled_file.MAX_ROWS)
    run = load.load_run(run_dir)
    if run.env.cluster or run.env.machines:
        raise UsageError(f"{run_dir} is a cluster run: settle each machine's own run folder on that machine")
    here = platform.node()
    if run.env.hostname and run.env.hostname != here:
        raise UsageError(f"{run_dir} was run on {run.env.hostname}, not here ({here}): settle it on that machine")
    changed = _versions_changed(run.env.versions)
    if changed:
        raise UsageError(f"{run_dir} was timed with {changed}: settle it where the run's versions are installed")
    try:
        kept = settled_file.read(run_dir)
    except settled_file.SettledError as exc:
        raise UsageError(f"{run_dir / settled_file.NAME}: {exc}; move it away to settle this run again") from None
    frame = load.combine([run])
    missing = missing_cells([run])
    groups, left_out = candidates(frame, missing, max_rows)
    console = Console(highlight=False, soft_wrap=True)
    for name, why in left_out:
        console.print(f"left out: {name}: {why}", markup=False)
    if not groups:
        console.print(f"{run_dir}: no close call to settle", markup=False)
        return 0
    console.print(f"{len(groups)} close calls, {sessions} sessions of {seconds:g} s of rounds each", markup=False)
    if args.dry_run:
        for g in groups:
            console.print(f"  {_name(g)}: {', '.join(g['labels'])}", markup=False)
        return 0
    unknown = sorted({b for g in groups for b in _hosts(g) if b in backends.REGISTRY and not backends.installed(b)})
    if unknown:
        raise UsageError(backends.unavailable_reason(unknown[0]))
    timed: dict[int, list] = {i: [] for i in range(len(groups))}
    started = time.monotonic()
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("settle", total=sessions * len(groups))
        for s in range(sessions):
            order = list(range(len(groups)))
            for i, rounds in _session(groups, order if s % 2 == 0 else order[::-1], seconds, progress, task, s):
                timed[i].append(rounds)
            done = [{**g, "sessions": timed[i]} for i, g in enumerate(groups) if timed[i]]
            path = settled_file.write(run_dir, _merge(kept, done))
    if not done:
        console.print(f"error: no close call could be timed in the same rounds (notes above); {path} unchanged")
        return 1
    console.print(f"settled in {time.monotonic() - started:.0f} s: {path}", markup=False)
    after = verdicts.fastest(frame, missing, settled=[{**g, "run": run.tag} for g in _merge(kept, done)])
    before = verdicts.fastest(frame, missing)
    for g in done:
        key = {k: str(g[k]) for k in settled_file.KEYS}
        now = _row(after, key)
        apart = _row(before, key)
        console.print(f"  {_name(g)}: {now['fastest']} {verdicts.phrase(now)}", markup=False)
        console.print(f"      timed apart: {apart['fastest']} {verdicts.phrase(apart)}", markup=False)
    return 0


def _name(group: dict[str, Any]) -> str:
    return f"{group['problem']} {group['size']} {group['dtype']} {group['kind']} ({group['threads']} threads)"


def _hosts(group: dict[str, Any]) -> list[str]:
    known = duel.rows_known(group["problem"], group["size"], group["dtype"], group["kind"])
    return [duel.host(known[label]) for label in group["labels"] if label in known]


def _row(table, key: dict[str, str]) -> dict[str, Any]:
    for row in table.to_dict("records"):
        if all(str(row[k]) == v for k, v in key.items()):
            return row
    raise LookupError(key)


def _merge(kept: list[dict], done: list[dict]) -> list[dict]:
    """The groups timed now, and those of an earlier settle that this one did not time again or has not yet
    timed in as many sessions (an interrupted settle never leaves a weaker file than it found)."""
    key = lambda g: tuple(str(g[k]) for k in settled_file.KEYS)  # noqa: E731
    before = {key(g): g for g in kept}
    fuller = [g for g in done if len(g["sessions"]) >= len(before.get(key(g), {}).get("sessions", ()))]
    ids = {key(g) for g in fuller}
    return [g for g in kept if key(g) not in ids] + fuller


def _versions_changed(recorded: dict[str, str]) -> str:
    """The run's framework versions that differ from those installed here (``jax 0.10.2, here 0.10.3``), or ''."""
    import importlib.metadata

    out = []
    for dist, version in sorted(recorded.items()):
        if dist in ("python", "pytest-benchmark"):
            continue
        try:
            here = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: the row's framework is said unavailable below
        if here != version:
            out.append(f"{dist} {version}, here {here}")
    return "; ".join(out)


def _session(groups, order, seconds, progress, task, s):
    """One session: fresh servers (one per framework and thread count), kept for every group; each group's
    rows built, timed in interleaved rounds, dropped. Yields (group index, rounds); a group whose row cannot
    be built or whose server ends is said and left out of this session; every server is closed at the end."""
    servers: dict[tuple[str, int], duel.Server] = {}
    try:
        for i in order:
            g = groups[i]
            progress.update(task, description=f"session {s + 1}: {_name(g)}")
            known = duel.rows_known(g["problem"], g["size"], g["dtype"], g["kind"])
            built: list[tuple[duel.Server, int]] = []
            try:
                for label in g["labels"]:
                    if label not in known:
                        raise RuntimeError(f"row {label} is not a row this harness knows")
                    built.append(duel.build_row(servers, label, known[label], int(g["threads"])))
                calls = [lambda server=server, row=row: server.time(row) for server, row in built]
                rounds = interleave.paired(calls, seconds=seconds, own_clock=True)
                yield i, rounds
            except RuntimeError as exc:
                progress.console.print(f"note: {_name(g)}, session {s + 1}: {one_line(exc, name=False)}", markup=False)
            finally:
                for server, row in built:
                    if server.proc.poll() is None:
                        try:
                            server.ask({"drop": row})
                        except (RuntimeError, OSError, ValueError):  # it ended meanwhile: closed below
                            pass
                for key in [k for k, sv in servers.items() if sv.proc.poll() is not None]:
                    servers.pop(key).close()  # a server that ended is started again for the next group
            progress.advance(task)
    finally:
        for server in servers.values():
            server.close()
