"""``python -m bench run --scheduler local:2``: the worker groups on a Dask LocalCluster of two worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bench import results

from .support import FAULT_PLUGINS, REPO, SLOW_RUN, bench_cli

pytest.importorskip("distributed", reason="the cluster extra (dask[distributed]) is part of [dev]")

#: the slow plugin backend (each cell sleeps a little) on two problems at the article size
SLOW = [*SLOW_RUN, "--problem", "quadratic"]
PLAN = ["--backend", "numpy", "--backend", "article", *SLOW]
#: the cells PLAN names: two problems at the article size, the default kinds (no jvp, vjp), numpy and the slow
#: plugin backend, the article's own solve
CELLS = 21


def bench(*args, timeout=600):
    return bench_cli("run", *args, env=FAULT_PLUGINS, timeout=timeout)


def test_a_cluster_run_measures_the_same_cells_as_a_local_run(tmp_path):
    local = bench(*PLAN, "--out", tmp_path / "local")
    assert local.returncode == 0, local.stdout + local.stderr
    spread = bench(*PLAN, "--out", tmp_path / "cluster", "--scheduler", "local:2")
    assert spread.returncode == 0, spread.stdout + spread.stderr
    a, b = results.load(tmp_path / "local"), results.load(tmp_path / "cluster")
    assert sorted(a["cell"]) == sorted(b["cell"]) and len(b) == CELLS
    assert set(b["status"]) == {"ok"} and b["machine"].notna().all()
    env = json.loads((tmp_path / "cluster" / "env.json").read_text())
    assert env["cluster"]["received"] == CELLS and env["cluster"]["repeated"] == 0
    assert sum(env["cluster"]["cells_per_machine"].values()) == CELLS
    assert all("cpu" in m for m in env["machines"].values())
    assert list((tmp_path / "cluster" / "logs").glob("*-slow-cpu-t1.log"))


def _group_worker(runner: psutil.Process, backend: str) -> psutil.Process | None:
    """The Dask worker process running ``backend``'s group: the parent of its pytest worker."""
    for proc in runner.children(recursive=True):
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if "bench.runner.launch" in cmd and any(f"{backend}-cpu-t1" in part for part in proc.environ().values()):
            return proc.parent()
    return None


def test_a_worker_killed_mid_run_loses_no_finished_cell_and_repeats_none(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench", "run", *SLOW, "--scheduler", "local:2", "--out", str(out)]
    runner = subprocess.Popen(
        cmd, cwd=REPO, env={**os.environ, **FAULT_PLUGINS}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        end = time.monotonic() + 300
        while len(list((out / results.CELLS).glob("*.json"))) < 3 and time.monotonic() < end:
            time.sleep(0.1)
        finished_before = {p.name: p.read_bytes() for p in (out / results.CELLS).glob("*.json")}
        assert len(finished_before) >= 3, "the cluster run never recorded three cells"
        victim = _group_worker(psutil.Process(runner.pid), "slow")
        assert victim is not None, "no Dask worker is running the slow group"
        os.kill(victim.pid, signal.SIGKILL)
        stdout, stderr = runner.communicate(timeout=600)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, stdout + stderr
    after = {p.name: p.read_bytes() for p in (out / results.CELLS).glob("*.json")}
    for name, data in finished_before.items():
        assert after[name] == data  # kept, not measured again
    frame = results.load(out)
    assert len(frame) == 10 and frame["cell"].is_unique and set(frame["status"]) == {"ok"}  # 2 problems x 5 kinds
    env = json.loads((out / "env.json").read_text())
    assert env["cluster"]["repeated"] == 0 and env["cluster"]["received"] == 10
    assert "measured again" not in stdout


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    proc = bench(
        "--backend",
        "numpy",
        "--problem",
        "quadratic",
        "--size",
        "article",
        "--out",
        tmp_path / "run",
        "--scheduler",
        "tcp://127.0.0.1:9",
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("address", ["local:0", "local:x", "nowhere"])
def test_a_malformed_address_is_one_line(tmp_path, address):
    proc = bench("--backend", "numpy", "--out", tmp_path / "run", "--scheduler", address, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "--scheduler" in proc.stderr
