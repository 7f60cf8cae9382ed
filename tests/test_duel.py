"""``python -m bench diagnose duel``: rows of different frameworks timed in the same interleaved rounds."""

from __future__ import annotations

import io
import json
import math
import os
import random

import psutil
import pytest

import bench.__main__
from bench.runner import duel, interleave


def test_rounds_keep_the_seconds_each_call_measured_itself():
    clocks = [lambda: 0.25, lambda: 0.5]
    timed = interleave.paired(clocks, seconds=0.0, min_rounds=3, own_clock=True)
    assert timed == [[0.25, 0.5]] * 3


def _drifting_rounds(true_ratio: float, rounds: int = 60, seed: int = 1) -> list[list[float]]:
    """Two rows timed in the same rounds on a machine whose speed moves 2x from one round to the next:
    the second row costs ``true_ratio`` times the first, each call with 3% noise of its own."""
    rng = random.Random(seed)
    out = []
    for _ in range(rounds):
        speed = rng.choice([1.0, 1.7, 2.0])
        out.append([speed * 1e-3 * rng.gauss(1, 0.03), speed * true_ratio * 1e-3 * rng.gauss(1, 0.03)])
    return out


def test_a_duel_cancels_the_machines_drift_and_calls_a_real_difference():
    rows = duel.summary(["jax+jit", "tensorflow+xla"], [_drifting_rounds(1.2)])
    fastest, other = rows
    assert fastest["verdict"] == "fastest" and (fastest["lo"], fastest["hi"]) == (1.0, 1.0)
    # the medians of each row alone swing with the machine; the per-round ratio does not
    assert other["lo"] <= 1.2 <= other["hi"] and other["lo"] > 1.1 and other["verdict"] == "slower"
    words = duel.lines(rows, 60, 1, 0.0)
    assert words[-1].startswith("jax+jit is ahead: x1.2") and "over tensorflow+xla" in words[-1]
    # rows of tens of microseconds: the call is said with the care it needs
    quick = duel.lines([r | {"median": r["median"] / 100} for r in rows], 60, 1, 0.0)
    assert quick[-2] == words[-1] and quick[-1].startswith("  read with care: jax+jit, tensorflow+xla under 0.2 ms")


def test_a_duel_of_equal_rows_calls_no_winner():
    rows = duel.summary(["a", "b"], [_drifting_rounds(1.0)])
    behind = [r for r in rows if r["verdict"] != "fastest"]
    assert [r["verdict"] for r in behind] == ["same"] and behind[0]["lo"] <= 1.0 <= behind[0]["hi"]
    assert duel.lines(rows, 60, 1, 0.0)[-1].startswith("no clear winner: ")


def test_the_interval_holds_every_sessions_own_ratio_and_the_fastest_is_chosen_by_the_rounds():
    # two sessions whose processes put the second row at x0.97 and x1.30: one session's rounds cannot see that,
    # and each alone would call it slower beyond the noise at x1.30
    sessions = [_drifting_rounds(0.97, seed=2), _drifting_rounds(1.30, seed=3)]
    assert duel.summary(["jax+jit", "numpy"], sessions[1:])[1]["verdict"] == "slower"
    behind = duel.summary(["jax+jit", "numpy"], sessions)[1]
    assert behind["lo"] <= 0.98 and behind["hi"] >= 1.29 and behind["verdict"] == "same"
    # b's median over all its rounds is the lower (1.05 against 1.5), yet a is the faster in 40 of 59 rounds
    rounds = [[1.0, 1.05]] * 20 + [[2.0, 2.1]] * 20 + [[1.5, 1.0]] * 19
    a, b = duel.summary(["a", "b"], [rounds])
    assert b["median"] < a["median"] and a["verdict"] == "fastest" and b["ratio"] == pytest.approx(1.05)


@pytest.mark.parametrize(
    ("label", "cell"),
    [
        ("jax+jit", ["lse", "small", "jax", "jit", "float32", "gradient"]),
        ("numpy", ["lse", "small", "numpy", "hand", "float32", "gradient"]),
        ("torch+witness", ["lse", "small", "torch", "witness", "float32", "gradient"]),
        ("article", ["lse", "small", "article", "eager", "float64", "gradient"]),  # NumPy's loop, float64 as in a run
    ],
)
def test_a_rows_label_names_its_cell(label, cell):
    assert duel.rows_known("lse", "small", "float32", "gradient")[label] == cell


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--row", "jax+jit"], "a duel needs two --row labels at least"),
        (["--row", "jax+jit", "--row", "julia"], "unknown row 'julia'; choose from numpy"),
        (["--row", "jax+jit,numpy", "--size", "huge"], "unknown size of quadratic 'huge'; choose from article"),
        (["--row", "jax+jit,numpy", "--threads", "0"], "--threads 0 is out of range"),
        (["--row", "jax+jit,numpy", "--sessions", "0"], "--sessions 0 is out of range; use 1 to 100"),
        (["--row", "jax+jit,numpy", "--seconds", "inf"], "--seconds"),
        (["--row", "jax+jit,article"], "the article row is the article's own loop, timed for --kind solve of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, says, capsys):
    base = ["diagnose", "duel", "--problem", "quadratic", "--size", "article", "--kind", "gradient"]
    if "--size" in argv:
        base = base[:4] + base[6:]
    assert bench.__main__.main([*base, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err


def test_a_server_answers_each_request_and_a_failure_in_one_line():
    requests = [
        {"build": ["quadratic", "article", "numpy", "eager", "float64", "gradient"]},
        {"time": 0},
        {"time": 7},
    ]
    answers = io.StringIO()
    duel.serve(1, io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), answers)
    built, timed, failed = (json.loads(line) for line in answers.getvalue().splitlines())
    assert built["row"] == 0 and 1 <= built["batch"] <= duel.MAX_BATCH and built["first_call"] > 0
    assert math.isfinite(timed["seconds"]) and timed["seconds"] > 0
    assert failed["error"].startswith("IndexError")


@pytest.mark.slow  # a server process per framework
def test_a_live_duel_times_two_frameworks_each_in_its_own_process(tmp_path, capsys):
    out = tmp_path / "duel.json"
    argv = ["diagnose", "duel", "--problem", "quadratic", "--size", "article", "--kind", "gradient"]
    asked = ["--row", "numpy", "--row", "jax+jit", "--seconds", "0.1", "--sessions", "2", "--json", str(out)]
    assert bench.__main__.main([*argv, *asked]) == 0
    said = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert [r["row"] for r in record["rows"]] == ["numpy", "jax+jit"] and len(record["sessions"]) == 2
    for rounds in record["sessions"]:
        assert len(rounds) >= interleave.MIN_ROUNDS and all(len(r) == 2 and min(r) > 0 for r in rounds)
    assert f"2 rows in {sum(map(len, record['sessions']))} interleaved rounds, 2 sessions" in said
    assert not psutil.Process().children(recursive=True)  # every server has ended
    # a row that cannot be built here is named, in one line, and no server is left behind
    assert bench.__main__.main([*argv, "--row", "numpy", "--row", "jax+witness"]) == 2
    assert "row jax+witness cannot be timed here: " in capsys.readouterr().err
    assert not psutil.Process().children(recursive=True)


class _FakeServer:
    """A server whose process ends in the rounds, as one killed by the kernel would."""

    closed: list[str] = []

    def __init__(self, backend, threads):
        self.backend, self.proc = backend, type("P", (), {"pid": 0})()

    def ask(self, request):
        return {"row": 0, "batch": 1, "first_call": 0.1}

    def time(self, row):
        raise RuntimeError(f"the {self.backend} server ended (exit -9): Killed")

    def close(self):
        _FakeServer.closed.append(self.backend)


def test_a_server_that_ends_in_the_rounds_is_said_in_one_line_and_every_server_is_closed(monkeypatch, capsys):
    monkeypatch.setattr(duel, "Server", _FakeServer)
    monkeypatch.setattr(_FakeServer, "closed", [])
    monkeypatch.setattr(duel.backends, "installed", lambda name: True)
    argv = ["diagnose", "duel", "--problem", "quadratic", "--size", "article", "--kind", "gradient"]
    assert bench.__main__.main([*argv, "--row", "numpy", "--row", "torch"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the ") and "server ended (exit -9)" in err
    assert sorted(_FakeServer.closed) == ["numpy", "torch"]


def test_the_duels_servers_count_as_its_own_cpu_time_not_as_other_processes():
    from bench.runner import machine

    alone, with_pid = machine._read(), machine._read([os.getpid()])  # this process named as its own server
    mine = sum(os.times()[:2])
    assert with_pid.own - alone.own >= mine * 0.99 and machine._read([2**22 + 1]).own >= alone.own  # no such pid


def test_the_fastest_beats_every_row_head_to_head_where_ratios_to_one_row_rank_them_otherwise():
    # against a, b is the faster of b and c (medians 0.8 and 0.9), yet c beats b in 11 of 21 rounds and a in all
    rounds = [[1.0, 0.8, 0.9]] * 10 + [[1.0, 1.2, 0.9]] * 6 + [[1.0, 0.5, 0.4]] * 5
    rows = duel.summary(["a", "b", "c"], [rounds])
    assert [r["verdict"] == "fastest" for r in rows] == [False, False, True]
    assert all(r["ratio"] >= 1 for r in rows)


@pytest.mark.slow  # a process that ends at once
def test_a_server_that_has_ended_is_said_and_closed_without_an_error(tmp_path):
    import subprocess
    import sys
    import tempfile

    server = object.__new__(duel.Server)
    server.backend, server.log = "jax", tempfile.TemporaryFile("w+", errors="replace")
    server.proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('out of memory', file=sys.stderr); sys.exit(3)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=server.log,
        text=True,
    )
    server.proc.wait()
    with pytest.raises(RuntimeError, match=r"the jax server ended \(exit 3\): out of memory"):
        server.time(0)
    server.close()  # the request left unflushed in the pipe to a dead process costs nothing
    assert server.proc.returncode == 3 and server.log.closed
