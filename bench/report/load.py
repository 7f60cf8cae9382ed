"""Run folders, read: the tidy results (through :func:`bench.results.load`), the
agreement check, the environment and the article's pictures.

A corrupt, truncated or foreign file is left out and named once in
:attr:`Run.skipped`; whatever else the folder holds is still used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import results, safe_io, settled_file
from bench.agreement_file import Agreement, AgreementError, AgreementRow
from bench.article import ArticlePictures
from bench.cli import UsageError
from bench.environment import Environment
from bench.fmt import one_line

if TYPE_CHECKING:
    import pandas as pd

#: where ``python -m bench report`` looks for the newest run when none is named
DEFAULT_RESULTS = results.RESULTS_ROOT
#: the run's plan (the cells it was asked for): bench.runner.folder writes it
PLAN = "plan.json"


@dataclass
class Run:
    """One run folder, loaded."""

    path: Path
    tag: str  #: the name charts and tables show for this run
    table: pd.DataFrame  #: in the schema of :mod:`bench.results` (may be empty)
    env: Environment = field(default_factory=Environment)
    agreement: tuple[AgreementRow, ...] = ()  #: the rows of its agreement.json
    article: dict[str, ArticlePictures] = field(default_factory=dict)  #: backend -> its article pictures
    skipped: list[str] = field(default_factory=list)  #: ``path: reason``, one line per file left out
    planned: list[dict] = field(default_factory=list)  #: plan.json's cells (their results columns), if any
    settled: list[dict] = field(default_factory=list)  #: settled.json's groups (:mod:`bench.settled_file`), if any

    @property
    def machine(self) -> str:
        return self.env.machine or ""


class Skipped:
    """The files left out while loading one folder: the first reason given for each."""

    def __init__(self) -> None:
        self.reasons: dict[Path, str] = {}

    def __call__(self, path: Path, reason: str) -> None:  #: a :data:`bench.results.OnSkip`
        self.reasons.setdefault(Path(path), reason)

    def lines(self) -> list[str]:
        return [f"{path}: {reason}" for path, reason in self.reasons.items()]


def _read_json(path: Path, skip: Skipped) -> Any:
    doc, why = safe_io.read_json(path)
    if why:
        skip(path, why)
    return doc


def load_results(run_dir: Path, skip: Skipped, probe_floor: float | None = None) -> pd.DataFrame:
    """The run's tidy table through :func:`bench.results.load` (never rewriting ``results.csv``).

    If the folder has cell records but none is usable, its ``results.csv`` is used.
    """
    csv = run_dir / results.CSV
    try:
        frame = results.load(run_dir, write_csv=False, on_skip=skip, probe_floor=probe_floor)
        if len(frame) == 0 and csv.is_file() and (run_dir / results.CELLS).is_dir():
            frame = results.load(csv, write_csv=False, on_skip=skip)
    except (ValueError, OSError, KeyError) as exc:  # pandas' parser errors are ValueErrors
        skip(csv, f"not a readable results table ({one_line(exc, name=False)})")
        return results.empty()
    return frame.reset_index(drop=True)


def load_agreement(run_dir: Path, skip: Skipped) -> tuple[AgreementRow, ...]:
    """The rows of the folder's agreement.json in any of its formats (:meth:`Agreement.from_json`); none
    where it has none, or where it is no agreement check (named in :attr:`Run.skipped`)."""
    path = run_dir / "agreement.json"
    if not path.is_file():
        return ()
    doc = _read_json(path, skip)
    if doc is None:
        return ()
    try:
        return Agreement.from_json(doc).rows
    except AgreementError as exc:
        skip(path, str(exc))
        return ()


def load_article(run_dir: Path, skip: Skipped) -> dict[str, ArticlePictures]:
    out = {}
    for path in sorted(run_dir.glob("article-*.json")):
        doc = _read_json(path, skip)
        if doc is None:
            continue
        try:
            pictures = ArticlePictures.from_json(doc)
        except ValueError as exc:
            skip(path, str(exc))
            continue
        out[pictures.backend] = pictures
    return out


def load_settled(run_dir: Path, skip: Skipped) -> list[dict]:
    """The groups of the folder's settled.json (``python -m bench settle``); none where it has none, or
    where any of it fails its checks (named in :attr:`Run.skipped`: the whole file is left out)."""
    try:
        return settled_file.read(run_dir)
    except settled_file.SettledError as exc:
        skip(run_dir / settled_file.NAME, str(exc))
        return []


def load_env(run_dir: Path, skip: Skipped) -> Environment:
    """The folder's env.json in any of its formats (:meth:`Environment.from_json`); empty where it has none."""
    path = run_dir / "env.json"
    if not path.is_file():
        return Environment()
    env = _read_json(path, skip)
    if env is not None and not isinstance(env, dict):
        skip(path, "not an environment record (a JSON object)")
    return Environment.from_json(env)


def load_run(path: str | Path, tag: str | None = None, probe_floor: float | None = None) -> Run:
    """Everything a report needs from one run folder; a folder with nothing usable is a usage error.
    ``probe_floor``: the machine's fastest speed probe over the runs compared with this one
    (:func:`shared_probe_floor`), where faster than this run's own."""
    run_dir = Path(path)
    if not run_dir.exists():
        raise UsageError(f"run folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a run folder")
    skip = Skipped()
    env = load_env(run_dir, skip)
    frame = load_results(run_dir, skip, probe_floor)
    agreement, article = load_agreement(run_dir, skip), load_article(run_dir, skip)
    planned = load_plan(run_dir, skip)
    settled = load_settled(run_dir, skip)
    if settled and (env.cluster or env.machines):  # settle times one machine's rows: a cluster run's are many
        skip(run_dir / settled_file.NAME, "a cluster run's rows were timed on several machines: not read")
        settled = []
    run = Run(run_dir, tag or run_dir.resolve().name, frame, env, agreement, article, skip.lines(), planned, settled)
    if len(run.table) == 0 and not run.agreement and not run.article:
        detail = f" (skipped: {'; '.join(run.skipped)})" if run.skipped else ""
        raise UsageError(
            f"no results in {run_dir}: expected results.csv, cells/*.json, agreement.json or article-*.json{detail}"
        )
    return run


def shared_probe_floor(paths: list[Path]) -> float | None:
    """The fastest speed probe over run folders of one machine (a name, and the same name and CPU in
    every env.json), or None where they come from several machines or hold no probe. Runs compared with
    each other are then judged against the machine at its best in any of them: a cell timed in a slow
    stretch of one run is left out, or gets no verdict, instead of reading as a change of the code."""
    from bench import uncertainty

    machines = {(env.name, env.cpu) for env in (load_env(Path(p), Skipped()) for p in paths)}
    if len(machines) != 1 or next(iter(machines))[0] is None:
        return None
    records = [rec for p in paths if Path(p).is_dir() for rec in results.scan(Path(p))[0].values()]
    return uncertainty.fastest_probe(records)


def load_plan(run_dir: Path, skip: Skipped) -> list[dict]:
    """The identity columns of every cell ``plan.json`` asked for (none where there is no plan;
    a damaged plan is named in a warning and left out, an entry that is no cell spec skipped)."""
    from bench.cells import CellSpec, SpecError

    path = run_dir / PLAN
    if not path.is_file():
        return []
    doc = _read_json(path, skip)
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        skip(path, "not a plan (an object with a list of cells)")
        return []
    planned = []
    for item in doc["cells"]:
        try:
            planned.append(CellSpec.from_json(item).columns())
        except (SpecError, KeyError, TypeError, ValueError):
            continue
    return planned


def incomplete(run: Run) -> tuple[set[str], set[str]]:
    """plan.json's cells without an ok record: ``(missing ids, not-ok ids)``."""
    if not run.planned:
        return set(), set()
    frame = run.table
    have = set(frame["cell"].dropna()) if len(frame) else set()
    ok = set(frame.loc[(frame["status"] == "ok").fillna(False).astype(bool), "cell"].dropna()) if len(frame) else set()
    ids = {c["cell"] for c in run.planned}
    return ids - have, (ids & have) - ok


def unique_tags(paths: list[Path]) -> list[str]:
    """A distinct short name per folder: its name, else parent/name, else name#k."""
    names = [p.resolve().name for p in paths]
    if len(set(names)) == len(names):
        return names
    parents = [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]
    if len(set(parents)) == len(parents):
        return parents
    return [f"{n}#{i + 1}" for i, n in enumerate(names)]


def load_runs(paths: list[Path], probe_floor: float | None = None) -> list[Run]:
    """Several run folders; when each comes from its own machine, each is named by its machine."""
    runs = [load_run(p, tag, probe_floor) for p, tag in zip(paths, unique_tags([Path(p) for p in paths]))]
    machines = [run.machine for run in runs]
    if len(runs) > 1 and all(machines) and len(set(machines)) == len(machines):
        for run, machine in zip(runs, machines):
            run.tag = machine
    return runs


def combine(runs: list[Run]) -> pd.DataFrame:
    """One table of every run: ``run`` is each run's tag, ``role`` what a row is (protocol,
    witness or article: :func:`bench.cells.role`), ``series`` the name a chart shows (``label``,
    plus `` @ run`` when there are several runs): a name to show, never to read."""
    import pandas as pd

    from bench.cells import role

    frames = []
    for run in runs:
        frame = run.table.copy()
        frame["run"] = pd.array([run.tag] * len(frame), dtype="string")
        if run.machine:
            frame.loc[frame["machine"].fillna("") == "", "machine"] = run.machine
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if frames else results.empty()
    frame["series"] = (frame["label"] + " @ " + frame["run"]) if len(runs) > 1 else frame["label"]
    if frame["threads"].nunique() > 1:  # rows that differ only in thread count stay apart in every chart
        frame["series"] = frame["series"] + " · " + frame["threads"].astype("string") + " threads"
    frame["series"] = frame["series"].astype("string")
    frame["role"] = pd.array([role(b, v) for b, v in zip(frame["backend"], frame["variant"])], dtype="string")
    return frame


def newest_run(root: Path = results.RESULTS_ROOT) -> Path:
    found = results.latest_run(root)
    if found is None:
        raise UsageError(f"no run folder given and none found under {root}/; run `python -m bench run` first")
    return found
