"""``python -m bench settle``: a run's close calls timed again in the same rounds, and the verdicts that read them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench import results, settle, settled_file, verdicts
from bench.__main__ import main as bench_main
from bench.report import load
from bench.report.context import build

from .test_verdicts import BASE, make


def _rounds(ratio: float, n: int = 80, seed: int = 0, drift: float = 1.0) -> list[list[float]]:
    """Rounds of jax+jit, torch and numpy (the order of ``LABELS``): torch ``ratio`` times jax+jit in every
    round, the machine's speed moving by up to ``drift`` from round to round (it hits every row alike)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        speed = math.exp(rng.uniform(0, math.log(drift))) if drift > 1 else 1.0
        noise = np.exp(rng.normal(0, 0.01, 3))
        out.append([float(x) for x in speed * np.array([0.5e-3, 0.5e-3 * ratio, 1.0e-3]) * noise])
    return out


LABELS = ["jax+jit", "torch", "numpy"]


def _group(ratio: float, sessions: int = 3, labels=LABELS, **kw) -> dict:
    key = {"problem": "linear_regression", "size": "small", "dtype": "float64", "device": "cpu", "threads": 1}
    rounds = [_rounds(ratio, seed=s, **kw) for s in range(sessions)]
    width = len(labels)
    return {**key, "kind": "gradient", "labels": list(labels), "sessions": [[r[:width] for r in x] for x in rounds]}


def _tie_run(tmp_path):
    """A run whose jax+jit and torch rows are 4% apart by median: a tie timed apart."""
    return make(tmp_path / "r", BASE, seed=5)


def test_the_same_rounds_call_a_difference_that_medians_timed_apart_leave_a_tie(tmp_path):
    run = _tie_run(tmp_path)
    frame = results.load(run, write_csv=False)
    apart = verdicts.fastest(frame).iloc[0].to_dict()
    assert apart["outcome"] == "tie" and apart["basis"] == "medians"
    # every round: torch 1.25 times jax+jit, the machine's speed moving by 2x between rounds
    now = verdicts.fastest(frame, settled=[_group(1.25, drift=2.0)]).iloc[0].to_dict()
    assert now["outcome"] == "ahead" and now["basis"] == "same rounds"
    assert now["fastest"] == "jax+jit" and now["runner_up"] == "torch"
    assert now["margin"] == pytest.approx(1.25, rel=0.02) and 1.1 < now["margin_lo"] < 1.25 < now["margin_hi"]
    assert verdicts.phrase(now).endswith("ahead of torch in the same rounds")
    # equal rows in the same rounds: a tie, said so
    same = verdicts.fastest(frame, settled=[_group(1.0, drift=2.0)]).iloc[0].to_dict()
    assert same["outcome"] == "tie" and same["basis"] == "same rounds"
    assert "of the same rounds" in same["why"] and verdicts.phrase(same).endswith("in the same rounds")


def test_the_rounds_decide_only_where_they_hold_every_row_that_could_be_the_fastest(tmp_path):
    frame = results.load(_tie_run(tmp_path), write_csv=False)
    # torch, a contender (4% behind jax+jit by median), is not in these rounds: the medians' call stands
    without = verdicts.fastest(frame, settled=[_group(1.25, labels=["jax+jit", "numpy"])]).iloc[0].to_dict()
    assert without["basis"] == "medians" and without["outcome"] == "tie"
    # numpy (2x slower, clearly) need not be in them
    two = verdicts.fastest(frame, settled=[_group(1.25, labels=["jax+jit", "torch"])]).iloc[0].to_dict()
    assert two["basis"] == "same rounds" and two["outcome"] == "ahead"
    # another group's rounds (a thread count the run did not time) change nothing
    other = {**_group(1.25), "threads": 2}
    assert verdicts.fastest(frame, settled=[other]).iloc[0]["basis"] == "medians"


def test_a_table_of_some_rows_is_judged_on_their_rounds_alone(tmp_path):
    frame = results.load(_tie_run(tmp_path), write_csv=False)
    group = _group(1.25)
    group["sessions"] = [[[r[0], r[1], r[0] * 0.5] for r in rounds] for rounds in group["sessions"]]  # numpy 2x faster
    every = verdicts.fastest(frame, settled=[group]).iloc[0].to_dict()
    assert every["fastest"] == "numpy" and every["runner_up"] == "jax+jit" and every["basis"] == "same rounds"
    autodiff = frame[frame["backend"] != "numpy"]
    row = verdicts.fastest(autodiff, settled=[group]).iloc[0].to_dict()
    assert row["fastest"] == "jax+jit" and row["outcome"] == "ahead" and row["basis"] == "same rounds"


def test_sessions_that_disagree_leave_no_winner():
    one, two = _group(0.97, sessions=1), _group(1.30, sessions=1)
    rows = verdicts.in_rounds(LABELS[:2], [one["sessions"][0], [[r[0], r[1]] for r in two["sessions"][0]]])
    torch = rows[1] if rows[0]["verdict"] == "fastest" else rows[0]
    assert torch["verdict"] == "same" and torch["lo"] <= 1.0 < 1.25 <= torch["hi"]


def test_the_report_says_the_call_of_the_rounds_and_a_bad_file_is_left_out_whole(tmp_path):
    run = _tie_run(tmp_path)
    settled_file.write(run, [_group(1.25)])
    context = build(load.load_runs([run]))
    wins = context.who_wins()
    assert wins[0]["all"]["basis"] == "same rounds" and wins[0]["all"]["outcome"] == "ahead"
    assert "ahead of torch in the same rounds" in wins[0]["recommendation"]
    hand = wins[0]["hand"]  # NumPy's row was in those rounds too: 2x jax+jit's in every round
    assert hand["rounds"] and hand["call"] == "slower" and hand["ratio"].value == pytest.approx(2.0, rel=0.02)
    assert "hand-derived NumPy is 2.00x" in wins[0]["recommendation"]
    assert wins[0]["recommendation"].endswith("slower in the same rounds.")
    assert context.fastest.iloc[0]["outcome"] == "ahead"
    bad = json.loads((run / settled_file.NAME).read_text())
    bad["groups"][0]["sessions"][0][3][1] = -1.0  # a round with a negative time: the whole file is refused
    (run / settled_file.NAME).write_text(json.dumps(bad))
    loaded = load.load_run(run)
    assert loaded.settled == [] and any("positive, finite seconds" in line for line in loaded.skipped)
    assert build([loaded]).fastest.iloc[0]["basis"] == "medians"


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda d: d.update(schema="bench.settled/9"), "not a bench.settled/1 document"),
        (lambda d: d["groups"][0].update(labels=["jax+jit"]), "'labels' is not a list of 2 to 8"),
        (lambda d: d["groups"][0].update(labels=["torch", "torch", "numpy"]), "a row label appears twice"),
        (lambda d: d["groups"][0].update(threads=True), "'threads' is missing or not a positive integer"),
        (lambda d: d["groups"][0].pop("kind"), "'kind' is missing"),
        (lambda d: d["groups"][0]["sessions"][0].append([1.0]), "a round is not 3 positive"),
        (lambda d: d["groups"][0].update(sessions=[]), "'sessions' is not a list of 1 to"),
        (lambda d: d.update(groups={}), "'groups' is not a list"),
        (lambda d: d["groups"][0]["sessions"][0][0].__setitem__(0, 10**400), "a round is not 3 positive"),
        (lambda d: d["groups"][0]["sessions"][0][0].__setitem__(0, float("nan")), "a round is not 3 positive"),
        (lambda d: d["groups"][0]["sessions"][0][0].__setitem__(0, float("inf")), "a round is not 3 positive"),
        (lambda d: d["groups"][0]["sessions"][0][0].__setitem__(0, True), "a round is not 3 positive"),
        (lambda d: d["groups"][0]["sessions"][0][0].__setitem__(0, 0), "a round is not 3 positive"),
    ],
)
def test_every_value_of_a_received_file_is_checked(change, why):
    doc = {"schema": settled_file.SCHEMA, "groups": [_group(1.1)]}
    settled_file.check(doc)
    change(doc)
    with pytest.raises(settled_file.SettledError, match=why):
        settled_file.check(doc)


def test_the_groups_chosen_are_the_close_calls_of_rows_long_enough_to_time_together(tmp_path):
    frame = load.combine([load.load_run(_tie_run(tmp_path))])
    groups, left_out = settle.candidates(frame)
    assert [g["labels"] for g in groups] == [["jax+jit", "torch"]] and groups[0]["threads"] == 1
    assert left_out == []
    fast = {k: v / 10 for k, v in BASE.items()}  # 50 us a call: what ran just before moves such rows
    frame = load.combine([load.load_run(make(tmp_path / "fast", fast, seed=5))])
    groups, left_out = settle.candidates(frame)
    assert groups == [] and "under 0.2 ms a call" in left_out[0][1]
    clear = {**BASE, ("torch", "gradient", 1): 0.8e-3}  # a call already made: nothing to settle
    assert settle.candidates(load.combine([load.load_run(make(tmp_path / "clear", clear, seed=6))])) == ([], [])


def test_settle_refuses_a_run_from_another_machine_and_a_bad_file_in_one_line(tmp_path, capsys):
    run = _tie_run(tmp_path)
    env = json.loads((run / "env.json").read_text())
    (run / "env.json").write_text(json.dumps({**env, "hostname": "elsewhere"}))
    assert bench_main(["settle", str(run)]) == 2
    assert "was run on elsewhere, not here" in capsys.readouterr().err
    (run / "env.json").write_text(json.dumps(env))
    (run / settled_file.NAME).write_text("{}")
    assert bench_main(["settle", str(run)]) == 2
    assert "not a bench.settled/1 document; move it away" in capsys.readouterr().err
    (run / settled_file.NAME).unlink()
    for bad, why in ((["--sessions", "0"], "--sessions 0 is out of range"), (["--seconds", "inf"], "--seconds")):
        assert bench_main(["settle", str(run), *bad]) == 2
        assert why in capsys.readouterr().err
    assert bench_main(["settle", str(run), "--dry-run"]) == 0
    assert "linear_regression small float64 gradient (1 threads): jax+jit, torch" in capsys.readouterr().out


def test_settle_times_the_groups_keeps_each_sessions_rounds_and_earlier_groups(tmp_path, monkeypatch, capsys):
    run = _tie_run(tmp_path)
    earlier = {**_group(1.1), "kind": "objective"}
    settled_file.write(run, [earlier])
    asked = []

    def session(groups, order, seconds, progress, task, s):  # the rounds a session of servers would give
        asked.append((s, list(order)))
        for i in order:
            yield i, [[r[0], r[1]] for r in _rounds(1.25, seed=s)]

    monkeypatch.setattr(settle, "_session", session)
    assert bench_main(["settle", str(run), "--sessions", "2", "--seconds", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "jax+jit x1.25" in out and "ahead of torch in the same rounds" in out and "timed apart: " in out
    assert asked == [(0, [0]), (1, [0])]
    kept = settled_file.read(run)
    assert [g["kind"] for g in kept] == ["objective", "gradient"] and len(kept[1]["sessions"]) == 2


def test_the_page_says_which_calls_come_from_the_same_rounds_and_how_they_were_timed(tmp_path):
    from bench import report

    run = _tie_run(tmp_path)
    settled_file.write(run, [_group(1.25)])
    out = report.write_report([run], out=tmp_path / "out", formats=("png",), dpi=40, only=["times"])
    text = (out / "report.md").read_text()
    glance = text[text.index("At a glance") :]
    assert "1 of them called on their close rows timed again in the same interleaved rounds" in glance
    assert "ahead of torch in the same rounds" in text
    methods = (out / "methods.md").read_text()
    assert "The close rows of 1 comparison groups" in methods and "3 sessions of fresh processes, 80 to 80" in methods
    (run / settled_file.NAME).unlink()
    out = report.write_report([run], out=tmp_path / "out2", formats=("png",), dpi=40, only=["times"])
    page = (out / "report.md").read_text() + (out / "methods.md").read_text()
    assert "in the same rounds)" not in page and "called on their close rows" not in page


def test_a_runs_closing_summary_names_its_close_calls_and_the_command_that_settles_them(tmp_path):
    from bench.runner.summary import settle_line

    run = _tie_run(tmp_path)
    line = settle_line(results.load(run, write_csv=False), run)
    assert line == (
        "close calls: 1 group the medians leave a tie or cannot tell; their rows in the same rounds: "
        f"python -m bench settle {run}"
    )
    clear = make(tmp_path / "clear", {**BASE, ("torch", "gradient", 1): 0.8e-3}, seed=6)
    assert settle_line(results.load(clear, write_csv=False), clear) is None


def test_the_times_chart_stars_the_fastest_of_a_call_made_in_the_same_rounds(tmp_path):
    from bench.report.charts import times

    run = _tie_run(tmp_path)  # jax+jit first by median, torch 2% behind
    settled_file.write(run, [_group(0.8)])  # in every round, torch takes 0.8 of jax+jit's time
    context = build(load.load_runs([run]))
    assert context.fastest.iloc[0]["fastest"] == "torch" and context.fastest.iloc[0]["outcome"] == "ahead"

    def starred(ctx) -> str:
        (chart,) = [c for c in times.charts(ctx) if c.slug.startswith("times-linear_regression")]
        (ax,) = [a for a in chart.figure.axes if a.get_title() == "gradient"]
        (y,) = [t.get_position()[1] for t in ax.texts if t.get_text() == "★ fastest"]
        return [t.get_text() for t in ax.get_yticklabels()][round(y)]

    assert starred(context) == "torch"
    (run / settled_file.NAME).unlink()
    assert starred(build(load.load_runs([run]))) == "jax+jit"  # by median, where no rounds say otherwise


def test_a_tie_names_the_row_it_ties_with_and_one_session_decides_nothing(tmp_path):
    frame = results.load(_tie_run(tmp_path), write_csv=False)
    group = _group(1.30)  # torch clearly slower (x1.30), numpy all over the place: same as jax+jit, or 2.5x
    rng = np.random.default_rng(3)
    for rounds in group["sessions"]:
        for r in rounds:
            r[2] = r[0] * (1.0 if rng.random() < 0.5 else 2.5)
    row = verdicts.fastest(frame, settled=[group]).iloc[0].to_dict()
    assert row["outcome"] == "tie" and row["runner_up"] == "numpy", verdicts.phrase(row)
    one = {**_group(1.25), "sessions": _group(1.25)["sessions"][:1]}
    assert verdicts.fastest(frame, settled=[one]).iloc[0]["basis"] == "medians"
    assert verdicts.pair_in_rounds(one, "jax+jit", "numpy") is None  # nor the hand-derived row's comparison
    assert verdicts.pair_in_rounds(_group(1.25), "jax+jit", "numpy")[1] == "slower"


def test_an_interrupted_settle_never_leaves_a_weaker_file_than_it_found():
    kept = [_group(1.25, sessions=3)]
    partial = [_group(1.1, sessions=1)]
    assert settle._merge(kept, partial) == kept
    whole = [_group(1.1, sessions=3)]
    assert settle._merge(kept, whole) == whole


class _Dying:
    """A server whose rows build, and which ends on its first timed request (as a crashed framework would)."""

    closed: list = []

    def __init__(self, backend, threads):
        self.backend, self.dead, self.rows = backend, False, 0
        self.proc = self

    def poll(self):
        return 1 if self.dead else None

    def ask(self, request):
        if self.dead:
            raise ValueError("I/O operation on closed file")
        if "build" in request:
            self.rows += 1
            return {"row": self.rows - 1, "batch": 1, "first_call": 0.0}
        return {}

    def time(self, row):
        if self.backend == "torch":
            self.dead = True
            raise RuntimeError("the torch server ended (exit 1): out of memory")
        return 1e-3

    def close(self):
        _Dying.closed.append(self.backend)


def test_a_server_that_ends_in_a_group_is_said_and_the_other_groups_still_timed(monkeypatch, capsys):
    from rich.console import Console
    from rich.progress import Progress

    monkeypatch.setattr(settle.duel, "Server", _Dying)
    _Dying.closed = []
    groups = [_group(1.0), {**_group(1.0, labels=["jax+jit", "numpy"]), "kind": "objective"}]
    with Progress(console=Console(file=__import__("io").StringIO())) as progress:
        task = progress.add_task("settle", total=2)
        out = list(settle._session(groups, [0, 1], 0.01, progress, task, 0))
    assert [i for i, _ in out] == [1] and len(out[0][1]) >= 9  # the second group timed, in its own rounds
    assert sorted(_Dying.closed) == ["jax", "numpy", "torch"]  # the dead one at once, the others at the end
