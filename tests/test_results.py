"""bench.results: atomic records, the tidy table, CSV round trip, corrupt files skipped."""

from __future__ import annotations

import json
import math

import pytest

from bench import results


def rec(cell, kind="gradient", status="ok", median=2e-3, label="numpy", **extra):
    fields = {
        "cell": cell,
        "problem": "linear_regression",
        "size": "small",
        "n": 1000,
        "n_params": 10,
        "backend": label,
        "mode": "eager",
        "label": label,
        "dtype": "float64",
        "device": "cpu",
        "threads": 2,
        "kind": kind,
        "status": status,
        "median": median,
        "iqr": 1e-4,
        "min": median * 0.9,
        "mean": median,
        "stddev": 1e-4,
        "rounds": 50,
        "first_call": 0.5,
        "peak_mem_mb": 100.0,
        "version": "1",
        "machine": "m",
        "run": "r",
        **extra,
    }
    return results.record(**fields)


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "r"
    results.save(folder, "obj", rec("obj", kind="objective", median=1e-3))
    results.save(folder, "grad", rec("grad", kind="gradient", median=3e-3))
    return folder


def test_load_gives_one_tidy_row_per_cell_with_the_ratio(run):
    frame = results.load(run)
    assert list(frame.columns[: len(results.COLUMNS)]) == list(results.COLUMNS)
    assert len(frame) == 2
    grad = frame[frame["kind"] == "gradient"].iloc[0]
    assert grad["ratio"] == pytest.approx(3.0)
    assert frame[frame["kind"] == "objective"].iloc[0]["ratio"] == pytest.approx(1.0)


def test_csv_is_written_and_reads_back(run):
    frame = results.load(run)
    assert (run / results.CSV).is_file()
    again = results.load(run / results.CSV)
    assert list(again.columns) == list(frame.columns)
    assert list(again["cell"]) == list(frame["cell"])
    assert again["median"].tolist() == pytest.approx(frame["median"].tolist())
    assert again["ratio"].tolist() == pytest.approx(frame["ratio"].tolist())


def test_corrupt_truncated_and_foreign_files_are_skipped_with_one_line_each(run, capsys):
    good = (run / "cells" / "grad.json").read_text()
    (run / "cells" / "truncated.json").write_text(good[: len(good) // 2])
    (run / "cells" / "foreign.json").write_text(json.dumps({"hello": "world"}))
    (run / "cells" / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (run / "cells" / "status.json").write_text(json.dumps({**json.loads(good), "status": "splendid"}))
    frame = results.load(run)
    assert sorted(frame["cell"]) == ["grad", "obj"]
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4
    for name in ("truncated.json", "foreign.json", "binary.json", "status.json"):
        assert sum(name in line for line in lines) == 1


def test_timings_of_bad_cells_are_never_used(tmp_path):
    folder = tmp_path / "r"
    results.save(folder, "obj", rec("obj", kind="objective", median=1e-3))
    results.save(folder, "nan", rec("nan", status="nan", median=5.0, reason="gradient output: NaN"))
    frame = results.load(folder)
    bad = frame[frame["status"] == "nan"].iloc[0]
    assert math.isnan(bad["median"]) and math.isnan(bad["ratio"])


def test_records_refuse_unknown_columns():
    with pytest.raises(KeyError):
        results.record(speed="fast")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "x.json"
    results.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        results.write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_non_finite_numbers_are_stored_as_null(tmp_path):
    results.save(tmp_path, "c", rec("c", median=float("inf")))
    assert json.loads((tmp_path / "cells" / "c.json").read_text())["median"] is None


def test_load_of_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError):
        results.load(tmp_path / "nothing")


def test_recorded_lists_ids_without_reading(run):
    assert results.recorded(run) == {"obj", "grad"}
    assert set(results.scan(run)[0]) == {"obj", "grad"}


def test_the_run_summary_never_crowns_a_witness():
    """The witnesses are an expert's code outside the protocol: the fastest row is always one of ours."""
    import pandas as pd

    from bench.runner.summary import summary_rows

    rows = [
        {
            "problem": "kmeans",
            "size": "small",
            "n": 1000,
            "dtype": "float64",
            "kind": "gradient",
            "status": "ok",
            "backend": backend,
            "variant": variant,
            "label": label,
            "median": median,
            "ratio": 2.0,
            "first_call": median,
        }
        for backend, variant, label, median in [
            ("numpy", "hand", "numpy", 3e-4),
            ("jax", "jit", "jax+jit", 2e-4),
            ("jax", "witness", "jax+witness", 1e-4),
        ]
    ]
    frame = results.typed(pd.DataFrame(rows))
    (summary,) = summary_rows(frame)
    assert summary["fastest"] == "jax+jit"
    assert summary["vs_numpy"] == pytest.approx(1.5)


def test_clean_makes_nested_values_json_safe():
    import numpy as np

    value = {"a": [1.0, float("nan"), (np.float64(np.inf), np.int64(3))], "b": np.array([0.5, np.nan]), "c": "x"}
    assert results.clean(value) == {"a": [1.0, None, [None, 3]], "b": [0.5, None], "c": "x"}
    json.dumps(results.clean(value), allow_nan=False)
