"""What a new user meets first: a GPU run on a machine without one, the CUDA builds' recipe,
``nox -s bench -- --backend X``, ``--resume`` after fixing the environment, and how to cite.

Every run here uses the test backends of tests/fault_backend.py and tests/fault_env.py
or one small cell; nothing needs a GPU (this machine has none: every backend must say so).
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib

import nox
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from bench import results
from bench.__main__ import parser
from bench.cells import Cell, CellSpec
from bench.runner import device, retry
from tests.support import QUICK, REPO, bench_cli

sys.path.insert(0, str(REPO))
import noxfile  # the repository root is not on the path by itself

sys.path.remove(str(REPO))

ONE_CELL = ["--problem", "linear_regression", "--size", "article", "--kind", "objective"]
ENV_PLUGINS = {"BENCH_PLUGINS": "tests.fault_backend,tests.fault_env"}


def error_lines(proc) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


# -- 1. a GPU run is checked before any cell runs ---------------------------------------------------------------------


def test_a_gpu_run_on_a_machine_without_one_names_every_backend_and_runs_nothing(tmp_path):
    out = tmp_path / "run"
    proc = bench_cli("run", "--device", "gpu", *ONE_CELL, *QUICK, "--out", out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = error_lines(proc)
    for name in ("numpy", "jax", "torch", "tensorflow"):  # every installed backend, one line each
        (line,) = [line for line in lines if line.startswith(f"error: --device gpu: {name} ")]
        if name == "numpy":
            assert "CPU only" in line
        else:
            assert 'README.md, section "GPU runs"' in line, line
    assert lines[-1] == "error: no backend of this run can run on the gpu: nothing was run"
    assert not out.exists()  # no folder, no record, nothing timed


def test_a_named_backend_without_the_device_is_refused_even_when_another_has_it(tmp_path):
    out = tmp_path / "run"
    proc = bench_cli(
        "run", "--backend", "gpuish", "--backend", "numpy", "--device", "gpu", *ONE_CELL, "--out", out, env=ENV_PLUGINS
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = error_lines(proc)
    assert len(lines) == 2 and lines[0].startswith("error: --device gpu: numpy ") and "CPU only" in lines[0]
    assert "gpuish (gpu)" in lines[1] and "nothing was run" in lines[1]
    assert not out.exists()


def test_a_backend_that_sees_the_device_runs_on_it(tmp_path):
    out = tmp_path / "run"
    proc = bench_cli("run", "--backend", "gpuish", "--device", "gpu", *ONE_CELL, *QUICK, "--out", out, env=ENV_PLUGINS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = results.load(out)
    assert list(frame["status"]) == ["ok"] and list(frame["device"]) == ["gpu"]


def spec(backend: str, device_name: str, kind: str = "objective") -> CellSpec:
    return CellSpec(Cell("quadratic", "article", backend, "eager", "float64", kind), 2, device_name, 1)


class Refused(Exception):
    pass


def fake_asker(seeing: set[str], asked: list | None = None):
    def ask(pairs):
        if asked is not None:
            asked.extend(pairs)
        return [device.Answer(b, d, b in seeing, "" if b in seeing else f"{b} sees no GPU", "1.0") for b, d in pairs]

    return ask


def check(specs, named, seeing, asked=None):
    notes: list[str] = []
    kept = device.check(specs, named, notes.append, lambda lines: Refused(lines), fake_asker(seeing, asked))
    return kept, notes


def test_of_the_default_backends_those_without_the_device_are_left_out_with_a_note():
    specs = [spec("jax", "gpu"), spec("torch", "gpu"), spec("torch", "cpu"), spec("numpy", "gpu")]
    kept, notes = check(specs, named=False, seeing={"jax"})
    assert kept == [spec("jax", "gpu"), spec("torch", "cpu")]  # torch's CPU cells stay
    assert len(notes) == 2 and all("left out" in note for note in notes)
    assert any(note.startswith("--device gpu: torch 1.0 cannot run there") and "GPU runs" in note for note in notes)


def test_named_backends_without_the_device_stop_the_run_one_line_each():
    specs = [spec("jax", "gpu"), spec("torch", "gpu"), spec("numpy", "gpu")]
    with pytest.raises(Refused) as caught:
        check(specs, named=True, seeing={"jax"})
    lines = caught.value.args[0]
    assert [line.split()[2] for line in lines[:-1]] == ["numpy", "torch"]
    assert "jax (gpu)" in lines[-1]


def test_no_backend_left_for_the_device_stops_a_default_run_too():
    with pytest.raises(Refused) as caught:
        check([spec("jax", "gpu"), spec("numpy", "gpu")], named=False, seeing=set())
    assert caught.value.args[0][-1] == "no backend of this run can run on the gpu: nothing was run"


def test_a_cpu_run_and_the_articles_loops_ask_nothing():
    asked: list = []
    specs = [spec("jax", "cpu"), spec("article", "cpu", "solve")]
    assert check(specs, named=True, seeing=set(), asked=asked) == (specs, [])
    assert asked == []


def test_run_help_says_what_a_gpu_run_does_without_a_gpu():
    text = " ".join(bench_cli("run", "--help").stdout.split())
    assert "asked whether it sees a GPU" in text and "left out" in text


# -- 2. the CUDA builds' recipe ----------------------------------------------------------------------------------------

#: packages that only one of the two files pins: the CPU and the CUDA builds of the frameworks
CPU_ONLY = {"tensorflow-cpu"}
GPU_ONLY = {"tensorflow", "jax-cuda12-plugin", "jax-cuda12-pjrt"}


def gpu_pins() -> dict[str, str]:
    return noxfile.pins(noxfile.GPU_CONSTRAINTS)


def version_of(pin: str) -> Version:
    (spec_,) = Requirement(pin).specifier
    assert spec_.operator == "==", f"{pin}: pin an exact version"
    return Version(spec_.version)


def test_gpu_constraints_pin_the_same_versions_as_constraints_but_the_cuda_builds():
    cpu, gpu = noxfile.pins(), gpu_pins()
    assert set(cpu) - set(gpu) == CPU_ONLY and set(gpu) - set(cpu) == GPU_ONLY
    for name in set(cpu) & set(gpu):
        assert version_of(cpu[name]).public == version_of(gpu[name]).public, f"{cpu[name]} against {gpu[name]}"
        if name != "torch":
            assert version_of(cpu[name]) == version_of(gpu[name]), f"{cpu[name]} against {gpu[name]}"
    assert version_of(gpu["tensorflow"]) == version_of(cpu["tensorflow-cpu"])
    assert version_of(gpu["jax-cuda12-plugin"]) == version_of(gpu["jax-cuda12-pjrt"]) == version_of(cpu["jax"])
    assert version_of(gpu["torch"]).local.startswith("cu12")  # the CUDA 12 build, as jax's and TensorFlow's


def gpu_recipes() -> list[str]:
    commands = []
    for recipe in ("README.md", "CONTRIBUTING.md"):
        text = (REPO / recipe).read_text().replace("\\\n", " ")
        commands += [m.group(0) for m in re.finditer(r"pip install[^\n`&|;]*", text) if "constraints-gpu.txt" in m[0]]
    return commands


def test_the_gpu_recipe_names_the_index_of_the_torch_cuda_build_and_the_gpu_extra():
    label = version_of(gpu_pins()["torch"]).local
    (command,) = gpu_recipes()
    words = shlex.split(command)
    assert f"https://download.pytorch.org/whl/{label}" in words
    extras = next(w for w in words if w.startswith(".["))[2:-1].split(",")
    assert "gpu" in extras and not {"all", "tensorflow", "torch", "jax"} & set(extras)  # no CPU build beside it
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = {Requirement(r).name for r in optional["gpu"]}
    assert wanted == {"jax", "torch", "tensorflow"}
    assert {tuple(Requirement(r).extras) for r in optional["gpu"]} == {("cuda12",), (), ("and-cuda",)}


def test_the_device_checks_hint_points_at_a_readme_section_that_exists():
    assert device.GPU_RECIPE == 'README.md, section "GPU runs"'
    readme = (REPO / "README.md").read_text()
    section = readme.split("### GPU runs", 1)[1].split("\n#", 1)[0]
    assert "constraints-gpu.txt" in section and "--device gpu" in section


@pytest.mark.slow
def test_the_cuda_builds_of_jax_and_tensorflow_resolve_on_the_public_index():
    """torch's CUDA build lives on PyTorch's own index, which CI cannot reach: only the others are resolved."""
    import os

    from tests.test_install import dry_run, public_index_reachable

    if not public_index_reachable():
        if os.environ.get("CI"):
            pytest.fail("the public package index is unreachable: CI installs from it")
        pytest.skip("the public package index is unreachable from here")
    pins = gpu_pins()
    done = dry_run(*(pins[name] for name in sorted(GPU_ONLY)))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


# -- 3. nox -s bench -- --backend X ----------------------------------------------------------------------------------


class Session:
    """Enough of ``nox.Session`` to run a session function and record what it runs and notifies."""

    def __init__(self, posargs=()):
        self.posargs = list(posargs)
        self.runs: list[tuple[str, ...]] = []
        self.notified: dict[str, list[str]] = {}

    def install(self, *args, **kwargs):
        pass

    def run(self, *args, **kwargs):
        self.runs.append(args)

    def notify(self, name, posargs=()):
        self.notified[name] = list(posargs)

    def log(self, *args, **kwargs):
        pass

    def error(self, *args):
        raise Refused(*args)


def session_function(name: str):
    return nox.registry.get()[name].func


def run_bench(posargs):
    """The ``bench`` session, then each backend session it notifies: {backend: its ``bench run`` arguments}."""
    top = Session(posargs)
    session_function("bench")(top)
    out = {}
    for name, args in top.notified.items():
        match = re.fullmatch(r"bench_backend\((\w+)\)", name)
        if match:
            child = Session(args)
            session_function("bench_backend")(child, match.group(1))
            (command,) = [r for r in child.runs if r[:4] == ("python", "-m", "bench", "run")]
            out[match.group(1)] = list(command[3:])
    return top, out


def run_args(argv: list[str]):
    """``argv`` as ``python -m bench run`` parses it."""
    return parser().parse_args(argv)


def test_a_backend_given_to_nox_bench_reaches_only_its_own_session():
    top, runs = run_bench(["--backend", "jax", "--size", "small", "--out", "results/x"])
    assert set(runs) == {"jax"} and "report" in top.notified
    args = run_args(runs["jax"])
    assert args.backend == ["jax"] and args.size == ["small"] and args.out == "results/x" and args.resume
    (check,) = [r for r in top.runs if r[:4] == ("python", "-m", "bench", "check")]
    assert "--backend=jax" in check


def test_without_a_backend_every_session_times_its_own_and_run_options_pass_through():
    _, runs = run_bench(["--threads", "1", "--kind", "gradient"])
    assert set(runs) == {"numpy", "jax", "torch", "tensorflow"}
    for backend, argv in runs.items():
        args = run_args(argv)
        assert args.backend == ([backend, "article"] if backend == "numpy" else [backend])
        assert args.threads == "1" and args.kind == ["gradient"]


def test_the_articles_loops_go_to_the_numpy_session_and_comma_lists_are_split():
    _, runs = run_bench(["--backend=article,torch"])
    assert set(runs) == {"numpy", "torch"}
    assert run_args(runs["numpy"]).backend == ["article"] and run_args(runs["torch"]).backend == ["torch"]


def test_a_backend_no_session_times_is_refused_in_one_line():
    with pytest.raises(Refused, match="not --backend fault"):
        run_bench(["--backend", "fault"])
    with pytest.raises(Refused, match=r"bench_backend\(torch\) times torch only, not --backend jax"):
        session_function("bench_backend")(Session(["--backend", "jax"]), "torch")


# -- 4. --resume measures again what failed for the environment's reasons ---------------------------------------------


@pytest.mark.parametrize(
    "status,reason,attempts,again",
    [
        ("error", "BackendUnavailable: backend 'jax' is unavailable: jax is not installed", 1, True),
        ("error", "BackendUnavailable: backend 'jax' is unavailable: jax is not installed", 5, True),
        ("error", "DeviceUnavailable: torch sees no CUDA device", 1, True),
        ("error", "ModuleNotFoundError: No module named 'scipy'", 1, True),
        ("error", "ImportError: libcudart.so.12: cannot open shared object file", 1, True),
        ("error", "RuntimeError: injected failure inside the framework", 1, False),
        ("error", "ValueError: DeviceUnavailable in a message", 1, False),
        ("nan", "gradient output: 2 of 2 values are NaN or Inf", 1, False),
        ("diverged", "loss went from 1 to 1e9", 1, False),
        ("wrong", "final loss differs from NumPy's", 1, False),
        ("crashed", "worker process died with SIGSEGV", 1, False),
        ("timeout", "no result after 180 s; worker killed", 1, False),
        ("ok", None, 1, False),
        ("not_run", "worker process died with SIGKILL before running any cell", 1, True),
        ("not_run", "worker process died with SIGKILL before running any cell", retry.MAX_ATTEMPTS, False),
    ],
)
def test_the_one_rule_of_what_resume_measures_again(status, reason, attempts, again):
    assert retry.again({"status": status, "reason": reason, "attempts": attempts}) is again


def test_resume_measures_again_the_cells_whose_framework_was_missing_and_keeps_the_codes_failures(tmp_path):
    out, flag = tmp_path / "run", tmp_path / "missing"
    flag.write_text("the framework is not installed\n")
    env = {**ENV_PLUGINS, "FAULT_ENV_FLAG": str(flag)}
    cells = ["--problem", "linear_regression", "--size", "article", "--kind", "objective,gradient,hessian"]
    first = bench_cli("run", "--backend", "envfault", "--backend", "fault", *cells, *QUICK, "--out", out, env=env)
    assert first.returncode == 3, first.stdout + first.stderr
    before = results.load(out).set_index("cell")
    env_cells = before.index[before["backend"] == "envfault"]
    assert len(env_cells) == 3 and before.loc[env_cells, "reason"].str.startswith("BackendUnavailable: ").all()
    kept = before[before["backend"] == "fault"]
    assert sorted(kept["status"]) == ["error", "nan", "ok"]  # the code's own failures

    flag.unlink()  # the framework is installed now
    again = bench_cli("run", "--resume", "--out", out, *QUICK[2:], env=env)  # no filter: the folder's plan
    assert again.returncode == 3, again.stdout + again.stderr  # the fault backend's failures remain
    assert "3 that could not run before are tried again" in again.stdout
    after = results.load(out).set_index("cell")
    assert (after.loc[env_cells, "status"] == "ok").all() and (after.loc[env_cells, "attempts"] == 2).all()
    assert after.loc[env_cells, "previous"].str.startswith("error: BackendUnavailable: ").all()
    for cell in kept.index:  # measured or failed in the computation: kept as they were
        assert after.loc[cell, "status"] == kept.loc[cell, "status"]
        assert after.loc[cell, "finished"] == kept.loc[cell, "finished"] and after.loc[cell, "attempts"] == 1


# -- 5. how to cite ---------------------------------------------------------------------------------------------------

#: the top-level keys of the Citation File Format 1.2.0 (its schema allows no other)
CFF_KEYS = {
    "abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers", "keywords",
    "license", "license-url", "message", "preferred-citation", "references", "repository", "repository-artifact",
    "repository-code", "title", "type", "url", "version",
}  # fmt: skip


def test_citation_cff_is_valid_and_names_this_version():
    doc = yaml.safe_load((REPO / "CITATION.cff").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert {"cff-version", "message", "title", "authors"} <= set(doc) <= CFF_KEYS
    assert doc["cff-version"] == "1.2.0" and doc["type"] == "software"
    assert str(doc["version"]) == project["version"]
    assert doc["license"] == project["license"]["text"] == "MIT"
    assert [a["name"] for a in doc["authors"]] == [a["name"] for a in project["authors"]]  # an entity: its name
    assert all(isinstance(doc[k], str) and doc[k].strip() for k in ("message", "title"))
