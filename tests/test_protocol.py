"""Protocol conformance, import hygiene and clear errors for missing backends."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import backends
import problems
from backends.base import Backend, DeviceUnavailable, Differentiable


def test_backend_conforms_to_protocol(backend):
    assert isinstance(backend, Backend)
    info = backends.REGISTRY[backend.name]
    assert backend.framework == info.framework and backend.info is info
    assert backend.variant is info.variant("eager") and not backend.variant.compiled
    assert backend.version()
    assert "cpu" in backend.devices()


@pytest.mark.parametrize("dtype", backends.DTYPES)
def test_conversion_round_trip_keeps_values_and_dtype(backend, dtype):
    a = np.array([[1.5, -2.0], [3.25, 4.0]])
    x = backend.asarray(a, dtype)
    back = backend.to_numpy(backend.block(x))
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, a.astype(dtype))


def test_unknown_device_is_refused_or_used(backend):
    if "gpu" in backend.devices():
        backend.use_device("gpu")
        assert backend.device() == "gpu"
        backend.use_device("cpu")
    else:
        with pytest.raises(DeviceUnavailable, match="gpu|GPU|CUDA|CPU"):
            backend.use_device("gpu")
    assert backend.device() == "cpu"


def test_iterate_runs_n_steps(backend_mode):
    backend, mode = backend_mode
    run = backend.iterate(lambda s, d: (s[0] + d["one"],), 7)
    out = run((backend.asarray([0.0], "float64"),), {"one": backend.asarray([1.0], "float64")})
    assert backend.to_numpy(out[0])[0] == 7.0


def test_numpy_backend_uses_the_hand_derivative_and_says_when_there_is_none():
    b = backends.get("numpy")
    f = Differentiable(lambda xp, p, d: xp.sum(p[0] ** 2), value_and_grad=lambda p, d: (0.0, (2 * p[0],)))
    _, (g,) = b.value_and_grad(f)((np.array([3.0]),), {})
    assert g[0] == 6.0
    with pytest.raises(NotImplementedError, match="no hand-derived hessian"):
        b.hessian(f)
    assert b.compile(len) is len and not b.can_compile and not backends.info("numpy").can_compile


def test_no_problem_asks_which_backend_it_runs_on():
    import inspect

    for problem in problems.all_problems():
        source = inspect.getsource(sys.modules[type(problem).__module__])
        for needle in ("backend.name", ".name ==", "import jax", "import torch", "import tensorflow"):
            assert needle not in source, f"{problem.name} mentions {needle!r}"


def test_importing_the_packages_imports_no_framework():
    code = (
        "import sys, backends, problems, bench, bench.cells, bench.check, bench.cli, bench.listing, bench.results;"
        "import bench.runner.command, bench.runner.plan, bench.runner.folder, bench.runner.supervise;"
        "import problems.finite_difference, problems.newton, problems.kmeans, problems.xor_net;"
        "[backends.installed(n) for n in backends.NAMES]; [p.kinds() for p in problems.all_problems()];"
        "loaded = [m for m in ('jax', 'torch', 'tensorflow') if m in sys.modules];"
        "print(','.join(loaded)); sys.exit(1 if loaded else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"frameworks imported: {proc.stdout.strip()} {proc.stderr[-500:]}"


def test_missing_backend_is_one_line_and_the_others_still_run(monkeypatch, capsys):
    from bench.__main__ import main

    real = backends.installed
    monkeypatch.setattr(backends, "installed", lambda name: False if name == "tensorflow" else real(name))
    for key in [k for k in backends._cache if k[0] == "tensorflow"]:
        monkeypatch.delitem(backends._cache, key)
    with pytest.raises(
        backends.BackendUnavailable, match="^backend 'tensorflow' is unavailable: tensorflow is not installed"
    ):
        backends.get("tensorflow")
    status = main(["check", "--problem", "quadratic", "--kind", "gradient", "--mode", "eager", "--dtype", "float64"])
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [backends.unavailable_reason("tensorflow")]
    assert status == 0
    assert "not checked (unavailable): tensorflow" in out
    assert "quadratic" in out and "numpy" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "theano"], "unknown backend 'theano'; choose from numpy, jax, torch, tensorflow"),
        (["--problem", "svm"], "unknown problem 'svm'; choose from finite_difference, quadratic"),
        (["--dtype", "float16"], "unknown dtype 'float16'; did you mean 'float64'? choose from float64, float32"),
        (
            ["--mode", "fast"],
            "unknown mode 'fast'; choose from eager, compiled, witness, autograd, compile, func, function, hand, jit, "
            "tape, xla",
        ),
        (["--kind", "laplacian"], "unknown kind 'laplacian'; choose from objective, gradient"),
        (["--size", "-3", "--problem", "quadratic"], "size -3 for quadratic must be a positive integer"),
        (["--size", "huge", "--problem", "quadratic"], "unknown size 'huge' for quadratic; use one of article, small"),
        (["--json", "/nonexistent/dir/x.json"], "cannot write /nonexistent/dir/x.json"),
    ],
)
def test_check_bad_input_is_one_line_and_exit_2(argv, message):
    proc = subprocess.run([sys.executable, "-m", "bench", "check", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
