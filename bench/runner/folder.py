"""The run folder: one runner at a time, committed results never rewritten, damage repaired or refused.

Every file in a run folder can be missing, truncated, not JSON, of the wrong
shape, duplicated under another name, or a folder. Each is either repaired
from what is certain or refused in one line, never a traceback and never a
silent change of what is run or counted:

* a damaged cell record is set aside under ``cells/.damaged/`` (kept, not
  loaded) and its cell measured again;
* a damaged ``plan.json`` is set aside and the plan rebuilt from the finished
  records (and the filters given), with a warning that names what is unknown;
  with neither, the run is refused;
* a damaged ``env.json`` is set aside and written anew;
* a ``results.csv`` with rows that no cell record backs (a committed reference
  run, a table copied in) makes the folder read-only for runs: refused;
* the runner's scratch (``.running/``, ``.plans/``) is cleared at start.

One runner per folder: :meth:`RunFolder.lock` (the ``filelock`` package).
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import results, safe_io
from ..cells import ARTICLE, CellSpec, SpecError
from ..cli import PLUGINS_VARIABLE, UsageError
from ..environment import Environment

PLAN = "plan.json"
ENV = "env.json"
LOCK = ".lock"
OWNER = ".lock-owner.json"
DAMAGED = ".damaged"
SCRATCH = (".running", ".plans")

Warn = Callable[[str], None]


def choose(out: Path | None, resume: bool) -> Path:
    """The run folder: ``--out``, the latest under results/ (``--resume``), or a new dated one."""
    if out is not None:
        return out
    if resume:
        found = results.latest_run()
        if found is None:
            raise UsageError(f"--resume without --out needs an earlier run folder under {results.RESULTS_ROOT}/")
        return found
    return results.RESULTS_ROOT / results.now(compact=True)


class RunFolder:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- checks before anything is written ---------------------------------------------------
    def refuse_if_unusable(self, resume: bool) -> None:
        """One-line refusals for a folder a run must not write into (reads only)."""
        p = self.path
        if p.is_symlink():
            raise UsageError(
                f"output folder {p} is a symbolic link: a run never writes through one; give the folder itself"
            )
        if resume and not p.exists():
            raise UsageError(f"nothing to resume at {p}: no such folder; drop --resume to start a run")
        if p.exists() and not p.is_dir():
            raise UsageError(f"cannot write to output folder {p}: it exists and is not a folder")
        for name in (results.CELLS, "logs", *SCRATCH):
            if (p / name).exists() and not (p / name).is_dir():
                raise UsageError(f"run folder {p} holds a file {name} where a folder belongs; move it away")
        csv = p / results.CSV
        if csv.exists() and not csv.is_file():
            raise UsageError(
                f"run folder {p} holds a folder {results.CSV} where the results table belongs; move it away"
            )
        if csv.is_file() and not results.csv_is_derived(p):
            raise UsageError(
                f"run folder {p} holds a {results.CSV} whose rows no cell record backs (committed or "
                "copied results): a run never rewrites them; choose another --out"
            )
        foreign = self.foreign_entries()
        if foreign:
            raise UsageError(
                f"output folder {p} is not a run folder (no {PLAN} or {results.CELLS}/, and it holds "
                f"{foreign[0]!r}{' ...' if len(foreign) > 1 else ''}): a run never writes into it; choose a new "
                "or empty folder"
            )
        if not resume and any((p / results.CELLS).glob("*.json")):
            raise UsageError(
                f"output folder {p} already holds results; add --resume to continue it or choose another --out"
            )

    def foreign_entries(self) -> list[str]:
        """What a folder without a plan or cell records holds that no run writes (empty: usable)."""
        p = self.path
        if not p.is_dir() or (p / PLAN).exists() or (p / results.CELLS).is_dir():
            return []
        try:
            names = sorted(os.listdir(p))
        except OSError:
            return []
        return [name for name in names if not _ours(name)]

    def create(self) -> None:
        """Create the folder and prove it writable (a probe file, removed)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            safe_io.write_text(probe, "ok")  # a link planted at the probe's name is replaced, never followed
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"cannot write to output folder {self.path}: {exc.strerror or exc}") from None

    # -- one runner at a time ----------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for this runner; another runner is refused in one line."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            owner = safe_io.read_json(self.path / OWNER)[0]
            who = (
                f" (pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('since')})"
                if isinstance(owner, dict)
                else ""
            )
            raise UsageError(
                f"run folder {self.path} is in use by another bench run{who}; wait for it to end "
                "or choose another --out"
            ) from None
        try:
            results.write_json(
                self.path / OWNER,
                {"pid": os.getpid(), "host": platform.node(), "since": results.now()},
            )
            yield
        finally:
            (self.path / OWNER).unlink(missing_ok=True)
            lock.release()

    # -- repairs (under the lock) --------------------------------------------------------------
    def clear_scratch(self) -> None:
        """Markers and worker plans of an earlier, interrupted runner."""
        for name in SCRATCH:
            shutil.rmtree(self.path / name, ignore_errors=True)

    def set_aside(self, path: Path, why: str, warn: Warn) -> Path:
        """Move a damaged file (or folder) out of the readers' way, keeping it."""
        if path.parent.name == results.CELLS:
            target_dir = path.parent / DAMAGED
        else:
            target_dir = self.path / DAMAGED
        safe_io.make_dir(target_dir)  # a link planted at .damaged/ is refused, never followed
        target = target_dir / f"{path.name}.{results.now(compact=True)}"
        k = 1
        while target.exists():
            k += 1
            target = target_dir / f"{path.name}.{results.now(compact=True)}-{k}"
        os.replace(path, target)
        warn(f"{path} is damaged ({why}); set aside as {target}")
        return target

    def records(self, warn: Warn) -> dict[str, dict[str, Any]]:
        """The valid cell records; damaged ones are set aside (their cells will be measured again)."""
        good, bad = results.scan(self.path)
        for path, why in bad.items():
            self.set_aside(path, why, warn)
        return good

    # -- the plan ------------------------------------------------------------------------------
    def read_plan(self) -> tuple[list[CellSpec] | None, str | None]:
        """``(specs, None)``; ``(None, None)`` when there is no plan; ``(valid specs or None, why)`` when damaged."""
        path = self.path / PLAN
        if not path.exists():
            return None, None
        if not path.is_file():
            return None, "a folder, not a plan"
        doc, why = safe_io.read_json(path)
        if why is not None:
            return None, why
        if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
            return None, "not a plan (an object with a list of cells)"
        refuse_unregistered(path, doc["cells"], doc.get("plugins"))
        specs, bad = [], 0
        for item in doc["cells"]:
            try:
                specs.append(CellSpec.from_json(item))
            except (SpecError, KeyError, TypeError):
                bad += 1
        specs = _unique(specs)
        if bad:
            return specs, f"{bad} of {len(doc['cells'])} cells are not cell specs"
        if not specs:
            return None, "a plan with no cell"
        return specs, None

    def write_plan(self, specs: list[CellSpec], plugins: list[str] | tuple[str, ...] = ()) -> None:
        """``plan.json``: the cells, and the ``BENCH_PLUGINS`` modules that registered their names."""
        doc: dict[str, Any] = {"cells": [s.to_json() for s in specs]}
        if plugins:
            doc["plugins"] = list(plugins)
        results.write_json(self.path / PLAN, doc)

    def merge_plan(self, saved: list[CellSpec] | None, specs: list[CellSpec]) -> list[CellSpec]:
        """The folder's plan with the new cells added, and the ``BENCH_PLUGINS`` modules of this
        run added to the plan's (so that a resume without them can name them); written, returned."""
        merged = _unique(list(saved or []) + list(specs))
        old = safe_io.read_json(self.path / PLAN)[0] if saved is not None else None
        earlier = old.get("plugins") if isinstance(old, dict) else None
        earlier = [m for m in earlier if isinstance(m, str)] if isinstance(earlier, list) else []
        now = [m.strip() for m in os.environ.get(PLUGINS_VARIABLE, "").split(",") if m.strip()]
        self.write_plan(merged, list(dict.fromkeys(earlier + now)))
        return merged

    # -- the environment ----------------------------------------------------------------------
    def update_env(self, change: Callable[[Environment], Environment], warn: Warn) -> Environment:
        """env.json rewritten as ``change`` of what it holds (a damaged one is set aside and read as empty):
        several invocations (one per backend environment under nox) fill one folder."""
        path = self.path / ENV
        old, why = safe_io.read_json(path) if path.exists() else ({}, None)
        if not isinstance(old, dict):
            self.set_aside(path, why or "not an environment record", warn)
            old = {}
        env = change(Environment.from_json(old))
        results.write_json(path, env.to_json())
        return env

    def add_env(self, env: Environment, warn: Warn, command: str | None = None) -> Environment:
        """A new invocation's environment merged into env.json (:meth:`Environment.merge`)."""
        return self.update_env(lambda old: old.merge(env, command, results.now()), warn)

    def read_env(self) -> Environment:
        return Environment.from_json(safe_io.read_json(self.path / ENV)[0])


#: the names a run (or ``nox -s bench``, or ``bench report``) writes into a run folder
OURS = {PLAN, ENV, LOCK, OWNER, DAMAGED, *SCRATCH, results.CELLS, results.CSV, "logs", "agreement.json"}
OURS |= {"report", "charts"}  # what ``bench report RUN`` (--out RUN) draws there
#: bench-<group>.json, article-<backend>.json, the write probe, temporary files of atomic writes
OURS_PREFIXES = ("bench-", "article-", ".write-test-", f".{PLAN}.", f".{ENV}.", f".{results.CSV}.", ".agreement.json.")


def _ours(name: str) -> bool:
    return name in OURS or name.startswith(OURS_PREFIXES)


def refuse_unregistered(path: Path, cells: list, plugins: Any) -> None:
    """A plan naming a backend or problem nothing registers (a plugin's, in a shell without
    ``BENCH_PLUGINS``) is refused in one line; it is never set aside as damaged."""
    import backends
    import problems

    known_backends = set(backends.REGISTRY) | {ARTICLE}
    known_problems = set(problems.known())
    missing: dict[str, None] = {}
    for item in cells:
        cell = item.get("cell") if isinstance(item, dict) else None
        if not isinstance(cell, dict):
            continue  # not a cell spec: damage, judged by the caller
        backend, problem = cell.get("backend"), cell.get("problem")
        if isinstance(backend, str) and backend not in known_backends:
            missing[f"backend {backend!r}"] = None
        if isinstance(problem, str) and problem not in known_problems:
            missing[f"problem {problem!r}"] = None
    if not missing:
        return
    modules = [m for m in plugins if isinstance(m, str)] if isinstance(plugins, list) else []
    how = (
        f"{PLUGINS_VARIABLE}={','.join(modules)}"
        if modules
        else f"{PLUGINS_VARIABLE} to the modules that register them"
    )
    names = list(missing)
    raise UsageError(
        f"{path} names {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}, which nothing registers: set the "
        f"plugins as when the run was planned ({how}) and run again"
    )


def _unique(specs: list[CellSpec]) -> list[CellSpec]:
    seen, out = set(), []
    for spec in specs:
        if spec.id not in seen:
            seen.add(spec.id)
            out.append(spec)
    return out


def specs_from_records(records: dict[str, dict[str, Any]], where: Path | None = None) -> list[CellSpec]:
    """The cells the finished records prove were planned (for a plan rebuilt after damage); records
    of a backend or problem nothing registers are refused (:func:`refuse_unregistered`)."""
    refuse_unregistered(where or Path(results.CELLS), [{"cell": rec} for rec in records.values()], None)
    specs = []
    for rec in records.values():
        try:
            spec = CellSpec.from_record(rec)
        except (SpecError, TypeError):
            continue
        if spec.id == rec["cell"]:
            specs.append(spec)
    return specs
