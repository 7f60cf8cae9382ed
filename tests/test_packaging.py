"""What the package ships and the tools agree on: the pre-commit hooks' tools come with the dev extra,
LICENSE and the py.typed markers are in the package, and one Python version everywhere."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest
import yaml
from packaging.requirements import Requirement

from tests.support import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TYPED = ("backends/py.typed", "problems/py.typed")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dev_tools() -> set[str]:
    return {canonical(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}


def test_every_pre_commit_hook_runs_a_tool_the_dev_extra_installs():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert hooks
    for hook in hooks:
        assert hook.get("language") == "system", hook["id"]  # the active environment's tool, pinned
        tool = shlex.split(hook["entry"])[0]
        assert canonical(tool) in dev_tools(), f"hook {hook['id']} runs {tool}, which the dev extra does not install"
    assert "pre-commit" in dev_tools()


def test_every_dev_tool_is_pinned_in_both_constraints_files():
    for constraints in ("constraints.txt", "constraints-gpu.txt"):
        pinned = {}
        for line in (REPO / constraints).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                pinned[canonical(Requirement(line).name)] = Requirement(line)
        for tool in dev_tools() - {"autodiff-bench"}:
            assert tool in pinned and str(pinned[tool].specifier).startswith("=="), f"{tool} in {constraints}"


def test_the_python_version_is_one_everywhere():
    requires = PYPROJECT["project"]["requires-python"]
    assert requires == ">=3.11"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == "3.11"


def test_license_and_the_typed_markers_exist_and_are_declared_package_data():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for marker in TYPED:
        package, name = marker.split("/")
        assert (REPO / marker).is_file() and name in data[package], marker


@pytest.mark.slow
def test_the_wheel_holds_license_and_the_typed_markers(tmp_path):
    source = tmp_path / "source"  # a copy: building leaves build/ and egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    for package in ("backends", "problems", "bench", "witnesses"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("autodiff_bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for marker in TYPED:
        assert marker in names
    assert any(re.fullmatch(r"autodiff_bench-[^/]+\.dist-info/(licenses/)?LICENSE", n) for n in names), names
