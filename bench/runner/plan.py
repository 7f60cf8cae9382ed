"""The plan: every cell a run measures, from the validated filters.

Cells run in worker groups, one process per backend x device x thread count
(:attr:`bench.cells.CellSpec.group`); the article's own NumPy loops run in the
NumPy group. Nothing here touches a file.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import backends
import problems
from backends.base import DEVICES, DTYPES
from problems.base import KINDS, NESTED_KINDS, SizeError

from ..cells import ARTICLE, WITNESS, Cell, CellSpec
from ..cli import UsageError, choose, choose_variants
from .config import DEFAULT_DTYPES, DEFAULT_KINDS, FILTERS, RunConfig, available_memory

#: estimated peak memory of a cell as a multiple of its float64 data
MEMORY_FACTOR = 4.0
#: the --size value that stands for every GradBench workload of the chosen problems
GRADBENCH_SIZES = "gradbench"


def _split(values):
    return [item.strip() for value in values or () for item in str(value).split(",") if item.strip()]


def choose_backends(values) -> list[str]:
    allowed = list(backends.REGISTRY) + [ARTICLE]
    if not values:
        return [name for name in backends.NAMES if backends.installed(name)] + [ARTICLE]
    chosen = choose(values, allowed, "backend")
    for name in chosen:
        if name != ARTICLE and not backends.installed(name):
            raise UsageError(backends.unavailable_reason(name))
    return chosen


def choose_problems(values, notes: list[str]):
    names = choose(values, problems.known(), "problem") if values else list(problems.ARTICLE_NAMES)
    chosen = []
    for name in names:
        try:
            chosen.append(problems.get(name))
        except Exception as exc:  # broken: named in one line
            if values:
                raise UsageError(f"problem {name!r} cannot be loaded: {exc}") from None
            notes.append(f"problem {name} is left out: it cannot be loaded ({exc})")
    return chosen


def choose_sizes(chosen_problems, values) -> dict[str, list[tuple[str, int]]]:
    """``{problem: [(label, n), ...]}``; named sizes apply to the problems that have them."""
    requested = _split(values)
    if GRADBENCH_SIZES in requested:  # every GradBench workload of the problems that have them
        at = requested.index(GRADBENCH_SIZES)
        expanded = [s for p in chosen_problems for s in p.gradbench_sizes]
        if not expanded:
            raise UsageError(
                "--size gradbench: none of these problems has GradBench workloads; "
                "choose lse, llsq, kmeans, gmm, ode, det, lstm, ba, ht, particle or saddle"
            )
        requested = requested[:at] + list(dict.fromkeys(expanded)) + requested[at + 1 :]
    out: dict[str, list[tuple[str, int]]] = {}
    known_anywhere = set()
    for problem in chosen_problems:
        sizes: list[tuple[str, int]] = []
        for size in requested or [s for s in problem.default_sizes if s in problem.sizes]:
            if size not in problem.sizes:
                try:
                    int(size)
                except ValueError:
                    continue  # a name this problem does not have (checked below)
            known_anywhere.add(size)
            try:
                resolved = problem.resolve_size(size)
            except SizeError as exc:
                raise UsageError(str(exc)) from None
            if (resolved.label, resolved.n) not in sizes:
                sizes.append((resolved.label, resolved.n))
        out[problem.name] = sizes
    unknown = [s for s in requested if s not in known_anywhere]
    if unknown:
        names = sorted({name for p in chosen_problems for name in p.sizes})
        raise UsageError(f"unknown size {unknown[0]!r}; use a positive integer or one of {', '.join(names)}")
    return out


def check_memory(problem, label: str, n: int, limit: float) -> None:
    need = MEMORY_FACTOR * problem.bytes_per_n() * n
    if need > limit:
        raise UsageError(
            f"size {label} of {problem.name} needs about {need / 2**30:.1f} GiB of memory (estimate), more than the "
            f"{limit / 2**30:.1f} GiB allowed; choose a smaller size"
        )


def make_plan(config: RunConfig, notes: list[str]) -> list[CellSpec]:
    """Validate every filter and list the cells to run (no file is touched); filters that leave no cell
    are a usage error naming the one whose absence would leave some."""
    specs = _cells(config, notes)
    if not specs:
        raise UsageError(f"these filters leave no cell to run{_emptied_by(config)}")
    return specs


def _emptied_by(config: RunConfig) -> str:
    """``; without --mode witness: 12 cells``: each filter that alone empties the plan (the plan made
    again without it has cells), or nothing when no one filter does."""
    culprits = []
    for name in FILTERS:
        if not getattr(config, name):
            continue
        try:
            unfiltered: dict[str, Any] = {name: ()}
            count = len(_cells(dataclasses.replace(config, **unfiltered), []))
        except UsageError:
            continue
        if count:
            given = " ".join(f"--{name} {value}" for value in getattr(config, name))
            culprits.append(f"; without {given}: {count} cells")
    return "".join(culprits)


def _cells(config: RunConfig, notes: list[str]) -> list[CellSpec]:
    names = choose_backends(config.backend)
    chosen_problems = choose_problems(config.problem, notes)
    dtypes = choose(config.dtype, DTYPES, "dtype") if config.dtype else list(DEFAULT_DTYPES)
    variants = choose_variants([name for name in names if name != ARTICLE], config.mode)
    # by default, a nested-derivative eval (particle, saddle) is timed in all its orders, the others' default kinds
    kinds = choose(config.kind, KINDS, "kind") if config.kind else list(DEFAULT_KINDS) + list(NESTED_KINDS)
    devices = choose(config.device, DEVICES, "device") if config.device else ["cpu"]
    limit = config.max_memory if config.max_memory is not None else available_memory()
    sizes = choose_sizes(chosen_problems, config.size)

    specs: list[CellSpec] = []
    for problem in chosen_problems:
        for label, n in sizes[problem.name]:
            check_memory(problem, label, n, limit)
            for kind in [k for k in _kinds(problem, label, kinds) if k in kinds]:
                for device in devices:
                    for name in names:
                        if name == ARTICLE:
                            continue
                        for variant in variants[name]:
                            for dtype in dtypes:
                                cell = Cell(problem.name, label, name, variant, dtype, kind)
                                if variant == WITNESS and not _witnessed(cell):
                                    continue
                                specs.append(CellSpec(cell, n, device, config.threads))
                if kind == "solve" and ARTICLE in names and problem.has_article:
                    specs.append(
                        CellSpec(Cell(problem.name, label, ARTICLE, "eager", "float64", kind), n, "cpu", config.threads)
                    )
    return specs


def _witnessed(cell: Cell) -> bool:
    import witnesses

    return witnesses.covers(cell)


def _kinds(problem, label: str, wanted) -> tuple[str, ...]:
    kinds = problem.kinds()
    if "hessian" in kinds and "hessian" in wanted:
        kinds = problem.kinds(problem.instance(label))  # the dense Hessian depends on the parameter count
    return kinds


def groups(specs: list[CellSpec]) -> dict[str, list[CellSpec]]:
    """The specs of each worker group, in plan order."""
    out: dict[str, list[CellSpec]] = {}
    for spec in specs:
        out.setdefault(spec.group, []).append(spec)
    return out


def slices(specs: list[CellSpec], workers: int = 1) -> dict[str, list[CellSpec]]:
    """The tasks of a cluster run: the worker groups, each cut into slices of whole problems
    (``part2-jax-cpu-t1``) where there are more workers than groups, so that every worker has
    work; no more slices than that, since each one is a process that imports its framework."""
    grouped = groups(specs)
    per_group = max(1, -(-workers // max(1, len(grouped))))  # ceil(workers / groups)
    out: dict[str, list[CellSpec]] = {}
    for group, members in grouped.items():
        by_problem: dict[str, list[CellSpec]] = {}
        for spec in members:
            by_problem.setdefault(spec.cell.problem, []).append(spec)
        k = min(per_group, len(by_problem))
        if k == 1:
            out[group] = members
            continue
        chunks: list[list[CellSpec]] = [[]]
        for cells in by_problem.values():  # contiguous problems, about len(members) / k cells a slice
            if chunks[-1] and len(chunks) < k and sum(map(len, chunks)) >= len(members) * len(chunks) / k:
                chunks.append([])
            chunks[-1].extend(cells)
        for i, chunk in enumerate(chunks, 1):
            out[f"part{i}-{group}"] = chunk
    return out
