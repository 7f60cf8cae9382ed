"""The markers rule (tests/support/markers.py): what it reads in a test's code, where a new test
file lands (``unit``, ``framework``, ``slow``), and the checks that fail a test the rule misreads."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from bench import report
from bench.__main__ import main

from .support import REPO, bench_cli, markers, require

pytest_plugins = ("pytester",)

PROCESS, FRAMEWORK, DRAWS = markers.PROCESS, markers.FRAMEWORK, markers.DRAWS

# The functions the reader is shown. Never called: the reader only reads their code. The tests take
# them as parameters, so that these tests' own code names none of them and stays ``unit``.


def _starts():
    return bench_cli("--version")


def _through_a_helper():
    return _starts()


def _loads():
    return require("jax")


def _imports_torch():
    import torch  # noqa: F401
    from jax import numpy  # noqa: F401


def _runs():
    return main(["run", "--backend", "numpy"])


def _plans():
    return main(["run", "--backend", "numpy", "--list"])


def _runner(*args):
    return main(["run", *args])


def _plans_through_a_helper():
    return _runner("--backend", "numpy", "--list")


def _checks():
    return main(["check", "--problem", "quadratic"])


def _reports():
    return main(["report", "results/x"])


def _writes_a_report(run):
    return report.write_report([run], formats=("png",))


def _computed(argv):
    return main(argv)


def _executable():
    return [sys.executable, "-c", "pass"]


def _subprocess():
    return subprocess.run(["git", "status"], check=False)


def _names_a_constant(proc: subprocess.CompletedProcess):
    return proc.returncode == 0 and subprocess.PIPE


def _recursive(n):
    return _recursive(n - 1) + sorted([3, 1]) if n else []


READS = [
    (_starts, {PROCESS}),
    (_through_a_helper, {PROCESS}),
    (_loads, {FRAMEWORK}),
    (_imports_torch, {FRAMEWORK}),
    (_runs, {PROCESS}),
    (_plans, set()),
    (_runner, {PROCESS}),
    (_plans_through_a_helper, set()),
    (_checks, {FRAMEWORK}),
    (_reports, {DRAWS}),
    (_writes_a_report, {DRAWS}),
    (_computed, {PROCESS}),
    (_executable, {PROCESS}),
    (_subprocess, {PROCESS}),
    (_names_a_constant, set()),
    (_recursive, set()),
]


@pytest.mark.parametrize("func, expected", READS, ids=[f.__name__.strip("_") for f, _ in READS])
def test_the_reader_finds_processes_and_frameworks_through_helpers_and_local_imports(func, expected):
    loaded = set(markers.FRAMEWORKS) & set(sys.modules)
    assert markers._Reader().facts(func) == expected
    assert set(markers.FRAMEWORKS) & set(sys.modules) == loaded  # read, never imported


NEW_FILE = """
import subprocess, sys
import pytest
from tests.support import QUICK, bench_cli, require

def helper():
    return bench_cli("run", *QUICK)

@pytest.fixture(scope="module")
def finished():
    return helper()

def test_pure():
    assert sorted([2, 1]) == [1, 2]

def test_cli():
    assert helper().returncode == 0

def test_uses_a_finished_run(finished):
    assert finished

def test_each_backend(backend):
    assert backend

def test_jax():
    assert require("jax")

def test_python():
    subprocess.run([sys.executable, "-c", "pass"])

@pytest.mark.slow
def test_marked_by_hand():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(n):
    assert n
"""


def test_a_new_test_file_lands_in_the_right_set(pytester):
    pytester.makeconftest("from tests.conftest import backend, pytest_collection_modifyitems  # noqa: F401")
    pytester.makepyfile(test_new=NEW_FILE)
    items, _ = pytester.inline_genitems()
    got = {item.name: {m.name for m in item.iter_markers()} & {"unit", "framework", "slow"} for item in items}
    assert got == {
        "test_pure": {"unit"},
        "test_cli": {"unit", "slow"},
        "test_uses_a_finished_run": {"unit", "slow"},
        **{f"test_each_backend[{b}]": {"framework"} for b in markers.backends.NAMES},
        "test_jax": {"framework"},
        "test_python": {"unit", "slow"},
        "test_marked_by_hand": {"unit", "slow"},
        "test_parametrized[1]": {"unit"},
        "test_parametrized[2]": {"unit"},
    }


def test_a_test_the_rule_misreads_fails_and_says_which_marker_it_needs():
    python = ["/usr/bin/python3", "-m", "bench", "run"]
    assert "framework" in markers.problem({"unit"}, ["torch"], [])
    assert "slow" in markers.problem({"unit"}, [], [python])
    assert "slow" in markers.problem({"unit"}, [], ["python3 -c pass"])
    assert markers.problem({"framework"}, [], ["python3 -c pass"]) is None  # torch.compile starts one itself
    assert markers.problem({"framework"}, ["torch"], []) is None
    assert markers.problem({"unit", "slow"}, [], [python]) is None
    assert markers.problem({"unit"}, [], []) is None


def test_only_a_python_interpreter_counts_as_a_process_start():
    assert markers._is_python([sys.executable, "-c", "pass"])
    assert markers._is_python(["/usr/bin/python3.11", "x.py"])
    assert markers._is_python("python -m bench run")
    assert not markers._is_python(["git", "status"])
    assert not markers._is_python([])


def test_the_checks_run_for_a_test_the_rule_misreads(pytester, monkeypatch):
    """A unit test that imports a framework the reader cannot see fails, with the reason (here a
    stand-in framework module, so that nothing real is imported)."""
    pytester.makepyfile(standin_framework="X = 1")
    monkeypatch.setattr(markers, "FRAMEWORKS", ("standin_framework",))
    pytester.makeconftest("from tests.conftest import pytest_collection_modifyitems, pytest_runtest_call  # noqa")
    pytester.makepyfile(
        test_hidden=textwrap.dedent(
            """
            import importlib

            def test_hidden_import():
                assert importlib.import_module("standin_" + "framework").X == 1
            """
        )
    )
    result = pytester.inline_run("-p", "no:cacheprovider")
    (failed,) = result.getfailures()
    assert "marked unit, but it imported standin_framework" in failed.longreprtext


def test_every_measured_slow_test_exists():
    """An entry of MEASURED_SLOW names a test function of a test file (none left behind by a rename)."""
    for node_id in markers.MEASURED_SLOW:
        path, name = node_id.split("::")
        tree = ast.parse((REPO / path).read_text())
        assert name in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}, node_id
