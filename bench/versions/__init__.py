"""Framework versions side by side: each cell slower, faster or cannot tell, with the change's 95% interval.

``python -m bench versions --runs DIR_A DIR_B [DIR ...] [--out DIR] [--min-effect PCT]``

Each ``DIR`` holds one version's timings: a run folder, or a folder of rounds (``round-1/``,
``round-2/`` ..., each a run folder of the same plan, as ``nox -s versions`` makes them, the
versions' rounds run in turn so that the machine's drift hits every version alike). A version's
rounds are read as one run: every cell's record with each round's processes added
(:func:`bench.runner.repeat.add_repeat`), so that its interval holds the variation between
processes and between rounds; the merged run folder goes to ``OUT/runs/<name>/`` (a run folder
``python -m bench report`` reads), with the version folder's ``agreement.json``. Every version is
judged against the machine's fastest speed probe over all of them
(:func:`bench.report.load.shared_probe_floor`): a process timed while the machine ran slow is left
out, or its cell given no verdict, in whichever version (:func:`bench.uncertainty.clean`), so that
the versions compare the machine in one state. A row whose agreement check failed in either
version gets no verdict.

The runs are grouped by the backends they timed (a JAX version is compared with JAX versions only);
in each group the first run named is the baseline, and every other is compared with it cell by
cell as ``report --compare`` does (:func:`bench.report.comparison.compare`: the two medians'
intervals combined, the verdict rule of :func:`bench.stats.verdict` with the minimum effect).
A cell is ``slower`` or ``faster`` where the change's interval excludes no change and reaches the
minimum effect, else ``cannot tell`` (with why: within the noise, under the minimum effect, unstable).

Written into ``--out`` (default: ``versions/`` beside the first folder): ``versions.csv`` (every
compared cell, its change and interval, verdict and sentence), ``report.md`` and ``index.html``
(the sentences, a chart of every change with its interval per comparison, the tables, each
version's agreement check) and ``charts/``. The terminal gets one sentence per cell:
"jax 0.10.2 is 12% slower than 0.10.1 on logistic_regression medium gradient, jax+jit (95% interval 8% to 16%)".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import results, safe_io, uncertainty
from bench.cli import UsageError
from bench.environment import Environment
from bench.fmt import terminal
from bench.runner.repeat import add_repeat
from bench.stats import MIN_EFFECT

HELP = "framework versions side by side: each cell slower, faster or cannot tell, with its 95% interval"
USAGE = "python -m bench versions --runs DIR_A DIR_B [DIR ...]"
#: a version folder's rounds: ``round-1``, ``round-2`` ...
ROUND = re.compile(r"round-(\d+)")
#: the verdicts a reader gets (``same`` and ``unknown`` of the comparison are both ``cannot tell``)
CALLS = {"slower": "slower", "faster": "faster", "same": "cannot tell", "unknown": "cannot tell"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs",
        nargs="+",
        metavar="DIR",
        required=True,
        help="one folder per version (a run folder, or a folder of round-N run folders); the first is the baseline",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="where to write the comparison (default: versions/ beside the first folder)"
    )
    parser.add_argument(
        "--min-effect",
        metavar="PCT",
        default="10",
        help="the smallest change called slower or faster, in percent (default: 10); its interval must also "
        "exclude no change",
    )
    parser.add_argument("--formats", default="png,svg", help="chart formats, comma-separated (default: png,svg)")
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution (default: 100)")


@dataclass
class Version:
    """One version's timings, loaded (its rounds merged)."""

    run: Any  #: a :class:`bench.report.load.Run`
    backends: tuple[str, ...]  #: the backends it timed
    versions: dict[str, str]  #: backend -> its framework version, as the cells recorded it
    rounds: int

    @property
    def name(self) -> str:
        return ", ".join(f"{b} {v}" for b, v in self.versions.items()) or self.run.tag

    def version_of(self, backend: str) -> str:
        return self.versions.get(backend) or self.run.tag


@dataclass
class Comparison:
    baseline: Version
    other: Version
    table: Any  #: :func:`bench.report.comparison.compare`'s table, with ``call`` and ``sentence``

    @property
    def names(self) -> tuple[str, str]:
        """(baseline's name, the other's), each with its folder's name where the two read alike."""
        a, b = self.baseline.name, self.other.name
        return (f"{a} ({self.baseline.run.tag})", f"{b} ({self.other.run.tag})") if a == b else (a, b)

    def counts(self) -> dict[str, int]:
        found = Counter(self.table["call"]) if len(self.table) else Counter()
        return {call: found.get(call, 0) for call in ("slower", "faster", "cannot tell")}


def main(args: argparse.Namespace) -> int:
    from bench.report import chart_formats, percent

    formats = chart_formats(args.formats, args.dpi)
    min_effect = percent("--min-effect", args.min_effect, 0.0, 1000.0)
    warn = lambda m: print(f"warning: {terminal(m)}", file=sys.stderr)  # noqa: E731
    comparisons, out = write_versions(
        [Path(p) for p in args.runs],
        out=Path(args.out) if args.out else None,
        min_effect=min_effect,
        formats=tuple(formats),
        dpi=args.dpi,
        warn=warn,
    )
    from .page import summary_lines

    for line in summary_lines(comparisons):
        print(terminal(line))
    print(f"versions side by side: {terminal(out / 'index.html')}")
    print(f"                       {terminal(out / 'report.md')}, {terminal(out / 'versions.csv')}")
    return 0


def rounds_in(folder: Path) -> list[Path]:
    """A version folder's round folders (``round-1`` ...), in round order; none for a plain run folder."""
    try:
        found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := ROUND.fullmatch(p.name)) and p.is_dir()]
    except OSError:
        return []
    return [p for _, p in sorted(found)]


def _renumbered(rec: dict, first_pass: int) -> dict:
    """A round's record whose processes are numbered on from ``first_pass`` (a last look keeps its number,
    :data:`bench.uncertainty.AGAIN_PASS`)."""
    out = dict(rec)
    samples = rec.get(uncertainty.SAMPLES)
    if isinstance(samples, list):
        out[uncertainty.SAMPLES] = [
            {**e, "pass": first_pass + k} if isinstance(e, dict) and e.get("pass") != uncertainty.AGAIN_PASS else e
            for k, e in enumerate(samples)
        ]
    return out


def _passes(rec: dict) -> int:
    samples = rec.get(uncertainty.SAMPLES)
    return len(samples) if isinstance(samples, list) else 1


def merge_rounds(rounds: list[Path], target: Path, agreement: Path | None = None) -> Path:
    """Write one run folder at ``target`` whose every cell holds the processes of all ``rounds``: the first
    round's record with each later round's added as further passes (a later round that did not end ok
    makes the cell unstable, named in its record). ``env.json``: the first round's, with the rounds named."""
    merged: dict[str, dict] = {}
    for path in rounds:
        good, _ = results.scan(path)
        for cell, rec in good.items():
            rec = {**rec, "run": target.name}
            if cell not in merged:
                merged[cell] = _renumbered(rec, 1)
            else:
                after = _passes(merged[cell]) + 1
                merged[cell] = add_repeat(merged[cell], _renumbered(rec, after), after)
    cells = safe_io.make_dir(target / results.CELLS)
    for old in cells.glob("*.json"):  # an earlier merge of other rounds
        old.unlink()
    for cell, rec in merged.items():
        results.save(target, cell, rec)
    env = Environment.from_json(_read_object(rounds[0] / "env.json") if rounds else {})
    last = Environment.from_json(_read_object(rounds[-1] / "env.json") if rounds else {})
    env = dataclasses.replace(env, finished=last.finished or env.finished, rounds=tuple(str(p) for p in rounds))
    results.write_json(target / "env.json", env.to_json())
    if agreement is not None and agreement.is_file():
        safe_io.write_bytes(target / "agreement.json", agreement.read_bytes())
    return target


def _read_object(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def merged(folder: Path, tag: str, runs_out: Path) -> Path:
    """One version's folder as one run folder: its rounds merged into ``runs_out/tag`` where it has rounds."""
    if not folder.is_dir():
        why = "does not exist" if not folder.exists() else "is not a folder"
        raise UsageError(f"version folder {folder} {why}")
    rounds = rounds_in(folder)
    return merge_rounds(rounds, runs_out / tag, folder / "agreement.json") if rounds else folder


def load_version(path: Path, folder: Path, tag: str, probe_floor: float | None = None) -> Version:
    """One version, loaded from ``path`` (:func:`merged` from its ``folder``), its cells judged against
    ``probe_floor``, the machine's fastest speed probe over every version compared with it."""
    from bench.report.load import load_run

    run = load_run(path, tag, probe_floor)
    frame = run.table
    ok = frame[(frame["status"] == "ok").fillna(False).astype(bool)] if len(frame) else frame
    if not len(ok):
        raise UsageError(f"no cell of {folder} was timed ok: nothing to compare")
    backends = tuple(sorted(set(ok["backend"].dropna()) - {"article"})) or ("article",)
    versions = {}
    for backend in backends:
        named = ok.loc[ok["backend"] == backend, "version"].dropna()
        versions[backend] = str(named.mode().iloc[0]) if len(named) else run.env.versions.get(backend, "")
    return Version(run, backends, versions, max(1, len(rounds_in(folder))))


def pairs(loaded: list[Version], warn: Callable[[str], None]) -> list[tuple[Version, Version]]:
    """(baseline, other) for every version after the first of its backends (the first named is the baseline)."""
    groups: dict[tuple[str, ...], list[Version]] = {}
    for version in loaded:
        groups.setdefault(version.backends, []).append(version)
    out = []
    for backends, members in groups.items():
        if len(members) < 2:
            only = members[0]
            warn(f"{only.run.tag} ({only.name}) is the only version of {', '.join(backends)}: nothing to compare")
        out += [(members[0], other) for other in members[1:]]
    return out


def compare_versions(baseline: Version, other: Version, min_effect: float = MIN_EFFECT) -> Comparison:
    """Every cell both versions timed: the change, its interval and verdict, and a sentence saying them."""
    from bench.report.comparison import compare
    from bench.report.load import combine

    from .page import sentence

    table = compare(combine([other.run]), combine([baseline.run]), min_effect)
    if len(table):
        table.insert(0, "baseline", baseline.run.tag)
        table.insert(1, "compared", other.run.tag)
        pairs = [(baseline.version_of(b), other.version_of(b)) for b in _backends(table)]
        pairs = [(a, b) if a != b else (f"{a} ({baseline.run.tag})", f"{b} ({other.run.tag})") for a, b in pairs]
        table["version_before"] = [a for a, _ in pairs]
        table["version"] = [b for _, b in pairs]
        table["call"] = [CALLS.get(v, "cannot tell") for v in table["verdict"]]
        wrong = {**_failed_checks(other), **_failed_checks(baseline)}
        for i, r in table.iterrows():  # a timing of a derivative that disagreed means nothing: no verdict
            found = wrong.get((str(r["problem"]), str(r["label"]), str(r["dtype"]), str(r["kind"])))
            if found:
                why = f"{found}'s agreement check failed"
                table.loc[i, ["verdict", "call", "why"]] = ["unknown", "cannot tell", why]
        table["sentence"] = [sentence(r, min_effect) for r in table.to_dict("records")]
    return Comparison(baseline, other, table)


def _failed_checks(version: Version) -> dict[tuple[str, str, str, str], str]:
    """(problem, row label, dtype, kind) -> the version's name, for every timed row its agreement check
    failed (:func:`bench.report.checked.unchecked`, as the report marks them)."""
    from bench.report import checked
    from bench.report.agreement_table import agreement_table
    from bench.report.load import combine

    rows = checked.unchecked(combine([version.run]), agreement_table([version.run]))
    failed = rows[rows["why"] == checked.FAILED]
    return {(str(r.problem), str(r.label), str(r.dtype), str(r.kind)): version.name for r in failed.itertuples()}


def _backends(table) -> list[str]:
    """Each compared row's backend (its label's part before ``+``)."""
    return [str(label).split("+", 1)[0] for label in table["label"]]


def write_versions(
    paths: list[Path],
    out: Path | None = None,
    min_effect: float = MIN_EFFECT,
    formats: tuple[str, ...] = ("png", "svg"),
    dpi: int = 100,
    warn: Callable[[str], None] = lambda m: None,
) -> tuple[list[Comparison], Path]:
    """Load every version (rounds merged), compare each with its baseline, write the table, charts and pages."""
    from bench.report import render_html, render_md
    from bench.report.charts.base import save, unique_slugs
    from bench.report.load import shared_probe_floor, unique_tags

    from . import page

    if len(paths) < 2:
        raise UsageError(f"name two or more version folders, the baseline first: {USAGE}")
    folder = _folder(out if out is not None else paths[0].parent / "versions")
    tags = unique_tags(paths)
    folders = [merged(p, tag, folder / "runs") for p, tag in zip(paths, tags)]
    floor = shared_probe_floor(folders)  # the machine at its best over every version, where all ran on one
    loaded = [load_version(f, p, tag, floor) for f, p, tag in zip(folders, paths, tags)]
    for version in loaded:
        for line in version.run.skipped:
            warn(f"skipped {line}")
    matched = pairs(loaded, warn)
    if not matched:
        raise UsageError(
            "no two of these folders timed the same backend: a version is compared with another version of its "
            f"framework ({'; '.join(f'{v.run.tag}: {v.name}' for v in loaded)})"
        )
    comparisons = [compare_versions(a, b, min_effect) for a, b in matched]
    for c in comparisons:
        if not len(c.table):
            warn(f"{c.baseline.run.tag} and {c.other.run.tag} have no cell in common: nothing compared")
    _write_table(comparisons, folder / "versions.csv")
    charts = [page.chart(c) for c in comparisons]
    drawn = [chart for chart in charts if chart is not None]
    for chart, slug in zip(drawn, unique_slugs([c.slug for c in drawn])):
        chart.slug = slug
        save(chart, _folder(folder / "charts"), formats, dpi)
    command = "python -m bench versions --runs " + " ".join(str(p) for p in paths)
    doc = page.outline(comparisons, loaded, charts, command, min_effect)
    render_md.write(doc, folder / "report.md")
    render_html.write(doc, folder / "index.html")
    return comparisons, folder


def _write_table(comparisons: list[Comparison], path: Path) -> None:
    import pandas as pd

    frames = [c.table.drop(columns=["series"], errors="ignore") for c in comparisons if len(c.table)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["baseline", "compared"])
    with safe_io.replacing(path) as tmp:
        table.to_csv(tmp, index=False)


def _folder(path: Path) -> Path:
    try:
        return safe_io.make_dir(path)
    except safe_io.UnsafePath:
        raise UsageError(f"{terminal(path)} is a symbolic link (or not a folder): choose another --out") from None
