"""Dead public names stay deleted: every module-level public name of the modules other code builds on
is read somewhere besides its own definition (its module, another module of the project, noxfile.py
or tools/; the tests do not count, so a name only a test reads is dead too).

Ruff sees unused imports and locals, not an unused public function; this is the check it lacks, in
the spirit of tests/test_architecture.py: read from the source, nothing imported. Methods are out
of its reach (``x.kinds()`` cannot tell whose ``kinds`` it calls).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: the modules whose public names are checked
CHECKED = ("bench.results", "bench.safe_io", "bench.fmt", "backends", "backends.base", "problems", "problems.base")
#: where a use counts
SOURCES = [p for d in ("backends", "problems", "witnesses", "bench", "tools") for p in (REPO / d).rglob("*.py")]
SOURCES.append(REPO / "noxfile.py")
#: public names nothing in the project reads, each with why it stays
KEPT = {
    "backends.register": "a plugin's way to add a backend (CONTRIBUTING's recipe; tests/toy_plugin.py)",
    "problems.register": "a plugin's way to add a problem (CONTRIBUTING's recipe; tests/toy_plugin.py)",
    "backends.base.PRIMITIVES": "the fused primitives an xp may offer, written once: problems/base.py points to it",
    "problems.all_problems": "every registered problem, in order: for a plugin or a test that walks them all",
}


def module_path(name: str) -> Path:
    base = REPO.joinpath(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def defined(name: str) -> list[str]:
    """Public functions, classes and assigned names at the top of module ``name`` (``__all__`` aside)."""
    out = []
    for node in ast.parse(module_path(name).read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.append(node.name)
        elif isinstance(node, ast.Assign):
            out += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.append(node.target.id)
    return [n for n in out if not n.startswith("_") and n != "__all__"]


def module_of(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def uses(path: Path, root: Path = REPO) -> set[str]:
    """``module.name`` for every name ``path`` reads from another module (``from m import name``,
    ``m.name`` through an ``import``), and for its own names read inside it."""
    tree = ast.parse(path.read_text())
    own = module_of(path, root)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    aliases: dict[str, str] = {}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                found.add(f"{base}.{a.name}")
                aliases[a.asname or a.name] = f"{base}.{a.name}"  # a module imported from its package
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.add(f"{own}.{node.id}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = ast.unparse(node.value)
            head, _, rest = chain.partition(".")
            if head in aliases:
                found.add(".".join(filter(None, (aliases[head], rest, node.attr))))
    return found


USED = set().union(*(uses(p) for p in SOURCES))


@pytest.mark.parametrize("module", CHECKED)
def test_every_public_name_is_read_somewhere(module):
    dead = [n for n in defined(module) if f"{module}.{n}" not in USED and f"{module}.{n}" not in KEPT]
    assert not dead, f"{module}: public names nothing reads (delete them, or keep one in KEPT with why): {dead}"


def test_kept_names_exist_and_are_really_unread():
    for full, why in KEPT.items():
        module, _, name = full.rpartition(".")
        assert name in defined(module) and why, full
        assert full not in USED, f"{full} is read now: take it out of KEPT"


def test_the_scan_sees_each_way_of_reading_a_name(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("DEAD = 1\nLIVE = 2\nprint(LIVE)\n")
    (tmp_path / "user.py").write_text("import pkg\nfrom pkg import FROM\nimport pkg.sub as s\npkg.ATTR\ns.DEEP\n")
    found = uses(tmp_path / "pkg" / "__init__.py", tmp_path) | uses(tmp_path / "user.py", tmp_path)
    assert {"pkg.LIVE", "pkg.FROM", "pkg.ATTR", "pkg.sub.DEEP"} <= found
    assert "pkg.DEAD" not in found
