"""A worker stuck before its first cell: its cells were never reached, so --resume tries them again."""

from __future__ import annotations

from bench import results
from bench.__main__ import main
from bench.runner import retry, supervise

PLAN = ["--backend", "numpy", "--problem", "linear_regression", "--size", "article", "--kind", "objective"]
FAST = ["--threads", "1", "--max-time", "0.005", "--min-rounds", "2", "--repeat", "none", "--timeout", "1"]


def test_a_worker_that_starts_no_cell_leaves_its_cells_not_run_and_resume_runs_them(tmp_path, monkeypatch):
    out, flag = tmp_path / "run", tmp_path / "hangs"
    monkeypatch.setattr(supervise, "STARTUP_ALLOWANCE", 3.0)  # the runner's patience, shortened in this process
    monkeypatch.setenv("BENCH_PLUGINS", "tests.fault_early")
    monkeypatch.setenv("FAULT_EARLY_FLAG", str(flag))
    monkeypatch.setenv("FAULT_EARLY_MODE", "hang")  # the first worker sleeps at import, the next one works

    assert main(["run", *PLAN, *FAST, "--out", str(out)]) != 0
    (rec,) = results.load(out).to_dict("records")
    assert rec["status"] == "not_run", rec  # not the cell's timeout: the cell never started
    assert "started no cell within 3 s" in rec["reason"]
    assert retry.again(rec)

    assert main(["run", "--resume", "--out", str(out)]) == 0
    (rec,) = results.load(out).to_dict("records")
    assert rec["status"] == "ok" and rec["attempts"] == 2
    assert len(flag.read_text().splitlines()) == 1  # one hang, then a worker that ran the cell
