"""The markers every test carries, set at collection by one rule, and the checks that keep the rule honest.

- ``framework``: the test runs JAX, PyTorch or TensorFlow in this process. It takes the ``backend`` or
  ``backend_mode`` fixture (parametrized over every backend), or its code, followed through the
  helpers and fixtures of the test modules it uses, imports a framework, loads a backend
  (``require``, ``backends.get``, ``bench.cells.build``, ``bench.check``'s references and cells) or
  runs ``bench check`` in this process.
- ``unit``: every other test.
- ``slow``: the test starts a Python process: ``bench_cli``, the ``subprocess`` module,
  ``sys.executable``, ``bench run``/``selftest`` in this process (their workers are processes) or a
  ``bench`` command the code cannot name; a call that passes ``--list`` plans and starts nothing. Or
  it draws a report or a history page (``write_report``, ``write_history``, ``bench report``,
  ``bench history``). Or it is named in ``MEASURED_SLOW``, measured with ``pytest --durations``.

A test's own ``@pytest.mark.slow`` or ``framework`` is kept; the rule only adds.

``nox -s tests_fast`` runs ``-m "unit and not slow"``. Two checks, while a test sets up and runs,
catch what the rule misreads the first time the test runs in that loop: a ``unit`` test that imports
a framework fails, and so does a ``unit`` test not marked ``slow`` that starts a Python process.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import backends
import bench.__main__
import bench.cells
import bench.check

from . import bench_cli, require

FRAMEWORKS = ("jax", "jaxlib", "torch", "tensorflow")
FIRST_PARTY = ("tests", "bench", "backends", "problems", "witnesses")
#: the fixtures parametrized over every backend (tests/conftest.py)
BACKEND_FIXTURES = frozenset({"backend", "backend_mode"})
#: what loads a backend's framework in this process
FRAMEWORK_CALLS = (require, backends.get, bench.cells.build, bench.check.check_cell, bench.check.references)
#: ``python -m bench`` commands that start processes when run in this one (``run``'s workers, ``selftest``'s runs,
#: ``list``'s imports of each framework)
PROCESS_COMMANDS = frozenset({"run", "selftest", "gradbench", "list"})
#: ``python -m bench`` commands that load the frameworks in this process
FRAMEWORK_COMMANDS = frozenset({"check"})
#: ``python -m bench`` commands, and the functions behind them, that draw every chart they are asked for with
#: matplotlib: seconds each (a whole report: 10 to 30 s on two cores)
DRAWING_COMMANDS = frozenset({"report", "history"})
DRAWING_CALLS = frozenset({"bench.report.write_report", "bench.history.write_history"})
#: tests that start no process, load no framework and draw nothing, yet take seconds: node id without its
#: parameters -> seconds of the slowest parameter (pytest --durations, two cores shared with other work)
MEASURED_SLOW: dict[str, float] = {
    "tests/test_cluster_trust.py::test_generated_hostile_records_leave_only_valid_records_of_cells_asked_for": 5.3,
    "tests/test_gradbench_nested.py::test_the_reference_meets_gradbench_fixed_answer": 3.1,
    "tests/test_cluster_trust.py::test_generated_hostile_answers_write_only_expected_names_inside_the_run_folder": 3.0,
    "tests/test_stats.py::test_the_median_interval_covers_the_true_median_at_its_confidence": 2.5,
    "tests/test_gradbench_nested.py::test_another_start_is_checked_against_the_reference": 2.2,
    "tests/test_untrusted_plans.py::test_a_table_cut_anywhere_keeps_only_whole_rows": 1.6,
}

#: what starts a process in the ``subprocess`` module (its constants, exceptions and results do not)
STARTERS = ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput")

PROCESS, FRAMEWORK, DRAWS = "process", "framework", "draws"


def _first_party(obj: Any) -> bool:
    """A function or class of the test suite (``tests.*``, a ``test_*`` module, a conftest): its code is read too."""
    module = getattr(obj, "__module__", "") or ""
    leaf = module.rsplit(".", 1)[-1]
    if module == __name__:  # this rule's own code names everything it looks for
        return False
    return (inspect.isfunction(obj) or inspect.isclass(obj)) and (
        module.split(".")[0] == "tests" or leaf.startswith(("test_", "conftest"))
    )


def _source_tree(func: Callable) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return None


class _Reader:
    """The facts (``process``, ``framework``) a function's code reaches, through the test modules' helpers."""

    def __init__(self) -> None:
        self.cache: dict[Callable, frozenset[str]] = {}

    def facts(self, func: Callable) -> frozenset[str]:
        func = getattr(getattr(func, "hypothesis", None), "inner_test", None) or inspect.unwrap(func)
        if func in self.cache:
            return self.cache[func]
        self.cache[func] = frozenset()  # a recursive helper reaches nothing new through itself
        tree = _source_tree(func)
        found: set[str] = set()
        if tree is not None:
            names = {**getattr(func, "__globals__", {}), **_local_imports(tree, found)}
            found |= self._walk(tree, names)
        self.cache[func] = frozenset(found)
        return self.cache[func]

    def _walk(self, tree: ast.AST, names: dict[str, Any]) -> set[str]:
        found: set[str] = set()
        callees: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callees.add(id(node.func))
                found |= self._call(node, _resolve(node.func, names))
            if isinstance(node, ast.Attribute):  # read as a whole: subprocess.PIPE is not subprocess.run
                callees.add(id(node.value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute) and id(node) not in callees:
                found |= self._reference(node, _resolve(node, names))
        return found

    def _call(self, call: ast.Call, callee: Any) -> set[str]:
        words = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if callee is bench.__main__.main:
            command = _command(call)
            if command is None:  # the arguments are computed: any command, processes included
                return {PROCESS}
            return (
                ({PROCESS} if command in PROCESS_COMMANDS and "--list" not in _list_words(call) else set())
                | ({FRAMEWORK} if command in FRAMEWORK_COMMANDS else set())
                | ({DRAWS} if command in DRAWING_COMMANDS else set())
            )
        found = self._reference(call.func, callee)
        if "--list" in words:  # a planning call: it starts nothing
            found.discard(PROCESS)
        return found

    def _reference(self, node: ast.AST, obj: Any) -> set[str]:
        if _dotted(node) == "sys.executable":
            return {PROCESS}
        if obj is None:
            return set()
        if inspect.ismodule(obj):
            top = obj.__name__.split(".")[0]
            return {FRAMEWORK} if top in FRAMEWORKS else {PROCESS} if top == "subprocess" else set()
        if obj is bench_cli or any(obj is getattr(subprocess, name) for name in STARTERS):
            return {PROCESS}
        if any(obj is f for f in FRAMEWORK_CALLS):
            return {FRAMEWORK}
        if f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}" in DRAWING_CALLS:
            return {DRAWS}
        if obj is bench.__main__.main:  # passed along rather than called: any command
            return {PROCESS}
        if inspect.isclass(obj) and _first_party(obj):  # a helper class: what any of its methods reaches
            return set().union(*(self.facts(f) for f in vars(obj).values() if inspect.isfunction(f)))
        return set(self.facts(obj)) if _first_party(obj) else set()


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _resolve(node: ast.AST, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        return getattr(base, node.attr, None) if inspect.ismodule(base) else None
    return None


def _local_imports(tree: ast.AST, found: set[str]) -> dict[str, Any]:
    """The names a function imports in its body; a framework import is a fact, never imported here."""
    names: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and getattr(node, "level", 0) == 0:
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                if full.split(".")[0] in FRAMEWORKS:
                    found.add(FRAMEWORK)
                    continue
                names[alias.asname or alias.name.split(".")[0]] = _import(module, alias.name, alias.asname is not None)
    return names


def _import(module: str | None, name: str, as_name: bool = False) -> Any:
    """What an import in a function's body names; only the project's modules and those already loaded are
    imported here, so that collection never pays for a heavy import (Dask's) the test itself may never run."""
    top = (module or name).split(".")[0]
    if top not in sys.modules and top not in FIRST_PARTY:
        return None
    try:
        if module is None:  # import a.b binds a; import a.b as c binds a.b
            return importlib.import_module(name if as_name else name.split(".")[0])
        base = importlib.import_module(module)
        return getattr(base, name, None) or importlib.import_module(f"{module}.{name}")
    except ImportError:
        return None


def _list_words(call: ast.Call) -> list[str]:
    first = call.args[0] if call.args else None
    items = first.elts if isinstance(first, ast.List | ast.Tuple) else []
    return [e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def _command(call: ast.Call) -> str | None:
    """The ``bench`` command a ``main([...])`` call names, or None when the code computes it."""
    first = call.args[0] if call.args else None
    if isinstance(first, ast.List | ast.Tuple) and first.elts and isinstance(first.elts[0], ast.Constant):
        return str(first.elts[0].value)
    return None


_READER = _Reader()


def facts(item: pytest.Item) -> frozenset[str]:
    """What ``item`` does, read from its code and the code of the fixtures it uses."""
    found = set(_READER.facts(item.obj)) if isinstance(item, pytest.Function) else set()
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        if name in BACKEND_FIXTURES:
            found.add(FRAMEWORK)
        for fixture in (info.name2fixturedefs.get(name, ()) if info else ())[-1:]:
            if _first_party(fixture.func):
                found |= _READER.facts(fixture.func)
    return frozenset(found)


def classify(item: pytest.Item) -> set[str]:
    """The markers the rule gives ``item``, its own markers included."""
    own = {m.name for m in item.iter_markers()}
    found = facts(item)
    marks = {"framework"} if FRAMEWORK in found or "framework" in own else {"unit"}
    if found & {PROCESS, DRAWS} or "slow" in own or item.nodeid.split("[")[0] in MEASURED_SLOW:
        marks.add("slow")
    return marks


def apply(items: list[pytest.Item]) -> None:
    """``pytest_collection_modifyitems``: every item gets ``unit`` or ``framework``, and ``slow`` by the rule."""
    for item in items:
        own = {m.name for m in item.iter_markers()}
        for name in sorted(classify(item) - own):
            item.add_marker(name)


# -- the checks --------------------------------------------------------------------------------------------


def _is_python(argv: Any) -> bool:
    """Whether a ``Popen`` argument list (or command string) starts a Python interpreter."""
    if isinstance(argv, str | bytes | os.PathLike):
        words = os.fsdecode(argv).split()[:1]
    else:
        words = [os.fsdecode(w) for w in list(argv)[:1]]
    first = words[0] if words else ""
    return first == sys.executable or os.path.basename(first).startswith("python")


def problem(marks: set[str], imported: list[str], started: list[Any]) -> str | None:
    """Why a test with ``marks`` that imported the frameworks ``imported`` and started the Python
    processes ``started`` is misread by the rule, or None."""
    if "unit" in marks and imported:
        return (
            f"marked unit, but it imported {imported[0]}: tests/support/markers.py should read it as framework "
            "(add what loads the framework to FRAMEWORK_CALLS, or mark the test @pytest.mark.framework)"
        )
    # a framework test may start one inside its framework (torch.compile probes its compiler so)
    if "unit" in marks and "slow" not in marks and started:
        first = started[0]
        command = str(first) if isinstance(first, str | bytes | os.PathLike) else " ".join(map(str, first))
        return (
            f"not marked slow, but it started a Python process ({command[:120]}): "
            "tests/support/markers.py should read it as slow (or mark the test @pytest.mark.slow)"
        )
    return None


@contextmanager
def watched(item: pytest.Item) -> Iterator[None]:
    """Fail ``item`` if it does what its markers say it does not (see the module's docstring)."""
    absent = [f for f in FRAMEWORKS if f not in sys.modules]
    started: list[Any] = []
    original = subprocess.Popen.__init__

    def spy(self, args, *rest, **kwargs):
        if _is_python(args):
            started.append(args)
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = spy  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]
    why = problem({m.name for m in item.iter_markers()}, [f for f in absent if f in sys.modules], started)
    if why:
        pytest.fail(why, pytrace=False)
