"""The architecture, checked: layers point one way, no import circle, small modules.

Every ``import`` of the project's own modules is read from the source (module
level and inside functions alike: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("backends", "problems", "witnesses", "bench")
#: lowest first; a module may import its own layer or a lower one
LAYERS = (
    ("backends",),
    ("problems",),
    ("witnesses",),
    (
        "bench",
        "bench.cells",
        "bench.check",
        "bench.agreement",
        "bench.agreement_file",
        "bench.settled_file",
        "bench.solves",
        "bench.results",
        "bench.csv_rows",
        "bench.tax",
        "bench.fmt",
        "bench.cli",
        "bench.listing",
        "bench.article",
        "bench.stats",
        "bench.uncertainty",
        "bench.verdicts",
        "bench.safe_io",
        "bench.environment",
    ),
    ("bench.runner", "bench.report"),
    # a long-running tool process: it runs cells with the runner's thread setting; commands reading many runs
    ("bench.gradbench", "bench.selftest", "bench.settle", "bench.history", "bench.versions"),
    ("bench.__main__",),
)
#: packages of the same layer that must not know each other
SIBLINGS = ("bench.runner", "bench.report")
#: names that stand for themselves only (a package whose subpackages sit in other layers)
EXACT = ("bench",)
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}


MODULES = modules()


def resolve(name: str) -> str | None:
    """The project module an imported name lives in (a symbol's module for ``from m import symbol``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def import_statements(name: str) -> list[tuple[str, bool]]:
    """Every name module ``name`` imports, with whether the import runs at module level: ``from m import s``
    gives the module ``m.s`` where it is one, else ``m``; relative imports made absolute."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found += [(target, id(node) in top) for target in targets]
    return found


def imports(name: str) -> set[str]:
    """The project modules ``name`` depends on."""
    return {hit for target, _ in import_statements(name) if (hit := resolve(target)) and hit != name}


GRAPH = {name: imports(name) for name in MODULES}


def layer(name: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(name == p or (p not in EXACT and name.startswith(p + ".")) for p in prefixes):
            return level
    raise AssertionError(f"{name} belongs to no layer: add it to LAYERS")


def sibling(name: str) -> str | None:
    return next((p for p in SIBLINGS if name == p or name.startswith(p + ".")), None)


def test_every_module_has_a_layer():
    for name in MODULES:
        layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_layer_above_it_or_a_sibling_package(name):
    for target in GRAPH[name]:
        assert layer(target) <= layer(name), f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        own, other = sibling(name), sibling(target)
        assert not (own and other and own != other), f"{name} imports {target}: {own} and {other} are siblings"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (package ``__init__`` re-exports of its own modules excepted), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def edges(node):
        # a package's __init__ importing its own submodules is how a package exposes them, not a circle
        return [t for t in graph[node] if not t.startswith(node + ".")]

    def visit(node) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in edges(node):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, " -> ".join(cycle)


def test_modules_are_small():
    big = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


# --- one declaration per extension point; the report reads columns, never labels -----------------

#: string methods that take a name apart
PARSERS = ("split", "rsplit", "partition", "rpartition", "startswith", "endswith", "removeprefix", "removesuffix")
#: the names a row is shown by (``label``, ``series``): the report reads its columns instead
DISPLAY_NAMES = ("label", "series")
BUILTIN_BACKENDS = ("numpy", "jax", "torch", "tensorflow")
#: literal lists of backend names that remain, each with why it is not a BackendInfo fact (yet)
BACKEND_LISTS_KEPT = {
    "bench.runner.device": "GPU_BUILDS: the frameworks whose CUDA builds README installs",
    "witnesses": "BACKENDS: the backends an expert's witness is written for (its own modules)",
}


def label_parsing(source: str) -> list[str]:
    """Every place ``source`` takes a row's label or series apart: a string method of :data:`PARSERS`
    or a ``re`` function applied to an expression that names one."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        func = node.func
        if func.attr in PARSERS:
            subject = ast.unparse(func.value)
        elif isinstance(func.value, ast.Name) and func.value.id == "re":
            subject = " ".join(ast.unparse(a) for a in node.args[1:2])
        else:
            continue
        if any(word in subject for word in DISPLAY_NAMES):
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def literal_lists(source: str, names, at_least: int = 2) -> list[str]:
    """Every tuple, list, set or dict literal of ``source`` that spells ``at_least`` of ``names`` or more."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        spelled = {i.value for i in items if isinstance(i, ast.Constant)} & set(names)
        if len(spelled) >= at_least:
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_the_rule_finders_find_what_they_look_for():
    assert label_parsing('backend, _, suffix = label.partition("+")')
    assert label_parsing('frame["series"].str.endswith("+witness")')
    assert label_parsing('re.match(r"(\\w+)\\+(\\w+)", row["label"])')
    assert not label_parsing('frame["role"] == "witness"') and not label_parsing('"a-b".split("-")')
    assert literal_lists('ORDER = ("numpy", "jax")', BUILTIN_BACKENDS)
    assert not literal_lists('ORDER = ("numpy",)', BUILTIN_BACKENDS)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("bench.report")))
def test_the_report_reads_columns_never_labels(name):
    found = label_parsing(MODULES[name].read_text())
    assert not found, f"{name} takes a label or series apart (read backend, variant, mode, role): {found}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("backends")))
def test_backend_facts_live_in_their_backend_info(name):
    found = literal_lists(MODULES[name].read_text(), BUILTIN_BACKENDS)
    if name in BACKEND_LISTS_KEPT:
        assert found, f"{name} lists no backends any more: drop it from BACKEND_LISTS_KEPT"
        return
    assert not found, (
        f"{name} lists backends by name (declare it in their BackendInfo, read backends.REGISTRY): {found}"
    )


def test_a_chart_is_one_module_and_one_section():
    from bench.report import sections

    charts_dir = REPO / "bench" / "report" / "charts"
    drawing = {f"bench.report.charts.{p.stem}" for p in charts_dir.glob("*.py") if "\ndef charts(" in p.read_text()}
    named = [s.charts for s in sections.SECTIONS if s.charts]
    assert sorted(named) == sorted(drawing), "every chart module is named by exactly one Section in SECTIONS"
    groups = sections.chart_groups()
    assert len(set(groups)) == len(groups) == len(named)
    for name, path in MODULES.items():
        if name != "bench.report.sections" and name.startswith("bench.report"):
            spelled = literal_lists(path.read_text(), groups, at_least=3)
            assert not spelled, f"{name} lists chart groups (read bench.report.sections): {spelled}"
