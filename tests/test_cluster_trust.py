"""The cluster mode trusts nothing a Dask worker sends, speaks TLS, and fails in one line.

Anyone who reaches a Dask scheduler can join it as a worker. A rogue worker's
records and answers must not write outside the run folder, put cells the run
never asked for into its results, or pass for records that a run folder would
refuse on disk; a refused cell counts as not run. ``tls://`` works with the
certificates of Dask's own configuration or is refused in one line; a
malformed address, a lost scheduler and Ctrl-C are one line each with the
right exit status.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import results
from bench.cli import UsageError
from bench.environment import Environment, MachineState
from bench.runner import cluster, intake
from bench.runner.command import Work
from bench.runner.config import RunConfig
from bench.runner.folder import RunFolder
from bench.runner.plan import make_plan

from .support import FAULT_PLUGINS, QUICK, REPO, SLOW_RUN, bench_cli, sigint_as_a_terminal

distributed = pytest.importorskip("distributed", reason="the cluster extra (dask[distributed]) is part of [dev]")

CONFIG = RunConfig(backend=("numpy",), problem=("quadratic",), size=("article",), scheduler="local:1")
SPECS = make_plan(CONFIG, [])
ASKED = [s.id for s in SPECS]
GROUP = "numpy-cpu-t1"
#: cell ids and names a rogue worker might send, aimed outside the run folder
HOSTILE_IDS = ["../../x", "../outside", "/tmp/absolute", "a/b", "..", "", "x\x00y", "\x1b[31mred", "n" * 5000]


def genuine(cell_id: str, **changes) -> dict:
    """An honest worker's record of ``cell_id``."""
    spec = next(s for s in SPECS if s.id == cell_id)
    rec = results.record(**spec.columns(), status="ok", median=1e-3, rounds=3, machine="node-1", run="run")
    return {**rec, **changes}


def files_outside(root: Path, run: Path) -> dict[str, bytes | str]:
    """Every file and link under ``root`` but outside ``run``, with its content (or link target)."""
    found: dict[str, bytes | str] = {}
    for folder, dirs, names in os.walk(root):
        if Path(folder) == run or run in Path(folder).parents:
            dirs[:] = []
            continue
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            found[path] = os.readlink(path) if os.path.islink(path) else Path(path).read_bytes()
    return found


def files_inside(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture
def place(tmp_path):
    """``(root, run folder, lines said)``: a run folder two levels under ``root``, and a site-packages
    folder beside it (where a rogue worker aims a ``.pth`` file)."""
    (tmp_path / "site-packages").mkdir()
    (tmp_path / "site-packages" / "keep.py").write_text("x = 1\n")
    run = RunFolder(tmp_path / "results" / "run")
    run.create()
    return tmp_path, run, []


def test_an_honest_answer_and_its_records_are_kept(place):
    root, run, said = place
    take = intake.Intake(run, {GROUP: ASKED}, said.append)
    assert take.take_records([{"worker": "tcp://w:1", "record": genuine(i)} for i in ASKED]) == sorted(ASKED)
    machine = take.take_answer(
        GROUP,
        {
            "worker": "tcp://w:1",
            "machine": "node-1",
            "env": {"cpu": "x", "versions": {"numpy": "2"}},
            "state": {"verdict": None, "load": [0.1, 0.2]},
            "files": {f"bench-{GROUP}.json": b"{}", f"bench-{GROUP}-2.json": b"{}"},
            "logs": {f"{GROUP}.log": b"log"},
        },
    )
    assert machine == "node-1" and not said
    assert sorted(results.load(run.path)["cell"]) == sorted(ASKED)
    assert {f"node-1-bench-{GROUP}.json", f"node-1-bench-{GROUP}-2.json", f"logs/node-1-{GROUP}.log"} <= files_inside(
        run.path
    )
    assert take.machines == {"node-1": Environment(cpu="x", versions={"numpy": "2"})}
    assert take.states == {f"node-1/{GROUP}": MachineState()}  # a key env.json does not have is dropped
    take.take_records([{"worker": "tcp://w:2", "record": genuine(ASKED[0], machine="node-2")}])
    assert take.repeated == [ASKED[0]] and "measured again" in said[-1]
    assert json.loads(results.cell_path(run.path, ASKED[0]).read_text())["machine"] == "node-1"  # the first is kept


HOSTILE_RECORDS = [
    ("a cell not asked for", genuine(ASKED[0], cell="quadratic-article-numpy-float64-objective-cpu-t9")),
    *[(f"id {i!r:.20}", genuine(ASKED[0], cell=i)) for i in HOSTILE_IDS],
    ("the wrong schema", genuine(ASKED[0], schema="autodiff-bench/cell/0")),
    ("an unknown status", genuine(ASKED[0], status="excellent")),
    ("text where a number belongs", genuine(ASKED[0], median="fast")),
    ("a fraction of a count", genuine(ASKED[0], rounds=2.5)),
    ("a number too long for JSON", genuine(ASKED[0], rounds=10**5000)),
    ("a nested value", genuine(ASKED[0], reason={"a": [1, {"b": 2}]})),
    ("a deep value", genuine(ASKED[0], reason=[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]])),
    ("a huge reason", genuine(ASKED[0], reason="x" * (intake.MAX_RECORD_CHARS + 1))),
    ("a machine with a slash", genuine(ASKED[0], machine="../../evil")),
    ("a machine with an escape", genuine(ASKED[0], machine="m\x1b[2J")),
    ("bytes", genuine(ASKED[0], reason=b"bytes")),
    ("not a record", ["cell", ASKED[0]]),
    ("nothing", None),
]


@pytest.mark.parametrize("rec", [r for _, r in HOSTILE_RECORDS], ids=[name for name, _ in HOSTILE_RECORDS])
def test_a_hostile_record_is_refused_with_one_line_naming_the_worker(place, rec):
    root, run, said = place
    before = files_outside(root, run.path)
    take = intake.Intake(run, {GROUP: ASKED}, said.append)
    assert take.take_records([{"worker": "tcp://rogue:1", "record": rec}]) == []
    assert files_outside(root, run.path) == before
    assert files_inside(run.path) == set() and take.received == {} and take.refused == 1
    assert len(said) == 1 and said[0].startswith("warning: refused from Dask worker 'tcp://rogue:1': ")
    assert "\x1b" not in said[0] and "\n" not in said[0] and len(said[0]) < 400


def test_a_deeply_nested_or_huge_message_is_refused_not_a_crash(place):
    root, run, said = place
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    take = intake.Intake(run, {GROUP: ASKED}, said.append)
    assert take.take_records([{"worker": "tcp://rogue:1", "record": genuine(ASKED[0], extra=deep)}]) == [ASKED[0]]
    assert "extra" not in json.loads(results.cell_path(run.path, ASKED[0]).read_text())  # the schema's columns only
    nested = {"env": deep, "machine": "m", "state": {"verdict": deep}}
    assert take.take_answer(GROUP, {**nested, "worker": "tcp://rogue:1"}) == "m"
    assert take.machines == {} and take.states == {}
    assert "nested deeper" in said[-1] and take.refused == 2
    take.take_records(["junk"] * 10_000)  # many refusals: still one line per worker
    assert len(said) == 2 and "and 9996 more" in said[-1]


HOSTILE_FILES = {
    "../../site-packages/evil.pth": b"import os",
    "/{root}/site-packages/abs.pth": b"import os",
    f"logs/../../bench-{GROUP}.json": b"{}",
    f"bench-{GROUP}.json/..": b"{}",
    f"bench-{GROUP}\x00.json": b"{}",
    f"bench-{GROUP}" + "-1" * 100 + ".json": b"{}",
    "plan.json": b"{}",
    "env.json": b"{}",
    "results.csv": b"cell\n",
    "evil.pth": b"import os",
    f"bench-{GROUP}.pth": b"import os",
    f"bench-{GROUP}-2.json": "not bytes",
}


@pytest.mark.parametrize(
    "machine, files, logs",
    [
        ("node-1", HOSTILE_FILES, {f"../{GROUP}.log": b"", f"{GROUP}.log/../../../x.log": b"", "other.log": b""}),
        ("../../site-packages", {f"bench-{GROUP}.json": b"{}"}, {f"{GROUP}.log": b""}),
        ("/abs", {f"bench-{GROUP}.json": b"{}"}, {}),
        ("a/b", {f"bench-{GROUP}.json": b"{}"}, {}),
        ("..", {f"bench-{GROUP}.json": b"{}"}, {}),
        ("m" * 300, {f"bench-{GROUP}.json": b"{}"}, {}),
        (None, {f"bench-{GROUP}.json": b"{}"}, {}),
    ],
    ids=["file names", "machine ..", "machine absolute", "machine slash", "machine dots", "machine long", "none"],
)
def test_a_hostile_answer_writes_nothing_outside_the_run_folder(place, machine, files, logs):
    root, run, said = place
    before = files_outside(root, run.path)
    files = {k.replace("{root}", str(root).lstrip("/")): v for k, v in files.items()}
    take = intake.Intake(run, {GROUP: ASKED}, said.append)
    answer = {"worker": "tcp://rogue:1", "machine": machine, "env": {}, "state": None, "files": files, "logs": logs}
    got = take.take_answer(GROUP, answer)
    assert files_outside(root, run.path) == before
    assert not list(root.rglob("*.pth"))
    assert files_inside(run.path) <= {f"node-1-bench-{GROUP}.json"}  # nothing but an expected name, if any
    assert len(said) == 1 and "refused from Dask worker 'tcp://rogue:1'" in said[0] and "\x00" not in said[0]
    assert got == (machine if machine == "node-1" else None)


def test_a_file_over_the_size_limit_is_refused(place, monkeypatch):
    root, run, said = place
    monkeypatch.setattr(intake, "MAX_FILE_BYTES", 10)
    take = intake.Intake(run, {GROUP: ASKED}, said.append)
    take.take_answer(GROUP, {"machine": "m", "env": {}, "files": {f"bench-{GROUP}.json": b"x" * 11}})
    assert files_inside(run.path) == set() and "larger than" in said[0]


def test_a_link_planted_at_a_file_name_is_replaced_not_followed(place):
    root, run, said = place
    (run.path / "logs").mkdir()
    target = root / "site-packages" / "keep.py"
    (run.path / "logs" / f"m-{GROUP}.log").symlink_to(target)
    (run.path / f"m-bench-{GROUP}.json").symlink_to(root / "site-packages" / "dangling.pth")
    take = intake.Intake(run, {GROUP: ASKED}, said.append)
    take.take_answer(GROUP, {"machine": "m", "env": {}, "files": {f"bench-{GROUP}.json": b"{}"}, "logs": {}})
    take.take_answer(GROUP, {"machine": "m", "env": {}, "logs": {f"{GROUP}.log": b"log"}})
    assert target.read_text() == "x = 1\n" and not (root / "site-packages" / "dangling.pth").exists()


# -- generated hostile records and answers ---------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
COLUMN_NAMES = st.sampled_from(["schema", *results.ALL_COLUMNS, "extra"])
CELL_IDS = st.sampled_from([*ASKED, *HOSTILE_IDS]) | st.text(max_size=30)
RECORDS = st.builds(
    lambda base, changes, cell: {**genuine(base), **changes, **({"cell": cell} if cell is not None else {})},
    st.sampled_from(ASKED),
    st.dictionaries(COLUMN_NAMES, JSON_VALUES, max_size=4),
    st.none() | CELL_IDS,
)
MESSAGES = st.lists(
    st.fixed_dictionaries({"worker": st.text(max_size=20), "record": RECORDS}) | JSON_VALUES, max_size=6
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=MESSAGES)
def test_generated_hostile_records_leave_only_valid_records_of_cells_asked_for(batch):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        run = RunFolder(root / "results" / "run")
        run.create()
        said: list[str] = []
        take = intake.Intake(run, {GROUP: ASKED}, said.append)
        stored = take.take_records(batch)
        assert files_outside(root, run.path) == {}
        assert files_inside(run.path) == {f"{results.CELLS}/{i}.json" for i in stored}
        good, bad = results.scan(run.path)
        assert not bad and set(good) == set(stored) <= set(ASKED)
        assert all(line.startswith(("warning: refused from ", "note: ")) for line in said)
        assert all("\n" not in line and "\x1b" not in line for line in said)


FILE_NAMES = st.sampled_from([f"bench-{GROUP}.json", f"{GROUP}.log", "../x.pth", "/x.pth", "..", "."]) | st.text(
    max_size=40
)
ANSWERS = st.fixed_dictionaries(
    {
        "machine": st.sampled_from(["node-1", "../x", "/x", "x/y", ".."]) | st.text(max_size=20),
        "env": JSON_VALUES,
        "state": JSON_VALUES,
        "files": st.dictionaries(FILE_NAMES, st.binary(max_size=4) | JSON_VALUES, max_size=4) | JSON_VALUES,
        "logs": st.dictionaries(FILE_NAMES, st.binary(max_size=4), max_size=4),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=ANSWERS | JSON_VALUES)
def test_generated_hostile_answers_write_only_expected_names_inside_the_run_folder(answer):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        run = RunFolder(root / "results" / "run")
        run.create()
        take = intake.Intake(run, {GROUP: ASKED}, lambda line: None)
        machine = take.take_answer(GROUP, answer)
        assert files_outside(root, run.path) == {}
        for name in files_inside(run.path):
            assert machine is not None and intake.MACHINE.fullmatch(machine)
            assert name in (f"{machine}-bench-{GROUP}.json", f"logs/{machine}-{GROUP}.log"), name
        json.dumps({k: e.to_json() for k, e in take.machines.items()}, allow_nan=False)  # env.json: plain JSON
        json.dumps({k: s.to_json() for k, s in take.states.items()}, allow_nan=False)


# -- the whole client against a rogue worker ---------------------------------------------------------


def rogue_group_task(group, specs, retried, config, run_name, queue_name, done_name):
    """A rogue worker's task: records of cells never asked for, ids and names aimed outside the run folder."""
    from distributed import Queue

    root = Path(config["tag"])  # the test's folder, passed where the tag goes
    queue = Queue(queue_name)
    for cell_id in ["../../escaped", "../../site-packages/evil", "not-asked"]:
        queue.put({**genuine(ASKED[0]), "cell": cell_id})  # a bare record, as a worker once sent them
        queue.put({"worker": "tcp://rogue:1", "record": {**genuine(ASKED[0]), "cell": cell_id}})
    queue.put({"worker": "tcp://rogue:1", "record": genuine(ASKED[0], schema="other")})
    queue.put({"worker": "tcp://rogue:1", "record": genuine(ASKED[1], machine="../../site-packages/m")})
    queue.put({"worker": "tcp://rogue:1", "record": genuine(ASKED[2])})  # the one acceptable record
    pth = {f"../../site-packages/evil{i}.pth": b"import os" for i in range(2)}
    pth[f"{root}/site-packages/abs.pth"] = b"import os"
    return {
        "group": group,
        "worker": "tcp://rogue:1",
        "machine": "rogue",
        "shipped": [],
        "files": {**pth, "logs/../../../site-packages/x.log": b""},
        "logs": {"../../../site-packages/y.pth": b""},
        "env": {"cpu": "?"},
        "state": None,
    }


@pytest.fixture(scope="module")
def in_process_cluster():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, resources={cluster.RESOURCE: 1}, dashboard_address=None
    ) as local:
        yield local


def test_a_rogue_worker_cannot_write_outside_the_run_folder_nor_add_cells(place, in_process_cluster, monkeypatch):
    root, run, _ = place
    monkeypatch.setattr(cluster, "run_group_task", rogue_group_task)
    before = files_outside(root, run.path)
    out = io.StringIO()
    from rich.console import Console

    console = Console(file=out, width=400)
    config = RunConfig(**{**CONFIG.__dict__, "tag": str(root)})
    client = distributed.Client(in_process_cluster)
    cluster.run(config, run, Work(SPECS, SPECS, {}, "here"), console, (client, None))
    assert files_outside(root, run.path) == before
    assert not list(root.rglob("*.pth")) and not list(root.rglob("escaped*"))
    frame = results.load(run.path)
    assert sorted(frame["cell"]) == sorted(ASKED)  # no cell it did not ask for
    ok = frame[frame["status"] == "ok"]
    assert list(ok["cell"]) == [ASKED[2]]  # the one acceptable record; the others count as not run
    assert set(frame[frame["cell"] != ASKED[2]]["status"]) == {"not_run"}
    reasons = dict(zip(frame["cell"], frame["reason"]))
    assert all("record from the cluster was refused" in reasons[i] for i in ASKED[:2])
    text = out.getvalue()
    assert "refused from Dask worker 'tcp://rogue:1'" in text and "which this run did not ask for" in text
    env = json.loads((run.path / "env.json").read_text())
    assert env["cluster"]["received"] == 1 and env["cluster"]["refused"] >= 10


# -- addresses, TLS, a lost scheduler, Ctrl-C ----------------------------------------------------------

MALFORMED = [
    "",
    "nowhere",
    "tcp://",
    "tcp://host",
    "tcp://host:port",
    "tcp://host:0",
    "tcp://host:70000",
    "tcp://[::1",
    "tcp://a b:8786",
    "tcp://host:8786\n",
    "tcp://ho\x1bst:8786",
    "foo://host:8786",
    "inproc://host:1",
    "local:",
    "local:0",
    "local:65",
    "local:²",
    "local:-1",
    "tls://",
]


@pytest.mark.parametrize("address", MALFORMED)
def test_a_malformed_address_is_a_usage_error(address):
    with pytest.raises(UsageError, match="--scheduler"):
        cluster.check_address(address)


@settings(max_examples=300, deadline=None)
@given(
    address=st.text(max_size=30)
    | st.builds(lambda s, r: s + r, st.sampled_from(["tcp://", "tls://", "local:"]), st.text(max_size=20))
)
def test_any_address_is_accepted_or_a_usage_error(address):
    try:
        cluster.check_address(address)
    except UsageError as exc:
        assert "\n" not in str(exc)


def test_a_malformed_address_on_the_command_line_writes_nothing(tmp_path):
    proc = bench_cli("run", "--backend", "numpy", "--out", tmp_path / "run", "--scheduler", "tcp://host:x", timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "--scheduler" in proc.stderr
    assert not (tmp_path / "run").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TLS_NOWHERE = "tls://127.0.0.1:9"


def tls_env(cert: Path, key: Path) -> dict[str, str]:
    return {
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(cert),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key),
    }


def test_tls_without_certificates_is_refused_in_one_line(tmp_path):
    env = {k: "" for k in tls_env(Path(), Path())}
    proc = bench_cli(
        "run", "--backend", "numpy", "--out", tmp_path / "run", "--scheduler", "tls://127.0.0.1:9", env=env
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "tls:// needs the client's certificates" in lines[0]
    assert "DASK_DISTRIBUTED__COMM__TLS__CA_FILE" in lines[0]
    assert not (tmp_path / "run").exists()


def test_tls_with_a_missing_certificate_file_is_refused_in_one_line(tmp_path):
    env = tls_env(tmp_path / "missing.pem", tmp_path / "missing.key")
    proc = bench_cli(
        "run", "--backend", "numpy", "--out", tmp_path / "run", "--scheduler", "tls://127.0.0.1:9", env=env
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "cannot be used" in proc.stderr
    assert not (tmp_path / "run").exists()


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) and its key, made with openssl."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-days", "2", "-subj", f"/CN={name}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


class DaskProcesses:
    """A ``dask scheduler`` and one ``dask worker`` offering the bench resource, as processes of this test;
    ``tls``: the certificate and key of both (a self-signed certificate is its own CA)."""

    def __init__(self, tmp_path: Path, tls: tuple[Path, Path] | None = None):
        port = str(free_port())
        self.address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{port}"
        env = {**os.environ, **FAULT_PLUGINS, "PYTHONPATH": str(REPO)}
        security = ["--tls-ca-file", str(tls[0]), "--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
        logs = tmp_path / "scheduler.log", tmp_path / "worker.log"
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port]
            + ["--no-dashboard", *security],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs[0].open("w"),
        )
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1"]
            + ["--resources", f"{cluster.RESOURCE}=1", "--no-dashboard", *security],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs[1].open("w"),
        )
        end = time.monotonic() + 120
        while "Registered to" not in logs[1].read_text() and time.monotonic() < end:
            assert self.worker.poll() is None and self.scheduler.poll() is None, (
                logs[0].read_text() + logs[1].read_text()
            )
            time.sleep(0.2)

    def close(self) -> None:
        for proc in (self.worker, self.scheduler):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a self-signed certificate")
def test_tls_runs_with_certificates_from_dasks_configuration_and_refuses_a_stranger(tmp_path):
    cert, key = self_signed(tmp_path, "bench-cluster")
    dask = DaskProcesses(tmp_path, (cert, key))
    try:
        args = ["--backend", "numpy", "--problem", "quadratic", "--size", "article", *QUICK]
        good = bench_cli("run", *args, "--out", tmp_path / "run", "--scheduler", dask.address, env=tls_env(cert, key))
        assert good.returncode == 0, good.stdout + good.stderr
        assert set(results.load(tmp_path / "run")["status"]) == {"ok"}
        other, other_key = self_signed(tmp_path, "stranger")  # a certificate the cluster's CA did not sign
        stranger = bench_cli(
            "run", *args, "--out", tmp_path / "no", "--scheduler", dask.address, env=tls_env(other, other_key)
        )
        assert stranger.returncode == 2 and len(stranger.stderr.strip().splitlines()) == 1
        assert "cannot reach the Dask scheduler" in stranger.stderr and not (tmp_path / "no").exists()
    finally:
        dask.close()


def test_a_lost_scheduler_keeps_the_records_and_says_how_to_resume(tmp_path):
    dask = DaskProcesses(tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bench", "run", *SLOW_RUN, "--problem", "quadratic"]
    runner = subprocess.Popen(
        [*cmd, "--scheduler", dask.address, "--out", str(out)],
        cwd=REPO,
        env={**os.environ, **FAULT_PLUGINS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 300
        while len(list((out / results.CELLS).glob("*.json"))) < 3 and time.monotonic() < end:
            time.sleep(0.1)
        kept = {p.name: p.read_bytes() for p in (out / results.CELLS).glob("*.json")}
        assert len(kept) >= 3, "the cluster run never recorded three cells"
        dask.scheduler.kill()
        stdout, stderr = runner.communicate(timeout=300)
    finally:
        if runner.poll() is None:
            runner.kill()
        dask.close()
    assert runner.returncode == 3, stdout + stderr  # some cells did not end ok: they never ran
    assert "Traceback" not in stderr and "could not be written" not in stdout + stderr
    lost = [line for line in stdout.splitlines() if "lost the Dask scheduler" in line]
    assert lost and "--resume" in stdout
    for name, data in kept.items():
        assert (out / results.CELLS / name).read_bytes() == data
    frame = results.load(out)
    assert len(frame) == 10 and set(frame["status"]) <= {"ok", "not_run"} and (frame["status"] == "not_run").any()


def test_ctrl_c_on_the_cluster_path_keeps_the_records_and_exits_130(tmp_path):
    out = tmp_path / "run"
    runner = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", *SLOW_RUN, "--problem", "quadratic", "--scheduler", "local:2"]
        + ["--out", str(out)],
        cwd=REPO,
        env={**os.environ, **FAULT_PLUGINS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=sigint_as_a_terminal,
    )
    try:
        end = time.monotonic() + 300
        while len(list((out / results.CELLS).glob("*.json"))) < 2 and time.monotonic() < end:
            time.sleep(0.1)
        kept = {p.name: p.read_bytes() for p in (out / results.CELLS).glob("*.json")}
        assert len(kept) >= 2, "the cluster run never recorded two cells"
        os.killpg(runner.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
        stdout, stderr = runner.communicate(timeout=300)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "interrupted: finished cells are kept" in stdout and "--resume" in stdout
    for name, data in kept.items():
        assert (out / results.CELLS / name).read_bytes() == data
