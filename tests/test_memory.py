"""The memory a cell adds: its own peak above the worker's, short peaks included."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from bench.report.tables import _memory
from bench.runner.worker import MemorySampler

MB = 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the resettable high-water mark is Linux's")
def test_a_peak_shorter_than_any_sampling_interval_is_kept():
    # a 2-second sampling interval: only the kernel's high-water mark can see the peak
    with MemorySampler(interval=2.0) as memory:
        big = np.ones(200 * MB // 8)  # 200 MB written, so resident
        del big
    assert memory.exact
    assert memory.peak - memory.base >= 150 * MB


def test_a_block_that_allocates_nothing_adds_little():
    with MemorySampler() as memory:
        sum(range(1000))
    assert memory.base <= memory.peak < memory.base + 20 * MB


def test_the_summary_shows_the_memory_added_not_the_runtime():
    row = SimpleNamespace(peak_mem_mb=1100.0, base_mem_mb=1087.5)
    assert _memory(row).text == "12.5"  # peak minus base, not the 1100 MB of the worker's runtime
    assert _memory(SimpleNamespace(peak_mem_mb=1090.0, base_mem_mb=1090.5)).text == "0.0"  # never below zero
    unknown = SimpleNamespace(peak_mem_mb=float("nan"), base_mem_mb=None)
    assert _memory(unknown).text == ""
    no_base = SimpleNamespace(peak_mem_mb=1100.0, base_mem_mb=None)
    assert _memory(no_base).text == ""


def test_older_tables_and_records_with_cell_mem_mb_still_load_and_show_peak_minus_base(tmp_path):
    import pandas as pd

    from bench import results

    fields = dict(
        problem="quadratic", size="small", n=10, n_params=10, backend="numpy", mode="eager", label="numpy",
        dtype="float64", device="cpu", threads=1, kind="gradient", status="ok", median=1e-5, iqr=1e-7, min=9e-6,
        mean=1e-5, stddev=1e-7, rounds=10, first_call=1e-4, peak_mem_mb=1100.0, base_mem_mb=1087.5,
        version="2", machine="m", run="r",
    )  # fmt: skip
    record = {**results.record(cell="c", **fields), "cell_mem_mb": 12.5}  # as a worker wrote it before
    results.write_json(tmp_path / "r" / results.CELLS / "c.json", record)
    results.load(tmp_path / "r")  # writes results.csv
    table = pd.read_csv(tmp_path / "r" / results.CSV)
    table.insert(list(table.columns).index("base_mem_mb") + 1, "cell_mem_mb", 12.5)  # where older tables had it
    table.to_csv(tmp_path / "older.csv", index=False)
    for frame in (results.load(tmp_path / "r", write_csv=False), results.load(tmp_path / "older.csv")):
        assert list(frame.columns) == list(results.ALL_COLUMNS) and "cell_mem_mb" not in frame.columns
        (row,) = frame.itertuples()
        assert _memory(row).text == "12.5"
    with pytest.raises(KeyError):
        results.record(cell_mem_mb=12.5)  # a new record cannot hold it
