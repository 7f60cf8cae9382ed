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
    assert memory.added >= 150 * MB
    assert memory.peak >= memory.base + 150 * MB


def test_a_block_that_allocates_nothing_adds_little():
    with MemorySampler() as memory:
        sum(range(1000))
    assert 0 <= memory.added < 20 * MB
    assert memory.peak >= memory.base


def test_the_summary_shows_the_memory_added_not_the_runtime():
    row = SimpleNamespace(cell_mem_mb=12.5, peak_mem_mb=1100.0, base_mem_mb=1087.5)
    assert _memory(row).text == "12.5"
    older = SimpleNamespace(cell_mem_mb=float("nan"), peak_mem_mb=1100.0, base_mem_mb=1090.0)
    assert _memory(older).text == "10.0"  # records without the column: peak minus base
    unknown = SimpleNamespace(cell_mem_mb=None, peak_mem_mb=float("nan"), base_mem_mb=None)
    assert _memory(unknown).text == ""
    no_peak = SimpleNamespace(cell_mem_mb=None, peak_mem_mb=float("nan"), base_mem_mb=1090.0)
    assert _memory(no_peak).text == ""
