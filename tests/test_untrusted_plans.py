"""Plans, folders, plugins, signals and files the runner cannot trust: each attack reproduced, each now held.

1. a plan naming a plugin's backend, resumed without ``BENCH_PLUGINS``, is refused in one line naming
   the plugins it was planned with (recorded in plan.json), and never set aside and replaced;
2. ``run --out`` into a folder that is not a run folder, or through a symbolic link, is refused;
   ``--resume`` of a folder that does not exist is refused;
3. a planned cell left without a record is not ok (exit 3, counted in the summary);
4. a truncated or malformed results.csv row is left out with a warning naming the file and line;
5. names registered by plugins are checked and a built-in backend or problem is never replaced;
   a plugin that raises on import is one line; ``bench list`` and ``bench gradbench`` load plugins;
6. SIGTERM and SIGHUP end a run as Ctrl-C does; timeouts run on a monotonic clock;
7. JSON nested too deeply is damage, never a traceback; the GradBench tool's id is always JSON;
   an ok record whose median is not positive is damaged; env.json says whether the tree was dirty.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import backends
import problems
from bench import results, safe_io
from bench.__main__ import main
from bench.cells import Cell, CellSpec
from bench.runner import folder as run_folder
from bench.runner.command import EXIT_CELLS_NOT_OK

from . import support
from .support import FAULT_PLUGINS, QUICK, REPO, bench_cli

#: one cell of the slow test backend: a real run of a second or two
ONE_CELL = [*support.SLOW_RUN, "--kind", "objective", "--timeout", "60"]
NO_PLUGINS = {"BENCH_PLUGINS": ""}
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(stderr: str, stdout: str = "") -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stdout + stderr
    return lines[0]


def in_process(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def one_cell_run(tmp_path_factory) -> Path:
    """A finished run of one cell of the ``slow`` plugin backend."""
    out = tmp_path_factory.mktemp("one") / "run"
    proc = bench_cli("run", *ONE_CELL, "--out", out, env=FAULT_PLUGINS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


# -- 1. a plan of plugin cells, resumed without the plugins -----------------------------------------


@pytest.mark.parametrize("extra", [[], ["--threads", "1"], ["--kind", "objective"]], ids=["plain", "threads", "kind"])
def test_a_plugin_plan_resumed_without_the_plugins_is_refused_and_kept(one_cell_run, tmp_path, extra):
    run = copy_of(one_cell_run, tmp_path)
    plan = json.loads((run / "plan.json").read_text())
    assert plan["plugins"] == ["tests.fault_backend"]  # recorded when planned
    before = snapshot(run)
    proc = bench_cli("run", "--resume", "--out", run, *QUICK, *extra, env=NO_PLUGINS)
    assert proc.returncode == 2
    line = one_error_line(proc.stderr, proc.stdout)
    assert "'slow'" in line and "BENCH_PLUGINS=tests.fault_backend" in line
    assert snapshot(run) == before  # never set aside, never rebuilt without the plugin's cells
    again = bench_cli("run", "--resume", "--out", run, env=FAULT_PLUGINS)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 of 1 cells already done" in again.stdout


def test_records_of_a_plugin_backend_without_a_plan_are_refused(one_cell_run, tmp_path):
    run = copy_of(one_cell_run, tmp_path)
    (run / "plan.json").unlink()
    before = snapshot(run)
    proc = bench_cli("run", "--resume", "--out", run, env=NO_PLUGINS)
    assert proc.returncode == 2 and "'slow'" in one_error_line(proc.stderr, proc.stdout)
    assert snapshot(run) == before


# -- 2. folders a run must not write into -----------------------------------------------------------


def _home(root: Path) -> Path:
    home = root / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# the user's own\n")
    return home


def _documents(root: Path) -> Path:
    docs = root / "docs"
    (docs / "thesis").mkdir(parents=True)
    (docs / "notes.txt").write_text("mine\n")
    return docs


def _link_to_run(root: Path) -> Path:
    target = root / "real-run"
    run_folder.RunFolder(target).create()
    (target / "plan.json").write_text('{"cells": []}')
    (root / "link").symlink_to(target)
    return root / "link"


def _link_to_empty(root: Path) -> Path:
    (root / "empty").mkdir()
    (root / "link").symlink_to(root / "empty")
    return root / "link"


REFUSED = {
    "dotfile": (_home, [], "is not a run folder"),
    "documents": (_documents, [], "is not a run folder"),
    "link-to-run": (_link_to_run, ["--resume"], "is a symbolic link"),
    "link-to-empty": (_link_to_empty, [], "is a symbolic link"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_folder_that_is_not_a_run_folder_is_never_written_into(capsys, tmp_path, case):
    make, extra, expected = REFUSED[case]
    out = make(tmp_path)
    before = snapshot(tmp_path)
    args = ["--backend", "numpy", "--problem", "quadratic", *QUICK, "--out", out, *extra]
    code, _, err = in_process(capsys, "run", *args)
    assert code == 2 and expected in one_error_line(err)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content", [[], ["agreement.json"]], ids=["empty", "agreement-only"])
def test_an_empty_folder_or_one_made_by_nox_is_accepted(capsys, tmp_path, content):
    out = tmp_path / "run"
    out.mkdir()
    for name in content:
        (out / name).write_text("[]")
    code, out_text, _ = in_process(
        capsys, "run", "--backend", "numpy", "--problem", "quadratic", "--size", "article", "--out", out, "--list"
    )
    assert code == 0 and "cells" in out_text


def test_resume_of_a_folder_that_does_not_exist_is_refused(capsys, tmp_path):
    code, _, err = in_process(capsys, "run", "--resume", "--out", tmp_path / "typo", "--list")
    assert code == 2
    assert "nothing to resume at" in one_error_line(err) and "drop --resume" in err
    assert not (tmp_path / "typo").exists()


# -- 3. a planned cell without a record -------------------------------------------------------------


def test_a_planned_cell_left_without_a_record_is_not_ok(capsys, tmp_path, monkeypatch):
    from bench.runner import supervise

    monkeypatch.setenv("BENCH_PLUGINS", "tests.fault_backend")
    monkeypatch.setattr(supervise.Supervisor, "run_group", lambda self, group, specs, retried: {})
    code, out, _ = in_process(capsys, "run", *ONE_CELL, "--out", tmp_path / "run")
    assert code == EXIT_CELLS_NOT_OK
    assert "1 of 1 planned cells have no record" in out


# -- 4. truncated and malformed results.csv rows -----------------------------------------------------


@pytest.fixture(scope="module")
def table() -> str:
    """The head of the reference run's results.csv: a header and 30 rows, most of them ok."""
    lines = (REPO / "results" / "reference" / results.CSV).read_text().splitlines(keepends=True)
    return "".join(lines[:31])


def _load(path: Path) -> tuple[object, list[str]]:
    said: list[str] = []
    frame = results.load(path, write_csv=False, on_skip=lambda p, why: said.append(f"{p}: {why}"))
    return frame, said


def test_a_truncated_baseline_row_is_left_out_with_a_warning(table, tmp_path):
    from bench.report.load import load_run

    old = tmp_path / "old"
    old.mkdir()
    lines = table.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    ok_line = max(k for k, line in enumerate(lines) if ",ok," in line)  # rows before it stay whole
    row = lines[ok_line]
    fields = row.split(",")
    at = sum(len(f) + 1 for f in fields[: header.index("median")])  # where the median starts in the row
    cut = "".join(lines[:ok_line]) + row[: at + 4]  # "0.00..." cut after four characters
    (old / results.CSV).write_text(cut)
    run = load_run(old)
    cell = fields[header.index("cell")]
    assert cell not in set(run.table["cell"].dropna())
    assert (run.table.loc[run.table["status"] == "ok", "median"] > 0).all()
    assert any(results.CSV in line and f"line {ok_line + 1}" in line for line in run.skipped), run.skipped


@PROPERTY
@given(cut=st.floats(0.0, 1.0))
def test_a_table_cut_anywhere_keeps_only_whole_rows(table, cut):
    import tempfile

    original = {row["cell"]: row for row in _rows(table)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / results.CSV
        path.write_text(table[: max(len(table.splitlines()[0]) + 1, int(cut * len(table)))])
        frame, _ = _load(path)
    for _, row in frame.iterrows():
        assert row["cell"] in original
        if row["status"] == "ok":
            assert row["median"] == pytest.approx(float(original[row["cell"]]["median"]), rel=1e-12)


def _rows(text: str) -> list[dict]:
    import csv

    return list(csv.DictReader(io.StringIO(text)))


MALFORMED = {
    "extra-field": lambda row, h: row + ",surplus",
    "unknown-status": lambda row, h: _with(row, h, "status", "excellent"),
    "zero-median": lambda row, h: _with(row, h, "median", "0"),
    "negative-median": lambda row, h: _with(row, h, "median", "-0.001"),
    "nan-median": lambda row, h: _with(row, h, "median", "nan"),
    "blank-median": lambda row, h: _with(row, h, "median", ""),
}


def _with(row: str, header: list[str], column: str, value: str) -> str:
    fields = row.split(",")
    fields[header.index(column)] = value
    return ",".join(fields)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_row_is_left_out_and_named(table, tmp_path, case):
    lines = table.splitlines()
    header = lines[0].split(",")
    k = next(k for k, line in enumerate(lines) if ",ok," in line and k > 0)
    lines[k] = MALFORMED[case](lines[k], header)
    path = tmp_path / results.CSV
    path.write_text("\n".join(lines) + "\n")
    frame, said = _load(path)
    assert len(frame) == len(lines) - 2
    assert len(said) == 1 and f"line {k + 1}" in said[0] and str(path) in said[0]


# -- 5. names registered by plugins ------------------------------------------------------------------

VALID = st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True).filter(
    lambda n: n not in backends.REGISTRY and n not in problems.known() and n != "article"
)
INVALID = st.text(max_size=60).filter(lambda n: not backends.NAME_PATTERN.fullmatch(n))


def _info(name, variant="eager", suffix=None):
    return backends.BackendInfo(
        name, "tests.some_plugin", "numpy", "", False, (backends.Variant(variant, False, suffix, "a test"),)
    )


def _problem(name, sizes=None):
    from problems.quadratic import Quadratic

    class Named(Quadratic):
        pass

    p = Named()
    p.name = name
    if sizes is not None:
        p.sizes = sizes
    return p


@PROPERTY
@given(name=VALID)
def test_a_valid_name_is_registered(name):
    try:
        assert backends.register(_info(name)).name in backends.REGISTRY
        assert problems.register(_problem(name)).name in problems.known()
    finally:
        backends.REGISTRY.pop(name, None)
        problems._REGISTERED.pop(name, None)


@PROPERTY
@given(name=INVALID)
@example("bad/name")
@example("../../x")
@example("a-b")
@example("")
@example("x" * 41)
@example("numpy\n")
@example("ümlaut")
def test_an_invalid_name_is_refused_naming_the_module(name):
    with pytest.raises(ValueError, match="tests.some_plugin"):
        backends.register(_info(name))
    with pytest.raises(ValueError, match="not an allowed name"):
        problems.register(_problem(name))
    with pytest.raises(ValueError, match="not an allowed name"):
        backends.register(_info("ok_name", variant=name))
    with pytest.raises(ValueError, match="not an allowed name"):
        backends.register(_info("ok_name", suffix=name))
    assert name not in backends.REGISTRY and "ok_name" not in backends.REGISTRY


@pytest.mark.parametrize("name", [*backends.NAMES, "article"])
def test_a_built_in_backend_is_never_replaced(name):
    before = backends.REGISTRY.get(name)
    with pytest.raises(ValueError, match="built in"):
        backends.register(_info(name))
    assert backends.REGISTRY.get(name) is before


@pytest.mark.parametrize("name", problems.NAMES)
def test_a_built_in_problem_is_never_replaced(name):
    before = problems.get(name)
    with pytest.raises(ValueError, match="built in"):
        problems.register(_problem(name))
    assert problems.get(name) is before


@pytest.mark.parametrize("size", ["../x", "a/b", "5000", "", "-x", "a b"])
def test_a_problem_size_name_is_checked(size):
    with pytest.raises(ValueError, match="size"):
        problems.register(_problem("sized_ok", {size: 10}))
    assert "sized_ok" not in problems.known()


PLUGINS = {
    "replaces-numpy": (
        """
        import backends
        backends.register(backends.BackendInfo("numpy", "backends.numpy", "numpy", "", False,
                          (backends.Variant("hand", False, None, "wrong derivatives"),)))
        """,
        ["'numpy'", "built in"],
    ),
    "raises": ('raise RuntimeError("boom\\nsecond line")', ["failed on import", "RuntimeError: boom"]),
    "slash-problem": (
        """
        import problems
        from problems.quadratic import Quadratic
        class Evil(Quadratic):
            name = "evil/../name"
        problems.register(Evil())
        """,
        ["'evil/../name'", "not an allowed name"],
    ),
}
COMMANDS = {
    "run": ["run", "--backend", "numpy", "--problem", "quadratic", "--size", "article", "--list"],
    "check": ["check", "--backend", "numpy", "--problem", "quadratic"],
    "list": ["list"],
    "gradbench": ["gradbench", "--backend", "numpy"],
}


def _plugin_env(tmp_path: Path, source: str) -> tuple[dict[str, str], str]:
    module = "hostile_plugin"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    return {"BENCH_PLUGINS": module, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}, module


def _bench(args, env: dict, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("plugin", list(PLUGINS))
def test_a_hostile_plugin_is_one_line_naming_its_module(tmp_path, plugin, command):
    source, expected = PLUGINS[plugin]
    env, module = _plugin_env(tmp_path, source)
    proc = _bench(["bench", *COMMANDS[command]], env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = one_error_line(proc.stderr, proc.stdout)
    assert module in line
    for fragment in expected:
        assert fragment in line


@pytest.mark.parametrize("entry", [["bench", "gradbench"], ["bench.gradbench"]], ids=["bench", "module"])
def test_gradbench_and_list_load_the_plugins(entry):
    env = {"BENCH_PLUGINS": "tests.toy_plugin"}
    start = json.dumps({"id": 0, "kind": "start"}) + "\n"
    proc = _bench([*entry, "--backend", "complexstep"], env, stdin=start)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["tool"] == "autodiff-bench complexstep"
    listed = _bench(["bench", "list"], env)
    assert "complexstep" in listed.stdout and "toy_quartic" in listed.stdout


# -- 6. signals and clocks ----------------------------------------------------------------------------


def _wait_for(predicate, limit=120.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize(
    "sig, seed", [(signal.SIGTERM, 0), (signal.SIGTERM, 1), (signal.SIGHUP, 2)], ids=["term-0", "term-1", "hup-2"]
)
def test_sigterm_and_sighup_end_a_run_as_ctrl_c_does(tmp_path, sig, seed):
    rng = random.Random(seed)  # the moment: after 1 to 3 cells, and up to 0.4 s into the next
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench", "run", *support.SLOW_RUN, "--timeout", "60", "--out", str(out)]
    env = {**os.environ, **FAULT_PLUGINS}
    runner = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cells = out / results.CELLS
    try:
        wanted = rng.randint(1, 3)
        assert _wait_for(lambda: len(list(cells.glob("*.json"))) >= wanted), "the run never finished a cell"
        time.sleep(rng.uniform(0.0, 0.4))
        runner.send_signal(sig)
        output, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 128 + sig, output
    assert "Traceback" not in output and "--resume" in output
    assert (out / results.CSV).is_file()
    assert not (out / run_folder.OWNER).exists()
    first = {p.name: p.read_bytes() for p in cells.glob("*.json")}
    assert len(results.load(out / results.CSV)) == len(first)

    again = subprocess.run([*cmd, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    planned = [s["id"] for s in json.loads((out / "plan.json").read_text())["cells"]]
    after = {p.name: p.read_bytes() for p in cells.glob("*.json")}
    assert sorted(after) == sorted(f"{i}.json" for i in planned) and len(planned) == 5
    for name, data in first.items():  # measured once: the records from before the signal are untouched
        assert after[name] == data
    frame = results.load(out)
    assert len(frame) == 5 and set(frame["status"]) == {"ok"}


class _SteppedClock:
    """The ``time`` module with its wall clock a year ahead (as after an NTP step)."""

    def __getattr__(self, name):
        return getattr(time, name)

    def time(self) -> float:
        return time.time() + 365 * 86400.0


def test_a_wall_clock_step_times_no_cell_out(capsys, tmp_path, monkeypatch):
    from bench.runner import supervise

    monkeypatch.setenv("BENCH_PLUGINS", "tests.fault_backend")
    monkeypatch.setattr(supervise, "time", _SteppedClock())
    code, out, _ = in_process(capsys, "run", *ONE_CELL, "--out", tmp_path / "run")
    assert code == 0, out
    (rec,) = results.scan(tmp_path / "run")[0].values()
    assert rec["status"] == "ok"


# -- 7. deep JSON, GradBench ids, impossible medians, a dirty tree -------------------------------------

DEPTHS = st.one_of(st.integers(65, 3000), st.sampled_from([999, 1000, 5000, 100_000]))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@given(depth=st.integers(1, 200))
def test_too_deep_draws_the_line_at_64(depth):
    assert results.too_deep(json.loads(nested(depth))) == (depth > results.MAX_DEPTH)


@PROPERTY
@given(depth=DEPTHS)
def test_deep_json_is_damage_in_every_reader(depth):
    import tempfile

    from bench.gradbench.tool import parse
    from bench.report.load import Skipped, _read_json

    text = '{"schema": "autodiff-bench/cell/1", "deep": ' + nested(depth) + "}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.json"
        path.write_text(text)
        rec, why = results.read_record(path)
        assert rec is None and "nested too deeply" in why
        (Path(tmp) / "plan.json").write_text('{"cells": ' + nested(depth) + "}")
        specs, damage = run_folder.RunFolder(tmp).read_plan()
        assert specs is None and "nested too deeply" in damage
        skip = Skipped()
        assert _read_json(path, skip) is None and "nested too deeply" in skip.lines()[0]
        assert safe_io.read_json(path)[0] is None
    message, reply = parse('{"id": 5, "kind": "evaluate", "input": ' + nested(depth) + "}")
    assert message is None and reply["id"] == 5 and "nested too deeply" in reply["error"]


DEEP = {
    "record": lambda run: next((run / results.CELLS).glob("*.json")).write_text(nested(5000)),
    "plan": lambda run: (run / "plan.json").write_text('{"cells": ' + nested(5000) + "}"),
    "env": lambda run: (run / "env.json").write_text('{"machine": ' + nested(200) + "}"),
}


@pytest.mark.parametrize("target", list(DEEP))
def test_a_deep_file_is_set_aside_and_the_run_resumes(one_cell_run, tmp_path, target):
    run = copy_of(one_cell_run, tmp_path)
    DEEP[target](run)
    proc = bench_cli("run", "--resume", "--out", run, env=FAULT_PLUGINS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "nested too deeply" in proc.stdout
    assert set(results.load(run)["status"]) == {"ok"} and len(results.scan(run)[0]) == 1


def test_a_deep_agreement_file_is_skipped_by_the_report(one_cell_run, tmp_path):
    from bench.report.load import load_run

    run = copy_of(one_cell_run, tmp_path)
    (run / "agreement.json").write_text(nested(100_000))
    loaded = load_run(run)
    assert len(loaded.table) == 1 and any("agreement.json" in line for line in loaded.skipped)


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


IDS = {
    "NaN": None,
    "Infinity": None,
    "-Infinity": None,
    "1e400": None,
    "true": None,
    "[1]": None,
    '{"a": 1}': None,
    nested(40): None,
    "0": 0,
    "42": 42,
    "-7": -7,
    '"seven"': "seven",
}


@pytest.mark.parametrize("broken", [False, True], ids=["reply", "fallback"])
@pytest.mark.parametrize("raw", list(IDS), ids=lambda raw: raw[:12])
def test_the_gradbench_tool_echoes_only_json_ids(raw, broken, monkeypatch):
    from bench.gradbench import tool

    t = tool.Tool(backends.get("numpy"))
    if broken:  # the session's last resort: a reply that could not be built

        def fail(message):
            raise RuntimeError("no reply")

        monkeypatch.setattr(t, "reply", fail)
    out = io.StringIO()
    tool.serve(t, io.StringIO(f'{{"id": {raw}, "kind": "start"}}\n'), out)
    reply = _strict(out.getvalue())
    assert reply["id"] == IDS[raw]


def test_a_deep_gradbench_message_gets_an_error_and_the_session_goes_on():
    from bench.gradbench import tool

    lines = nested(100_000) + "\n" + json.dumps({"id": 3, "kind": "define", "module": "lse"}) + "\n"
    out = io.StringIO()
    assert tool.serve(tool.Tool(backends.get("numpy")), io.StringIO(lines), out) == 0
    first, second = (_strict(line) for line in out.getvalue().splitlines())
    assert first["success"] is False and "nested too deeply" in first["error"]
    assert second == {"id": 3, "success": True}


def _record(median):
    spec = CellSpec(Cell("quadratic", "article", "numpy", "hand", "float64", "gradient"), 1, "cpu", 1)
    return {**results.record(**spec.columns(), status="ok"), "median": median}, spec.id


@pytest.mark.parametrize("median", ["0", "0.0", "-0.0", "-0.001", "NaN", "Infinity", "-Infinity"])
def test_an_ok_record_whose_median_is_not_a_positive_time_is_damaged(tmp_path, median):
    rec, cell = _record(None)
    text = json.dumps(rec).replace('"median": null', f'"median": {median}')
    path = tmp_path / f"{cell}.json"
    path.write_text(text)
    found, why = results.read_record(path)
    assert found is None and "median" in why


def test_an_ok_record_with_a_positive_median_is_kept(tmp_path):
    rec, cell = _record(1e-3)
    path = tmp_path / f"{cell}.json"
    path.write_text(json.dumps(rec))
    assert results.read_record(path)[0]["median"] == 1e-3


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_env_says_whether_the_code_ran_from_an_uncommitted_tree(tmp_path, one_cell_run):
    from bench.runner.machine import git_state

    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    assert git_state(tmp_path) == {"git_commit": None, "git_dirty": None}  # not a checkout
    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("commit", "-q", "-m", "one")
    clean = git_state(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] is False
    (tmp_path / "untracked.txt").write_text("not code\n")
    assert git_state(tmp_path)["git_dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path) == {"git_commit": clean["git_commit"], "git_dirty": True}
    env = json.loads((one_cell_run / "env.json").read_text())
    assert isinstance(env["git_dirty"], bool) and len(env["git_commit"]) == 40
