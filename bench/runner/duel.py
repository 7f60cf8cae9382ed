"""``python -m bench diagnose duel``: rows of different frameworks timed in interleaved rounds.

``python -m bench diagnose duel --problem P --size S --kind K --row jax+jit --row tensorflow+xla [--row ...]``

A run times each framework in worker processes of its own, one framework after another, so its
"who wins" ratio divides two medians timed minutes apart, and on a shared machine whose speed changes
from one second to the next that ratio carries the machine's drift (its interval is wide to say so).
Here every row is timed in the same rounds: one server process per framework (started as a run's
workers are: pinned to the thread count's CPUs, the framework's thread setters called) builds its rows
and waits; the coordinator asks the rows in turn, one batch of calls each per round, in a fresh random
order each round (:func:`.interleave.paired`), so only one process measures at a time and a drift hits
every row of a round alike. This is done in ``--sessions`` sessions (default 3), each with fresh
processes: the ratio of two rows moves from one set of processes to the next beyond what one
session's rounds show. Each row's ratio to the fastest is the median of the per-round ratios of
every session with its 95% interval, stretched to hold each session's own median
(:func:`bench.stats.paired_ratio`), and the verdict follows the run's rule
(:func:`bench.stats.verdict`): the fastest is ahead of a row only where that interval says so.

A batch is as many calls as last a millisecond (one call where one lasts longer), so a round's
exchange with the servers (about 0.1 ms) is small beside the time between the rows it compares;
the seconds are taken inside each server, around the batch, after 10 ms of untimed calls
(:data:`WARM_SECONDS`): a server waits while the others measure, and its framework's thread pools
fall asleep and wake slowly, which a row timed alone in a run never pays. ``--json PATH`` keeps every
round. ``python -m bench settle`` does the same for every close call of a run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import backends

from .. import safe_io, stats, verdicts
from ..cells import ARTICLE, WITNESS, Cell
from ..cli import UsageError, choose, unknown
from ..settled_file import PARTNER_SCALE, WARM_SECONDS
from . import config, interleave, launch, supervise
from .machine import Watch

HELP = "rows of different frameworks timed in the same interleaved rounds, one server process per framework"
#: a batch of calls lasts at least this many seconds ...
BATCH_SECONDS = 1e-3
#: ... and holds at most this many calls
MAX_BATCH = 1000
#: sessions of fresh server processes: the ratio of two rows moves from one set of processes to the next
#: beyond what one session's rounds show (a JAX row over a NumPy row at 46 us: 1.04 to 1.66 in five
#: sessions, each with an interval of +-5%), and the interval must hold every session's figure
SESSIONS = 3


# --- the server: one framework's rows, built once, timed a batch at a time on request --------------------


def serve(threads: int, read: IO[str], write: IO[str]) -> None:
    """Answer requests, one JSON line each: ``{"build": [problem, size, backend, variant, dtype, kind]}``
    builds a row (its first and second calls untimed by the rounds) and answers its index, batch size and
    first call's seconds; ``{"time": i}`` times row i's batch and answers the seconds per call; ``{"drop": i}``
    frees row i. A failure
    is answered ``{"error": ...}``; the server ends at the end of its input."""
    from ..cells import build
    from .worker import check_output

    rows: list[tuple[Any, int]] = []
    threads_set: set[str] = set()
    for line in read:
        request = json.loads(line)
        try:
            if "build" in request:
                cell = Cell(*request["build"])
                if cell.backend not in threads_set and cell.backend in backends.REGISTRY:
                    backends.get(cell.backend).set_threads(threads)
                    threads_set.add(cell.backend)
                built = build(cell)
                start = time.perf_counter()
                built.call()  # tracing, compilation
                first = time.perf_counter() - start
                start = time.perf_counter()
                out = built.call()
                warm = time.perf_counter() - start
                status, reason = check_output(built, out)
                if status != "ok":
                    raise ValueError(f"{cell.label} gives no answer to time: {reason}")
                batch = max(1, min(MAX_BATCH, math.ceil(BATCH_SECONDS / max(warm, 1e-9))))
                rows.append((built.call, batch))
                answer: dict[str, Any] = {"row": len(rows) - 1, "batch": batch, "first_call": first}
            elif "drop" in request:  # a row no longer asked for: its arrays and compiled code freed
                rows[int(request["drop"])] = (_dropped, 1)
                answer = {"dropped": int(request["drop"])}
            else:
                call, batch = rows[int(request["time"])]
                warm_until = time.perf_counter() + WARM_SECONDS
                call()  # untimed calls first: the thread pools that slept while others measured wake and settle
                while time.perf_counter() < warm_until:
                    call()
                start = time.perf_counter()
                for _ in range(batch):
                    call()
                answer = {"seconds": (time.perf_counter() - start) / batch}
        except Exception as exc:  # the coordinator says which row and why, in one line
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        write.write(json.dumps(answer) + "\n")
        write.flush()


def _dropped() -> None:
    raise ValueError("this row was dropped")


# --- the coordinator ---------------------------------------------------------------------------------------


class Server:
    """One framework's server process, spoken to a request at a time."""

    def __init__(self, backend: str, threads: int):
        self.backend = backend
        cmd = launch.command("bench.runner.duel", str(threads), threads=threads)
        # a framework's warnings go to a file, never into a pipe it could fill and block on
        self.log = tempfile.TemporaryFile("w+", errors="replace")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=supervise.child_env(threads),  # as a run's workers: pools sized, ended with this process
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the server has ended: its stderr says why, below
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.log.seek(0)
            tail = self.log.read().strip().splitlines()[-1:]
            raise RuntimeError(f"the {self.backend} server ended (exit {self.proc.returncode}): {' '.join(tail)}")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise RuntimeError(f"the {self.backend} server answered {line.strip()[:200]!r}, not a JSON object")
        return answer

    def time(self, row: int) -> float:
        answer = self.ask({"time": row})
        if "error" in answer:
            raise RuntimeError(f"{self.backend}: {answer['error']}")
        return float(answer["seconds"])

    def close(self) -> None:
        """End the server (it ends at the end of its input), however it is doing; never raises for a dead one."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:  # a server that has died: the request left in the buffer cannot be flushed
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def host(cell: list[str]) -> str:
    """The framework whose server builds a row: its backend's (the article's loop is NumPy's)."""
    return "numpy" if cell[2] == ARTICLE else cell[2]


def rows_known(problem: str, size: str, dtype: str, kind: str) -> dict[str, list[str]]:
    """Every row a duel takes, by label (``jax+jit``, ``numpy``, ``torch+witness``, ``article``): its cell's
    fields. The article's loop is NumPy in float64, as in a run."""
    cells = [Cell(problem, size, n, v, dtype, kind) for n in backends.NAMES for v in (*backends.variants(n), WITNESS)]
    cells.append(Cell(problem, size, ARTICLE, "eager", "float64", kind))
    return {c.label: [c.problem, c.size, c.backend, c.variant, c.dtype, c.kind] for c in cells}


#: each row's median and its ratio to the fastest, from the rounds of every session (the ranking lives in verdicts)
summary = verdicts.in_rounds


def lines(rows: list[dict[str, Any]], rounds: int, sessions: int, others: float) -> list[str]:
    """The summary in words: each row against the fastest (the fastest first), and the call."""
    from ..fmt import fmt_time

    fastest = next(r for r in rows if r["verdict"] == "fastest")
    out = [
        f"{len(rows)} rows in {rounds} interleaved rounds, {sessions} {'session' if sessions == 1 else 'sessions'} "
        f"(other processes used up to {others:.0%} of the CPUs)"
    ]
    for r in sorted(rows, key=lambda r: r["ratio"]):
        ratio = "x1" if r["verdict"] == "fastest" else stats.fmt_ratio(stats.Interval(r["ratio"], r["lo"], r["hi"]))
        call = {
            "fastest": "fastest",
            "slower": "slower beyond the noise",
            "same": "no difference this run can see",
            "faster": "faster than the fastest in most rounds: the rows rank in a cycle",
        }
        median = f"{fmt_time(r['median'])} ({fmt_time(r['median_lo'])}-{fmt_time(r['median_hi'])})"
        out.append(f"  {r['row']:<22} {median:>28}  {ratio:<22} {call.get(r['verdict'], 'cannot tell')}")
    behind = [r for r in rows if r is not fastest]
    if behind and all(r["verdict"] == "slower" for r in behind):
        runner = min(behind, key=lambda r: r["ratio"])
        ratio = stats.fmt_ratio(stats.Interval(runner["ratio"], runner["lo"], runner["hi"]))
        out.append(f"{fastest['row']} is ahead: {ratio} over {runner['row']}")
    else:
        ties = [r["row"] for r in behind if r["verdict"] != "slower"]
        out.append(f"no clear winner: {fastest['row']} ties with {', '.join(ties)}")
    quick = [r["row"] for r in rows if r["median"] < PARTNER_SCALE]
    if quick and len(rows) > 1:
        out.append(
            f"  read with care: {', '.join(quick)} under {PARTNER_SCALE * 1e3:g} ms a call, where what ran just "
            "before still moves a row (a JAX jit row up to x1.2): time them apart too (python -m bench run)"
        )
    return out


class Unbuildable(RuntimeError):
    """A row its framework's server could not build (one line: which and why)."""


def build_row(servers: dict[tuple[str, int], Server], label: str, cell: list[str], threads: int) -> tuple[Server, int]:
    """Row ``label`` built on its framework's server for ``threads`` (started into ``servers`` where there is
    none yet): the server and the row's index there; :class:`Unbuildable` where it cannot be built."""
    key = (host(cell), threads)
    server = servers.get(key) or servers.setdefault(key, Server(*key))
    answer = server.ask({"build": cell})
    if "error" in answer:
        raise Unbuildable(f"row {label} cannot be timed here: {answer['error']}")
    return server, int(answer["row"])


def session(labels: list[str], cells: list[list[str]], threads: int, seconds: float) -> tuple[list[list[float]], float]:
    """One session: a fresh server per framework, every row built, then the rounds; the rounds and the share
    of the CPUs other processes used meanwhile. Every server is closed, however the session ends."""
    servers: dict[tuple[str, int], Server] = {}
    try:
        calls = []
        for label, cell in zip(labels, cells):
            try:
                server, row = build_row(servers, label, cell, threads)
            except Unbuildable as exc:
                raise UsageError(str(exc)) from None
            calls.append(lambda server=server, row=row: server.time(row))
        with Watch([s.proc.pid for s in servers.values()]) as watch:
            timed = interleave.paired(calls, seconds=seconds, own_clock=True)
        return timed, round(watch.others_share(), 3)
    finally:
        for server in servers.values():
            server.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    import problems

    p.add_argument("--problem", required=True, choices=problems.NAMES)
    p.add_argument("--size", required=True, help="a size of the problem (python -m bench list)")
    p.add_argument("--kind", required=True, choices=problems.KINDS)
    p.add_argument(
        "--row",
        action="append",
        required=True,
        help="a row's label, repeatable, two at least: jax+jit, numpy, torch+witness ...",
    )
    p.add_argument("--dtype", default="float64", choices=backends.DTYPES)
    p.add_argument("--threads", help="threads for every framework (default: every CPU this process may use)")
    p.add_argument("--sessions", default=SESSIONS, help=f"sessions, each with fresh processes (default {SESSIONS})")
    p.add_argument("--seconds", default=1.0, help="seconds of rounds per session, after nine rounds (default 1)")
    p.add_argument("--json", metavar="PATH", type=Path, help="also write every round and the summary as JSON")


def main(args: argparse.Namespace) -> int:
    import problems

    known = rows_known(args.problem, args.size, args.dtype, args.kind)
    labels = choose(args.row, list(known), "row")
    if len(labels) < 2:
        raise UsageError("a duel needs two --row labels at least")
    problem = problems.get(args.problem)
    if args.size not in problem.sizes:
        raise UsageError(unknown(f"size of {args.problem}", args.size, list(problem.sizes)))
    if ARTICLE in labels and not (args.kind == "solve" and problem.has_article):
        looped = ", ".join(n for n in problems.NAMES if problems.get(n).has_article)
        raise UsageError(f"the {ARTICLE} row is the article's own loop, timed for --kind solve of {looped}")
    args.threads = config.parse_threads(args.threads)
    args.sessions = config.parse_count("--sessions", args.sessions, 1, 100)
    args.seconds = config.parse_seconds("--seconds", args.seconds, 0.0, 3600.0)
    cells = [known[label] for label in labels]
    for cell in cells:
        if cell[2] in backends.REGISTRY and not backends.installed(cell[2]):
            raise UsageError(backends.unavailable_reason(cell[2]))
    sessions, others = [], []
    for k in range(args.sessions):
        try:
            timed, share = session(labels, cells, args.threads, args.seconds)
        except RuntimeError as exc:  # a server ended or a row failed in the rounds: said in one line
            print(f"error: {exc}", file=sys.stderr)
            return 1
        sessions.append(timed)
        others.append(share)
        print(f"session {k + 1} of {args.sessions}: {len(timed)} rounds", flush=True)
    rows = summary(labels, sessions)
    for line in lines(rows, sum(map(len, sessions)), len(sessions), max(others)):
        print(line)
    if args.json:
        asked = {k: getattr(args, k) for k in ("problem", "size", "kind", "dtype", "threads", "seconds", "sessions")}
        finite = [{k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in r.items()} for r in rows]
        record = {"cell": asked, "rows": finite, "sessions": sessions, "others_cpu_share": others}
        # a link at that name is replaced, not followed
        safe_io.write_text(args.json, json.dumps(record, indent=1, allow_nan=False))
    return 0


if __name__ == "__main__":  # a framework's server, started by Server through runner.launch: THREADS
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # the answers' own channel ...
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # ... and whatever a framework prints goes to the log
    serve(int(sys.argv[1]), sys.stdin, answers)
