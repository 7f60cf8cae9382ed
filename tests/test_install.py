"""The README's two commands install on a clean machine.

constraints.txt pins the versions reference results are measured with. A pin with
a local version label (``torch==2.13.0+cpu``) lives only on the index that serves
it (PyTorch's CPU wheel index), never on the public one: every place that installs
such a package must name that index, or a machine whose pip knows only the public
index stops at its first install. Every other pin must name a version the public
index lists.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import nox
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.support import REPO, bench_cli

sys.path.insert(0, str(REPO))
import noxfile  # the repository root is not on the path by itself

sys.path.remove(str(REPO))

#: every file that tells a person or a machine how to install the project
RECIPES = ("README.md", "CONTRIBUTING.md", ".ci/run", "noxfile.py")


def local_pins() -> dict[str, str]:
    return {name: pin for name, pin in noxfile.pins().items() if Requirement(pin).specifier and "+" in pin}


def test_constraints_are_exact_unique_pins():
    seen: dict[str, str] = {}
    for line in noxfile.CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # one specifier ...
        assert spec.operator == "==", f"{line}: pin an exact version"  # ... an exact one
        Version(spec.version)  # PEP 440
        name = noxfile.canonical(req.name)
        assert name not in seen, f"{line}: {req.name} is pinned twice ({seen.get(name)})"
        seen[name] = line
    assert "torch" in seen and "jax" in seen and "tensorflow-cpu" in seen


def test_every_local_label_pin_names_its_index():
    """A new ``+label`` pin without an index here would break every clean install."""
    assert local_pins(), "the torch pin carries +cpu: this test must see it"
    for name, pin in local_pins().items():
        index = noxfile.LOCAL_LABEL_INDEXES.get(name)
        assert index, f"{pin}: a local version label needs the index that serves it in noxfile.LOCAL_LABEL_INDEXES"
        assert index.startswith("https://"), index


class RecordingSession:
    """Enough of ``nox.Session`` to run a session function and record what it installs."""

    def __init__(self, posargs=()):
        self.posargs = list(posargs)
        self.installs: list[tuple[str, ...]] = []

    def install(self, *args, **kwargs):
        self.installs.append(args)

    def run(self, *args, **kwargs):
        pass

    def notify(self, *args, **kwargs):
        pass

    def log(self, *args, **kwargs):
        pass

    def error(self, *args):
        raise AssertionError(args)


def installed_packages(args: tuple[str, ...]) -> set[str]:
    """The canonical names one ``session.install`` call may install (extras expanded)."""
    names = set()
    for arg in args:
        match = re.fullmatch(r"\.\[(.*)\]", arg)
        if match:
            names |= noxfile.extra_packages(match.group(1))
        elif not arg.startswith("-") and arg not in ("constraints.txt",) and not arg.startswith("http"):
            names.add(noxfile.canonical(Requirement(arg).name))
    return names


def nox_sessions():
    """Every session of the noxfile, parametrized ones once per parameter."""
    for name, func in nox.registry.get().items():
        params = getattr(func, "parametrize", None)
        if params:
            for param in params:
                yield f"{name}({param.id})", func.func, param.args
        else:
            yield name, func.func, ()


@pytest.mark.parametrize("session_name,func,args", [pytest.param(*s, id=s[0]) for s in nox_sessions()])
def test_nox_installs_local_label_pins_from_their_index(session_name, func, args):
    """Each nox session installs a ``+label`` pin alone from its index before anything else."""
    session = RecordingSession(posargs=["results/x"] if "report" in session_name else [])
    func(session, *args)
    assert session.installs, f"{session_name} installs nothing"
    satisfied: set[str] = set()
    for call in session.installs:
        for name, pin in local_pins().items():
            if pin in call:
                assert "--extra-index-url" in call and noxfile.LOCAL_LABEL_INDEXES[name] in call, call
                satisfied.add(name)
            elif name in installed_packages(call):
                assert name in satisfied, f"{session_name}: {call} installs {name} before {pin} came from its index"


def test_nox_names_every_pin_for_the_torch_extras():
    assert noxfile.local_label_steps("all,dev") == [("torch==2.13.0+cpu", noxfile.LOCAL_LABEL_INDEXES["torch"])]
    assert noxfile.local_label_steps("torch") == noxfile.local_label_steps("all,dev")
    assert noxfile.local_label_steps("jax,dev") == [] and noxfile.local_label_steps("dev") == []


def pip_commands(text: str) -> list[str]:
    """Every ``pip install ...`` command in a text (shell lines, Markdown code or inline code)."""
    text = text.replace("\\\n", " ")
    return [m.group(0) for m in re.finditer(r"pip install[^\n`&|;]*", text)]


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipes_name_the_index_of_every_local_label_pin(recipe):
    commands = pip_commands((REPO / recipe).read_text())
    if recipe != "noxfile.py":
        assert commands, f"{recipe} tells no install"
    for command in commands:
        if "constraints-gpu.txt" in command:
            continue  # the CUDA builds' recipe and its own index: tests/test_adoption.py
        words = shlex.split(command.replace("'", '"'), posix=True)
        wanted = installed_packages(tuple(w for w in words[2:] if w.startswith(".[") or not w.startswith(("-", "."))))
        for name, pin in local_pins().items():
            if name in wanted:
                assert noxfile.LOCAL_LABEL_INDEXES[name] in command, (
                    f"{recipe}: `{command}` installs {name} ({pin}) without {noxfile.LOCAL_LABEL_INDEXES[name]}"
                )


def test_readme_says_what_the_two_commands_need_from_the_network():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert "public package index" in section and noxfile.LOCAL_LABEL_INDEXES["torch"] in section


@pytest.mark.framework  # reads JAX's and PyTorch's installed versions: nox -s tests_fast installs neither
def test_installed_versions_are_the_pinned_ones():
    """The suite runs against the versions constraints.txt pins (``nox -s tests`` installs with it)."""
    checked = []
    for name, pin in noxfile.pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        assert Requirement(pin).specifier.contains(installed, prereleases=True), (
            f"{name} {installed} is installed, constraints.txt pins {pin}: run the tests with `nox -s tests`"
        )
        checked.append(name)
    assert {"numpy", "jax", "torch", "pytest-benchmark"} <= set(checked)


def clean_pip_env() -> dict[str, str]:
    """This environment as a clean machine's pip sees it: the public index only, no local wheel folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def dry_run(*requirements: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "pins.txt"
        reqs.write_text("\n".join(requirements) + "\n")
        return subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "-r", str(reqs)],
            env=clean_pip_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


def public_index_reachable() -> bool:
    probe = dry_run("six")
    return probe.returncode == 0


@pytest.mark.slow
def test_pins_resolve_on_the_public_index_and_local_labels_do_not():
    """A dry-run resolution with pip seeing only the public index (about 20 s)."""
    if not public_index_reachable():
        if os.environ.get("CI"):
            pytest.fail("the public package index is unreachable: CI installs from it")
        pytest.skip("the public package index is unreachable from here: the offline checks above still ran")
    public = [pin for name, pin in noxfile.pins().items() if name not in local_pins()]
    done = dry_run(*public)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Would install" in done.stdout
    for pin in local_pins().values():
        missing = dry_run(pin)
        assert missing.returncode != 0 and "No matching distribution" in missing.stderr, (
            f"{pin} now resolves on the public index: the extra index step may no longer be needed"
        )


def test_the_command_of_its_own_says_its_version():
    """``pip install`` gives the ``autodiff-bench`` command; ``--version`` comes from the package metadata."""
    version = importlib.metadata.version("autodiff-bench")
    script = Path(sys.executable).parent / "autodiff-bench"
    assert script.exists(), f"{script}: the [project.scripts] entry is not installed"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"autodiff-bench {version}", done
    done = bench_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"python -m bench {version}", done


def test_env_json_names_the_harness_version(tmp_path):
    from tests.support import QUICK

    out = tmp_path / "run"
    done = bench_cli(
        "run",
        "--backend",
        "numpy",
        "--problem",
        "quadratic",
        "--size",
        "article",
        "--kind",
        "objective",
        *QUICK,
        "--out",
        out,
    )
    assert done.returncode == 0, done.stderr
    env = json.loads((out / "env.json").read_text())
    assert env["harness_version"] == importlib.metadata.version("autodiff-bench")
