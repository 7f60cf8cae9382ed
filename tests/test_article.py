"""``bench.article``: the seed article's pictures computed by each backend."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import backends
from bench import article

from .support import require


def seed_cost_history(iterations=1000, rate=0.01):
    """The seed's gradient_descent_with_history, from theta = 0 (the problem's start)."""
    x = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    y = np.array([1.0, 2.0, 3.0])
    theta = np.zeros(2)
    history = []
    for _ in range(iterations):
        theta = theta - rate * (1 / 3) * x.T.dot(x.dot(theta) - y)
        history.append((1 / 6) * np.sum(np.square(x.dot(theta) - y)))
    return theta, np.array(history)


@pytest.fixture(scope="module")
def numpy_doc():
    return article.collect("numpy")


def test_cost_history_is_the_articles(numpy_doc):
    pic = numpy_doc["pictures"]["cost_history"]
    _, expected = seed_cost_history()
    assert pic["iterations"] == 1000 and pic["rate"] == 0.01
    np.testing.assert_allclose(pic["history"], expected, rtol=1e-12)
    np.testing.assert_allclose(pic["params"][0], [0.11071521, 0.95129619], atol=1e-8)
    assert pic["initial"] == pytest.approx(14 / 6)


@pytest.mark.parametrize("name", backends.NAMES)
def test_every_backend_draws_the_derivatives_with_its_own_verbs(name):
    require(name)  # skips locally, fails under CI, when the framework is missing
    doc = article.collect(name)
    pic = doc["pictures"]["derivatives"]
    x = np.array(pic["x"])
    np.testing.assert_allclose(pic["df"], 3 * x**2 - 6 * x, atol=1e-10)
    np.testing.assert_allclose(pic["d2f"], 6 * x - 6, atol=1e-10)
    _, expected = seed_cost_history()
    np.testing.assert_allclose(doc["pictures"]["cost_history"]["history"], expected, rtol=1e-9)
    assert doc["backend"] == name and doc["version"]


def test_lr_sweep_shows_converged_slow_and_diverged(numpy_doc):
    if "lr_sweep" not in numpy_doc["pictures"]:
        pytest.fail(f"no learning-rate sweep: {numpy_doc['notes']}")
    records = numpy_doc["pictures"]["lr_sweep"]["records"]
    assert {r["status"] for r in records} == {"converged", "slow", "diverged"}
    for r in records:
        assert r["history"] and all(v is None or math.isfinite(v) for v in r["history"])


def test_fd_steps_have_both_methods_and_best_steps(numpy_doc):
    pic = numpy_doc["pictures"]["fd_steps"]
    methods = {r["method"] for r in pic["records"]}
    assert {"forward", "central"} <= methods
    best = {(b["function"], b["method"]): b for b in pic["best"]}
    for (function, method), b in best.items():
        errors = [
            r["error"]
            for r in pic["records"]
            if r["function"] == function and r["method"] == method and r["h"] is not None
        ]
        assert b["error"] == min(errors)


def test_a_failing_picture_does_not_lose_the_others(monkeypatch):
    def broken(backend, dtype):
        raise FloatingPointError("overflow in the sweep")

    monkeypatch.setitem(article.BUILDERS, "derivatives", broken)
    doc = article.collect("numpy")
    assert "derivatives" not in doc["pictures"]
    assert "derivatives: failed: FloatingPointError: overflow in the sweep" in doc["notes"]
    assert "cost_history" in doc["pictures"]


def test_non_finite_numbers_are_written_as_null():
    assert article.plain({"a": [1.0, float("inf"), np.nan], "b": np.float32(2.5), "c": (np.int64(3),)}) == {
        "a": [1.0, None, None],
        "b": 2.5,
        "c": [3],
    }


def test_write_is_atomic_and_strict_json(tmp_path, numpy_doc):
    path = article.write(tmp_path / "run", numpy_doc)
    assert path.name == "article-numpy.json"
    assert [p.name for p in path.parent.iterdir()] == ["article-numpy.json"]  # no temporary file left
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.runner.pictures", "--backend", "numpy", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "article-numpy.json") in done.stdout
    assert json.loads((tmp_path / "article-numpy.json").read_text())["backend"] == "numpy"


def test_unknown_backend_is_a_one_line_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.runner.pictures", "--backend", "fortran", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unknown backend 'fortran'" in done.stderr
    assert not list(tmp_path.iterdir())
