"""No result lost, nothing silently wrong: the holes an attack on the runner found, each reproduced and closed.

1. a run into a folder whose results.csv no record backs (the committed reference run) is refused;
2. one runner per run folder;
3. a damaged cell record is set aside and measured again;
4. a damaged plan.json is rebuilt from the records (or the run refused), never replaced by the default plan;
5. non-finite numbers are refused before anything is written;
6. a worker that dies before its first cell leaves not_run cells, retried once by --resume;
7. a full disk is one line (exit 4), with nothing half-written left behind.
The property-based attacks are in tests/test_reliability_properties.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import results
from bench.runner.command import EXIT_CELLS_NOT_OK

from .support import FAULT_PLUGINS, REPO, SLOW_RUN, bench_cli

SMALL = [
    "--backend",
    "numpy",
    "--backend",
    "article",
    "--problem",
    "linear_regression",
    "--size",
    "article",
    "--threads",
    "1",
    "--max-time",
    "0.005",
    "--min-rounds",
    "2",
]
N_SMALL = 6  # the 5 default kinds on numpy + the article's own loop


def bench_run(*args, env: dict | None = None, timeout: float = 300):
    return bench_cli("run", *args, env=env, timeout=timeout)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


def records(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / results.CELLS).glob("*.json")}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A small finished run folder (every cell ok), copied by the tests that damage it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = bench_run(*SMALL, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(records(out)) == N_SMALL
    return out


def copy_of(finished: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(finished, target)
    return target


# -- 1. committed results are never rewritten -----------------------------------------------------


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "new-run"])
def test_the_readme_resume_recipe_cannot_delete_the_committed_reference_table(tmp_path, resume):
    ref = tmp_path / "reference"
    ref.mkdir()
    for name in ("results.csv", "env.json", "agreement.json"):
        shutil.copy(REPO / "results" / "reference" / name, ref / name)
    before = snapshot(ref)
    proc = bench_run(
        "--out",
        ref,
        *(["--resume"] if resume else []),
        "--problem",
        "linear_regression",
        "--size",
        "article",
        "--backend",
        "numpy",
    )
    assert proc.returncode == 2
    assert "whose rows no cell record backs" in one_error_line(proc)
    assert snapshot(ref) == before


def test_load_never_rewrites_a_table_that_records_do_not_back(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    table = run / results.CSV
    rows = table.read_text().splitlines()
    table.write_text("\n".join(rows + [rows[-1].replace("linear_regression-article-numpy", "someone-elses")]) + "\n")
    before = table.read_bytes()
    frame = results.load(run)
    assert len(frame) == N_SMALL and table.read_bytes() == before


# -- 2. one runner per folder -------------------------------------------------------------------------


def test_a_second_runner_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, **FAULT_PLUGINS}
    cmd = [sys.executable, "-m", "bench", "run", *SLOW_RUN, "--out", str(out)]
    first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        while not list((out / results.CELLS).glob("*.json")) and time.monotonic() < end:
            time.sleep(0.05)
        assert list((out / results.CELLS).glob("*.json")), "the first run never finished a cell"
        second = subprocess.run([*cmd, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert "is in use by another bench run (pid" in one_error_line(second)
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stdout + stderr
    frame = results.load(out)
    assert len(frame) == 5 and frame["cell"].is_unique  # the 5 default kinds and set(frame["status"]) == {"ok"}
    for path in out.glob("bench-*.json"):
        json.loads(path.read_text())  # whole JSON, not two workers' interleaved writes


# -- 3. a damaged record is measured again ------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong-id", "folder"])
def test_a_damaged_record_is_set_aside_and_measured_again(finished, tmp_path, damage):
    run = copy_of(finished, tmp_path)
    victim = sorted((run / results.CELLS).glob("*.json"))[2]
    intact = {k: v for k, v in records(run).items() if k != victim.name}
    if damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:200])
    elif damage == "garbage":
        victim.write_bytes(b"\x00\xff not json \xfe" * 10)
    elif damage == "wrong-id":
        other = sorted((run / results.CELLS).glob("*.json"))[0]
        victim.write_bytes(other.read_bytes())  # a record duplicated under another name
    else:
        victim.unlink()
        victim.mkdir()
    proc = bench_run("--resume", "--out", run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{N_SMALL - 1} of {N_SMALL} cells already done" in proc.stdout
    assert "set aside" in proc.stdout
    after = records(run)
    assert set(after) == set(intact) | {victim.name}
    assert all(after[k] == v for k, v in intact.items())  # nothing finished was rewritten
    assert json.loads(after[victim.name])["status"] == "ok"  # measured again
    assert len(list((run / results.CELLS / ".damaged").iterdir())) == 1  # kept, out of the readers' way
    frame = results.load(run)
    assert len(frame) == N_SMALL and frame["cell"].is_unique


# -- 4. a damaged plan -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["truncated", "{}", "[]", '{"cells": [{"id": "x"}]}'])
def test_a_damaged_plan_is_rebuilt_from_the_records_not_replaced_by_the_default_plan(finished, tmp_path, content):
    run = copy_of(finished, tmp_path)
    plan = run / "plan.json"
    plan.write_text(plan.read_text()[:150] if content == "truncated" else content)
    before = records(run)
    proc = bench_run("--resume", "--out", run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is damaged" in proc.stdout and "rebuilt" in proc.stdout
    assert f"{N_SMALL} of {N_SMALL} cells already done" in proc.stdout
    assert records(run) == before
    assert len(json.loads(plan.read_text())["cells"]) == N_SMALL


def test_a_damaged_plan_with_no_finished_cell_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "plan.json").write_text('{"cells": ')
    before = snapshot(run)
    proc = bench_run("--resume", "--out", run)
    assert proc.returncode == 2
    assert "is damaged" in one_error_line(proc)
    assert snapshot(run) == before


# -- 5. numbers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--timeout", "1e400"),
        ("--timeout", "-1"),
        ("--max-time", "nan"),
        ("--max-time", "0"),
        ("--slow-budget", "inf"),
        ("--slow-budget", "nan"),
        ("--min-rounds", "0"),
        ("--min-rounds", "2.5"),
        ("--max-memory", "nanGB"),
        ("--max-memory", "infMB"),
        ("--threads", "nan"),
        ("--size", "inf"),
        ("--tag", "a/b"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused_before_anything_is_written(finished, tmp_path, flag, value):
    run = copy_of(finished, tmp_path)
    before = snapshot(run)
    proc = bench_run("--resume", "--out", run, "--problem", "linear_regression", f"{flag}={value}")
    assert proc.returncode == 2
    assert flag.lstrip("-").split("-")[0] in one_error_line(proc) or "size" in proc.stderr
    assert snapshot(run) == before


# -- 6. a worker that dies early ------------------------------------------------------------------------------------


def test_cells_of_a_worker_that_died_early_are_retried_once_on_resume(tmp_path):
    out, flag = tmp_path / "run", tmp_path / "deaths"
    env = {"BENCH_PLUGINS": "tests.fault_early", "FAULT_EARLY_FLAG": str(flag)}
    args = [*SMALL, "--kind", "gradient,objective", "--backend", "numpy", "--out", out]
    first = bench_run(*args, env=env)
    assert first.returncode == EXIT_CELLS_NOT_OK, first.stdout + first.stderr
    frame = results.load(out)
    assert set(frame["status"]) == {"not_run"} and len(frame) == 2
    assert frame["reason"].str.contains("SIGKILL").all()

    again = bench_run("--resume", "--out", out, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 that could not run before are tried again" in again.stdout
    frame = results.load(out)
    assert set(frame["status"]) == {"ok"} and set(frame["attempts"]) == {2}
    assert frame["previous"].str.startswith("not_run: worker process died with SIGKILL").all()


def test_a_cell_that_cannot_run_twice_is_not_retried_forever(tmp_path):
    out, flag = tmp_path / "run", tmp_path / "deaths"
    env = {"BENCH_PLUGINS": "tests.fault_early", "FAULT_EARLY_FLAG": str(flag), "FAULT_EARLY_DEATHS": "5"}
    args = [*SMALL, "--kind", "objective", "--backend", "numpy", "--out", out]
    assert bench_run(*args, env=env).returncode == EXIT_CELLS_NOT_OK
    assert bench_run("--resume", "--out", out, env=env).returncode == EXIT_CELLS_NOT_OK
    third = bench_run("--resume", "--out", out, env=env)
    assert third.returncode == EXIT_CELLS_NOT_OK and "1 of 1 cells already done" in third.stdout
    assert len(flag.read_text().splitlines()) == 2  # tried twice, then left alone
    assert results.load(out)["attempts"].tolist() == [2]


# -- 7. a full disk ----------------------------------------------------------------------------------------------------


def assert_nothing_half_written(run: Path) -> None:
    for path in run.rglob("*"):
        assert not path.name.endswith(".tmp"), f"left behind: {path}"
    for path in (run / results.CELLS).glob("*.json"):
        assert results.read_record(path)[0] is not None, f"half-written record {path}"
    for path in run.glob("*.json"):
        json.loads(path.read_text())  # plan, env, pytest-benchmark's and the article's JSON: whole or absent
    if (run / results.CSV).exists():
        results.load(run / results.CSV)


@pytest.mark.parametrize("writes", [2, 6, 12, 20])
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing_half_written(tmp_path, writes):
    out = tmp_path / "run"
    proc = bench_run(
        *SMALL,
        "--out",
        out,
        env={
            "BENCH_PLUGINS": "tests.fault_disk",
            "FAULT_DISK_WRITES": str(writes),
            "FAULT_DISK_COUNT": str(tmp_path / "writes"),
        },
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert line.startswith("error: No space left on device: ") and str(out) in line
    assert_nothing_half_written(out)


def test_a_real_full_filesystem(tmp_path):
    """A 64 KiB tmpfs: too small for the run; whatever fails, it fails in one line with nothing half-written."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip()}); the injected full disk above covers it")
    try:
        proc = bench_run(*SMALL, "--out", mount / "run")
        assert proc.returncode in (0, 3, 4), proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
        if proc.returncode == 4:
            assert one_error_line(proc).startswith("error: No space left on device: ")
        assert_nothing_half_written(mount / "run")
    finally:
        subprocess.run(["umount", str(mount)], check=False)
