"""Framework versions side by side (``nox -s versions``, ``python -m bench versions``).

Without installing real versions: two "versions" are the plugin backend of tests/slowed_backend.py
at ``BENCH_SLOWDOWN=0`` and ``0.5``, timed by the harness in rounds that alternate them, as the nox
session does; the comparison must call every cell it gives a verdict slower, by about 50%, and an
unchanged third run (A/A) slower or faster nowhere (where a host ran one version's processes all at
another speed: nowhere again when the three are measured once more). Whether the 95% interval holds
the known factor is a statement about 95 of 100 such runs, so it is checked where the noise is known:
synthetic rounds with a 25% slowdown, every seed's every cell. The nox session's commands are checked against a
recording session object, and a version the indexes cannot install is one line.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import nox.command
import numpy as np
import pytest

from bench import results, uncertainty
from bench.__main__ import main as bench_main
from bench.__main__ import parser as bench_parser
from bench.cells import Cell, CellSpec
from bench.report import load
from bench.stats import MIN_EFFECT
from bench.versions import merge_rounds, write_versions

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import noxfile  # noqa: E402  (the repository root is not on the path by itself)

sys.path.remove(str(REPO))

#: one problem, one size, two kinds: a few seconds per run
PLAN = ["--backend", "slowed", "--problem", "logistic_regression", "--size", "small", "--kind", "gradient"]
PLAN += ["--kind", "objective", "--threads", "1", "--max-time", "0.05", "--repeat", "none"]
SLOWDOWN = 0.25
#: the measured versions' slowdown: beyond what a slow stretch of a virtual machine does to one round
MEASURED_SLOWDOWN = 0.5


def run_round(out: Path, slowdown: float) -> None:
    env = {**os.environ, "BENCH_PLUGINS": "tests.slowed_backend", "BENCH_SLOWDOWN": str(slowdown)}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", *PLAN, "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def versions_root(tmp_path_factory) -> Path:
    """Three "versions" (A: as fast as NumPy, B: 50% slower, C: A again), three rounds each, alternated
    as nox -s versions runs them: A B C, C B A, then B A C."""
    root = tmp_path_factory.mktemp("versions")
    measure(root, {"A": 0.0, "B": MEASURED_SLOWDOWN, "C": 0.0}, ("ABC", "CBA", "BAC"))
    return root


def measure(root: Path, speeds: dict[str, float], orders: tuple[str, ...]) -> None:
    """Each named version timed in one round per order, in that order (round k: ``root/NAME/round-k``)."""
    for k, order in enumerate(orders, 1):
        for name in order:
            run_round(root / name / f"round-{k}", speeds[name])


def false_calls(rows: list[dict]) -> list[dict]:
    """The A/A rows called changed beyond the minimum effect: a change their interval holds none under."""
    return [
        r
        for r in rows
        if r["call"] != "cannot tell" and min(abs(float(r["change_lo"])), abs(float(r["change_hi"]))) >= MIN_EFFECT
    ]


def compared(root: Path, capsys) -> tuple[list[dict], str]:
    """``bench versions`` over root's A, B and C into ``root/report``: versions.csv's rows and what it printed."""
    out = root / "report"
    code = bench_main(["versions", "--runs", *(str(root / n) for n in "ABC"), "--out", str(out), "--formats", "png"])
    printed = capsys.readouterr().out
    assert code == 0
    with open(out / "versions.csv", newline="") as fh:
        return list(csv.DictReader(fh)), printed


@pytest.mark.slow
def test_the_slowed_version_is_slower_by_its_factor_and_an_unchanged_one_is_not(versions_root, capsys, tmp_path):
    out = versions_root / "report"
    rows, printed = compared(versions_root, capsys)
    slowed = [r for r in rows if r["compared"] == "B"]
    same = [r for r in rows if r["compared"] == "C"]
    assert len(slowed) == len(same) == 2 and {r["baseline"] for r in rows} == {"A"}
    # each version's rounds were merged into one run of three processes per cell
    merged, _ = results.scan(out / "runs" / "B")
    assert len(merged) == 2 and all(len(uncertainty.entries(rec)) == 3 for rec in merged.values())
    assert "slowed slowed-0.5 against slowed slowed-0" in printed
    page = (out / "report.md").read_text()
    assert "95% interval" in page and "Do the versions agree?" in page
    assert sorted(p.name for p in (out / "charts").glob("*.png")) == ["versions-b-vs-a.png", "versions-c-vs-a.png"]
    # A/A: the unchanged version. A 95% interval leaves no change out now and then, more often where the run's
    # noise figure rests on few cells (two here): on a day whose processes differed by 20-40%, one objective came
    # out -16%, -28% to -2%. On a shared host the baseline's three processes can all run at another speed than
    # the others' with nothing in the timings to show it (a CI host: C -44% against A, -52% to -35%, the speed
    # probes did not explain it), which misjudges B against A too. What the harness owes there is a verdict that
    # does not survive a rerun: the three versions measured again (other orders), that cell must not be called
    # changed beyond the minimum effect (a false call twice in a row: a fault of the harness); B is judged there.
    wrong = false_calls(same)
    if wrong:
        again = tmp_path / "again"
        measure(again, {"A": 0.0, "B": MEASURED_SLOWDOWN, "C": 0.0}, ("CAB", "BCA", "ACB"))
        rows, printed = compared(again, capsys)
        second = {(r["kind"], r["label"]): r for r in rows if r["compared"] == "C"}
        for r in wrong:
            assert not false_calls([second[(r["kind"], r["label"])]]), (r, second[(r["kind"], r["label"])])
        slowed = [r for r in rows if r["compared"] == "B"]
    # a cell measured in a slow stretch or while other processes ran gets no verdict, and says why; every
    # other cell of the slowed version: called slower, by about the known factor, where its interval excludes
    # no change, else "cannot tell" with an interval that reaches the known slowdown (a day whose worker
    # processes differ by 10-15% gave logistic_regression's gradient +37%, -17% to +127%): never faster
    judged = [r for r in slowed if not r["why"]]
    if not judged:
        pytest.skip(f"this machine was not quiet ({slowed[0]['why']}): no verdict to check")
    resolved = [r for r in judged if float(r["change_lo"]) > 0]
    for r in judged:
        if r in resolved:
            assert r["call"] == "slower", r
            assert MEASURED_SLOWDOWN / 2 < float(r["change"]) < MEASURED_SLOWDOWN * 2, r
            assert "slower than slowed-0 on logistic_regression small" in r["sentence"]
        else:
            assert r["call"] == "cannot tell" and float(r["change_hi"]) >= MEASURED_SLOWDOWN, r
    if not resolved:
        pytest.skip(f"this machine's noise resolved no cell: {judged[0]['change_lo']} to {judged[0]['change_hi']}")
    assert "slower: slowed slowed-0.5 is" in printed


def spec(kind: str, backend: str = "numpy") -> CellSpec:
    variant = "jit" if backend == "jax" else "eager"
    return CellSpec(Cell("linear_regression", "small", backend, variant, "float64", kind), 1000, "cpu", 1)


def write_round(
    run: Path, times: dict[str, list[float]], status: str = "ok", backend: str = "numpy", probe: float | None = None
) -> None:
    for kind, rounds in times.items():
        s = spec(kind, backend)
        rec = results.record(**s.columns(), status=status, machine="box", run=run.name, version="2.4.6")
        if status == "ok":
            rec[uncertainty.SAMPLES] = [uncertainty.entry(rounds, 100, 1, 0.0, 0.0, probe)]
            rec.update(uncertainty.summary(uncertainty.entries(rec)))
        results.save(run, s.id, rec)
    (run / "env.json").write_text('{"machine": "box", "finished": "2026-12-01T12:00:00+0000"}')


def synthetic_version(root: Path, factor: float, seed: int) -> Path:
    """Two rounds of a quiet machine, each cell's rounds drawn around its median times ``factor``
    (2% between rounds, 3% between a process's rounds)."""
    rng = np.random.default_rng(seed)
    for k in (1, 2):
        level = factor * math.exp(rng.normal(0.0, 0.02))
        write_round(
            root / f"round-{k}",
            {kind: list(base * level * np.exp(rng.normal(0.0, 0.03, 50))) for kind, base in BASES.items()},
        )
    return root


BASES = {"objective": 0.4e-3, "gradient": 1.0e-3, "hessian": 3.0e-3, "hvp": 1.5e-3}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_known_slowdown_is_called_with_the_factor_inside_its_interval_and_a_a_is_not(tmp_path, seed):
    """Synthetic rounds (no machine noise beyond what is drawn): B 25% slower than A, C as A."""
    runs = [synthetic_version(tmp_path / name, f, seed * 10 + i) for i, (name, f) in enumerate(SPEEDS.items())]
    comparisons, _ = write_versions(runs, out=tmp_path / "out", formats=("png",))
    slower, same = (c.table for c in comparisons)
    assert len(slower) == len(same) == len(BASES)
    assert (slower["call"] == "slower").all()
    assert ((slower["change_lo"] <= SLOWDOWN) & (SLOWDOWN <= slower["change_hi"])).all()
    assert (same["call"] != "slower").all()


SPEEDS = {"A": 1.0, "B": 1 + SLOWDOWN, "C": 1.0}


def test_a_version_timed_in_a_slow_stretch_is_judged_against_the_machine_at_its_best(tmp_path):
    """A virtual machine can run everything 1.6x slower for minutes: B's every round fell in such a
    stretch (its speed probe twice A's). Against the fastest probe of all versions, B's cells get no
    verdict and say why, where B's own probes alone would have called them 60% slower."""
    base = [1e-3 * (1 + 0.01 * (k % 5)) for k in range(30)]
    for k in (1, 2):
        write_round(tmp_path / "A" / f"round-{k}", {"gradient": base}, probe=1e-4)
        write_round(tmp_path / "B" / f"round-{k}", {"gradient": [t * 1.6 for t in base]}, probe=2e-4)
    comparisons, out = write_versions([tmp_path / "A", tmp_path / "B"], out=tmp_path / "out", formats=("png",))
    (row,) = comparisons[0].table.to_dict("records")
    assert row["call"] == "cannot tell" and "the machine ran x2 slower" in row["why"], row
    assert load.shared_probe_floor([out / "runs" / "A", out / "runs" / "B"]) == 1e-4
    # the merged run read alone (report of one version) knows only its own best: B at its own best
    alone = load.load_run(out / "runs" / "B").table
    assert alone["stability"].isna().all()


def test_a_cell_whose_derivative_disagreed_in_either_version_gets_no_verdict(tmp_path):
    """B is 60% slower, but its gradient disagreed with the references in B's agreement check: the
    timing of a wrong derivative means nothing, so the cell is cannot tell, saying which check failed."""
    from bench import agreement_file
    from bench.agreement_file import AgreementRow

    base = [1e-3 * (1 + 0.01 * (k % 5)) for k in range(30)]
    for k in (1, 2):
        write_round(tmp_path / "A" / f"round-{k}", {"gradient": base, "objective": base})
        write_round(tmp_path / "B" / f"round-{k}", {"gradient": [t * 1.6 for t in base], "objective": base})
    row = AgreementRow("linear_regression", "numpy", "gradient", False, "eager", "hand", "numpy", "small", "float64")
    agreement_file.write(tmp_path / "B" / "agreement.json", [row])
    comparisons, _ = write_versions([tmp_path / "A", tmp_path / "B"], out=tmp_path / "out", formats=("png",))
    rows = {r["kind"]: r for r in comparisons[0].table.to_dict("records")}
    assert rows["gradient"]["call"] == "cannot tell" and "2.4.6's agreement check failed" in rows["gradient"]["why"]
    assert "agreement check failed" in rows["gradient"]["sentence"]
    assert rows["objective"]["why"] == ""  # its check passed (no failing row): judged as ever


def test_rounds_are_merged_into_one_run_whose_cells_hold_every_round(tmp_path):
    base = [1e-3 * (1 + 0.01 * (k % 5)) for k in range(20)]
    write_round(tmp_path / "v" / "round-1", {"gradient": base, "objective": base})
    write_round(tmp_path / "v" / "round-2", {"gradient": [t * 1.02 for t in base]})
    write_round(tmp_path / "v" / "round-3", {"objective": base}, status="crashed")
    target = merge_rounds(
        [tmp_path / "v" / f"round-{k}" for k in (1, 2, 3)], tmp_path / "runs" / "v", tmp_path / "none.json"
    )
    merged, bad = results.scan(target)
    assert not bad
    gradient, objective = merged[spec("gradient").id], merged[spec("objective").id]
    assert [e["pass"] for e in gradient["samples"]] == [1, 2] and gradient["processes"] == 2
    assert uncertainty.stability(gradient) is None
    # a round that did not end ok: the cell keeps its rounds and says why it gives no verdict
    assert [e.get("status") for e in objective["samples"]] == [None, "crashed"]
    assert "crashed" in (uncertainty.stability(objective) or "")


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    write_round(tmp_path / "numpy" / "round-1", {"gradient": [1e-3] * 10})
    write_round(tmp_path / "jax" / "round-1", {"gradient": [1e-3] * 10}, backend="jax")
    numpy, jax = str(tmp_path / "numpy"), str(tmp_path / "jax")
    for argv, expected in (
        ([numpy], "name two or more version folders, the baseline first"),
        ([numpy, str(tmp_path / "missing")], "does not exist"),
        ([numpy, jax], "no two of these folders timed the same backend"),
    ):
        code = bench_main(["versions", "--runs", *argv, "--out", str(tmp_path / "out"), "--formats", "png"])
        lines = capsys.readouterr().err.splitlines()
        assert code == 2 and [line for line in lines if line.startswith("error: ")] == lines[-1:], lines
        assert expected in lines[-1] and "Traceback" not in "\n".join(lines)


# --- the nox session ---------------------------------------------------------------------------


class SessionError(Exception):
    pass


class Recording:
    """Enough of ``nox.Session`` to run the versions session: every command recorded, ``pip index
    versions`` answered from ``listings``, a ``pip install`` of a requirement in ``failing`` failed."""

    def __init__(self, posargs, listings: dict[str, str] | None = None, failing: tuple[str, ...] = ()):
        self.posargs = list(posargs)
        self.listings, self.failing = listings or {}, failing
        self.installs: list[tuple] = []
        self.runs: list[tuple] = []
        self.warnings: list[str] = []
        self.logs: list[str] = []

    def install(self, *args, **kwargs):
        self.installs.append(args)

    def run(self, *args, **kwargs):
        self.runs.append(args)
        if args[1:5] == ("-m", "pip", "index", "versions"):
            return self.listings.get(args[5], f"{args[5]} (1.0)\nAvailable versions: 1.0")
        if args[1:4] == ("-m", "pip", "install") and any(f in a for a in args for f in self.failing):
            raise nox.command.CommandFailed("pip failed")
        return None

    def warn(self, message):
        self.warnings.append(message)

    def log(self, message):
        self.logs.append(message)

    def error(self, *args):
        raise SessionError(" ".join(map(str, args)))

    def bench(self, command: str) -> list[tuple]:
        return [r for r in self.runs if r[1:4] == ("-m", "bench", command)]


JAX = {"jax": "jax (0.10.2)\nAvailable versions: 0.10.2, 0.10.1, 0.10.0"}


def test_the_session_checks_and_times_each_version_in_alternating_rounds(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the environments' folders (.nox/...) are made here
    session = Recording(["jax==0.10.1", "jax==0.10.2", "--", "--problem", "logistic_regression", "--out", "r"], JAX)
    noxfile.versions(session)
    assert session.installs == [("-c", "constraints.txt", "-e", ".[dev]")] and not session.warnings
    venvs = [r[-1] for r in session.runs if r[1:3] == ("-m", "venv")]
    assert [Path(v).name for v in venvs] == ["versions-jax-0.10.1", "versions-jax-0.10.2"]
    # each environment's constraints: the requested jax, no jaxlib pin (pip chooses it), the rest as pinned
    written = (tmp_path / venvs[0] / "constraints.txt").read_text().splitlines()
    assert "jax==0.10.1" in written and "numpy==2.4.6" in written and not any("jax" in w for w in written[:-1])
    pip = [r for r in session.runs if r[1:4] == ("-m", "pip", "install")]
    assert [r[0] for r in pip] == [f"{v}/bin/python" for v in venvs]
    assert all("-c" in r and r[r.index("-c") + 1].endswith("constraints.txt") and ".[jax]" in r for r in pip)
    checks = session.bench("check")
    assert [c[0] for c in checks] == [f"{v}/bin/python" for v in venvs]
    assert all("--backend=jax" in c and "--problem" in c and "r/jax-0.10.1/agreement.json" in checks[0] for c in checks)
    timed = [(r[0], r[r.index("--out") + 1]) for r in session.bench("run")]
    a, b = (f"{v}/bin/python" for v in venvs)
    assert timed == [
        (a, "r/jax-0.10.1/round-1"),
        (b, "r/jax-0.10.2/round-1"),
        (b, "r/jax-0.10.2/round-2"),
        (a, "r/jax-0.10.1/round-2"),
    ]
    for command in session.bench("run"):  # what the run command accepts: the plan, no repeat in the same round
        args = bench_parser().parse_args(list(command[3:]))
        assert args.backend == ["jax"] and args.problem == ["logistic_regression"] and args.repeat == "none"
    (compared,) = session.bench("versions")
    assert compared[0] == "python" and compared[4:] == ("--runs", "r/jax-0.10.1", "r/jax-0.10.2", "--out", "r/report")


def test_a_framework_named_once_is_compared_with_its_pin_and_torch_comes_from_its_index(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    requirements, refused = noxfile.version_requirements(["torch==2.12.0", "jax==0.10.1", "tensorflow==2.20.0"])
    assert not refused
    assert requirements == [
        "torch==2.13.0+cpu",
        "torch==2.12.0+cpu",
        "jax==0.10.2",
        "jax==0.10.1",
        "tensorflow-cpu==2.21.0",
        "tensorflow-cpu==2.20.0",
    ]
    listing = {"torch": "torch (2.13.0+cpu)\nAvailable versions: 2.13.0+cpu, 2.12.0+cpu"}
    session = Recording(["torch==2.12.0", "--rounds", "3", "--out", "r"], listing)
    noxfile.versions(session)
    # the CPU build alone from PyTorch's index, before the project's install
    pip = [r for r in session.runs if r[1:4] == ("-m", "pip", "install")]
    index = noxfile.LOCAL_LABEL_INDEXES["torch"]
    assert pip[0][-4:] == ("--no-deps", "--extra-index-url", index, "torch==2.13.0+cpu")
    assert pip[2][-4:] == ("--no-deps", "--extra-index-url", index, "torch==2.12.0+cpu")
    rounds = [r[r.index("--out") + 1] for r in session.bench("run")]
    assert [Path(p).name for p in rounds] == ["round-1", "round-1", "round-2", "round-2", "round-3", "round-3"]


def test_three_equals_ask_for_the_public_index_s_own_build_of_that_version(monkeypatch, tmp_path):
    """``torch===2.12.0`` (PEP 440's arbitrary equality): exactly 2.12.0, the public index's build, where
    PyTorch's CPU index cannot be reached; installed with the project's pins, never from PyTorch's index."""
    monkeypatch.chdir(tmp_path)
    requirements, refused = noxfile.version_requirements(["torch===2.12.0"])
    assert not refused and requirements == ["torch==2.13.0+cpu", "torch===2.12.0"]
    listing = {"torch": "torch (2.15.0)\nAvailable versions: 2.15.0, 2.13.0+cpu, 2.13.0, 2.12.0"}
    session = Recording(["torch===2.12.0", "--out", "r"], listing)
    noxfile.versions(session)
    index = noxfile.LOCAL_LABEL_INDEXES["torch"]
    pip = [r for r in session.runs if r[1:4] == ("-m", "pip", "install")]
    assert not any("torch===2.12.0" in r for r in pip) and not any(index in r and "2.12.0" in str(r) for r in pip)
    constraints = [Path(r[r.index("-c") + 1]) for r in pip if "-c" in r]
    assert any("torch===2.12.0" in c.read_text().splitlines() for c in constraints)
    rounds = [r[r.index("--out") + 1] for r in session.bench("run")]
    assert {Path(p).parent.name for p in rounds} == {"torch-2.13.0+cpu", "torch-2.12.0"}
    # the public index lacks it: one line, as for any version
    message = noxfile.index_problem("torch===2.12.7", listing["torch"])
    assert message is not None and "offer torch 2.15.0" in message and "\n" not in message


@pytest.mark.parametrize(
    "requirement, listing, expected",
    [
        ("jax==0.10.9", JAX["jax"], "the indexes pip reaches offer jax 0.10.2, 0.10.1, 0.10.0"),
        (
            "torch==2.12.0+cpu",
            # what pip printed here, where PyTorch's index cannot be reached (the public index lists plain builds)
            "WARNING: Retrying (Retry(total=0, ...)) after connection broken by 'NewConnectionError(...: Failed to "
            "establish a new connection: [Errno -2] Name or service not known')': /whl/cpu/torch/\n"
            "torch (2.15.0)\nAvailable versions: 2.15.0, 2.14.1, 2.13.0+cpu, 2.13.0, 2.12.1, 2.12.0, 2.11.0\n",
            "builds come from https://download.pytorch.org/whl/cpu, which pip could not reach or which lacks it",
        ),
        ("jax==0.10.9", "ERROR: No matching distribution found for jax\n", "says 'ERROR: No matching distribution"),
    ],
)
def test_a_version_the_index_lacks_is_one_line(requirement, listing, expected):
    message = noxfile.index_problem(requirement, listing)
    assert message is not None and expected in message and "\n" not in message
    assert message.startswith(f"{requirement} cannot be installed: ")
    assert noxfile.index_problem("jax==0.10.1", JAX["jax"]) is None


def test_an_uninstallable_version_is_left_out_in_one_line_and_the_others_still_run(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    listings = {**JAX, "torch": "torch (2.13.0+cpu)\nAvailable versions: 2.13.0+cpu, 2.0.0+cpu"}
    session = Recording(["jax==0.10.9", "jax==0.10.1", "jax==0.10.2", "torch==2.0.0"], listings, ("torch==2.0.0",))
    noxfile.versions(session)
    assert len(session.warnings) == 3 and all("\n" not in w for w in session.warnings)
    assert session.warnings[0].startswith("jax==0.10.9 cannot be installed: the indexes pip reaches offer jax 0.10.2")
    # PyTorch's index unreachable for the one torch build: said with the index and the way out
    assert session.warnings[1].startswith("torch==2.0.0+cpu cannot be installed: torch==2.0.0+cpu is served by")
    assert (
        "BENCH_TORCH_INDEX" in session.warnings[1] and "left out, the other versions still run" in session.warnings[1]
    )
    assert session.warnings[2].startswith("torch==2.13.0+cpu is the only version of torch installed")
    (compared,) = session.bench("versions")
    assert [Path(p).name for p in compared[5:7]] == ["jax-0.10.1", "jax-0.10.2"]


@pytest.mark.parametrize(
    "posargs, expected",
    [
        (["jax>=0.10"], "name a version as NAME==VERSION"),
        (["scipy==1.0"], "name a version as NAME==VERSION of numpy, jax, torch, tensorflow"),
        (["jax==0.10.2"], "name a second version of jax"),
        (["jax==0.10.1", "--backend", "torch"], "--backend: nox -s versions chooses"),
        (["jax==0.10.1", "--rounds", "0"], "--rounds 0: give a whole number"),
    ],
)
def test_the_session_refuses_bad_input_in_one_line(posargs, expected):
    with pytest.raises(SessionError) as caught:
        noxfile.versions(Recording(posargs, JAX))
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_without_versions_the_session_lists_what_the_index_offers():
    session = Recording([], JAX)
    noxfile.versions(session)
    assert "name the versions to compare" in session.logs[0] and "jax: 0.10.2, 0.10.1, 0.10.0" in session.logs[1]
    assert not session.bench("run")
