"""One run against another (``--compare``): what changed cell by cell, and what
differs between the two environments, so that a different machine or a different
framework version is never read as a regression of the code."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench import results
from bench.environment import Environment
from bench.stats import MIN_EFFECT, Interval, ratio_interval, verdict
from bench.verdicts import row_interval, row_stability

#: the environment items compared, in the order shown (``versions.*``: every framework)
ENV_ITEMS = ("machine", "cpu", "cores", "threads", "versions")
#: items whose difference means the runs cannot be read as a code change
MACHINE_ITEMS = ("cpu",)
NOT_REGRESSIONS = "These runs come from different machines/versions: changes are not regressions of the code."
#: two runs whose machine speeds (env.json's ``speed``) differ by more than this factor in any reading
#: ran on machines that differ, whatever their names say: no cell of theirs is called changed
SPEED_FACTOR = 1.5
#: what each speed reading times (:func:`bench.runner.machine.machine_speed`)
SPEED_NAMES = {"loop": "a Python loop", "matmul": "NumPy's matrix product", "stream": "NumPy's pass over 8 MB"}
#: the readings that tell machines apart: the Python loop's slow stretches are the speed probe's to judge, cell
#: by cell (it flips 1.7x within seconds on a shared virtual machine), so it is recorded but never compared
SPEED_COMPARED = ("matmul", "stream")
NOTHING_TO_COMPARE = (
    "Nothing to compare: the two runs have no cell in common (problem, size, row label, dtype, device and kind), "
    "so no change can be told, neither slower nor faster."
)


def identity(current, baseline) -> list[str]:
    """The columns naming one cell in both runs: problem, size, label, dtype, device, kind and threads,
    and the machine where both are cluster runs sharing machine names (one machine each: never)."""
    key = [*results.CELL_KEY, "threads"]
    now, before = set(current["machine"].dropna()), set(baseline["machine"].dropna())
    if (len(now) > 1 or len(before) > 1) and now & before:
        key.append("machine")
    return key


def speed_ratio(before: Environment, now: Environment) -> tuple[str, float] | None:
    """The speed reading that differs most between two runs, and its ratio now/before, where beyond
    :data:`SPEED_FACTOR`; else None (the same speed, or a run that recorded none)."""
    return max(_speed_ratios(before, now), key=lambda reading: abs(math.log(reading[1])), default=None)


def _speed_ratios(before: Environment, now: Environment) -> list[tuple[str, float]]:
    """``(reading, now/before)`` for each compared reading both runs recorded, where beyond the factor."""
    out = []
    for name in SPEED_COMPARED:
        if name in before.speed and name in now.speed:
            ratio = now.speed[name] / before.speed[name]
            if max(ratio, 1 / ratio) > SPEED_FACTOR:
                out.append((name, ratio))
    return out


def speed_text(name: str, ratio: float) -> str:
    """``x2.8 slower on NumPy's pass over 8 MB``."""
    how = f"x{ratio:.2g} slower" if ratio > 1 else f"x{1 / ratio:.2g} faster"
    return f"{how} on {SPEED_NAMES.get(name, name)}"


def speed_change(before: Environment, now: Environment) -> str | None:
    """Why two runs' machines differ by their speed readings (:func:`speed_ratio`), or None."""
    worst = speed_ratio(before, now)
    return None if worst is None else f"the machine ran {speed_text(*worst)} than in the baseline run: another machine"


def compare(current, baseline, min_effect: float = MIN_EFFECT, unlike=None):
    """The change of every cell present in both tables, with its interval and verdict.

    ``change`` = median_now / median_before - 1, ``change_lo``/``change_hi`` its 95% interval
    (the two medians' intervals combined, :mod:`bench.uncertainty`), ``verdict`` ``slower``,
    ``faster``, ``same`` (no difference these runs can see: the interval holds 0 or the change
    is under ``min_effect``) or ``unknown`` (``why``: a cell unstable in either run, no interval, its
    run's machine unlike the baseline's: ``unlike`` maps a run tag to why, :func:`speed_change`, or a
    change the machine's speed probe can explain: the two runs timed the cell in different states of
    the machine, :func:`_widened`);
    ``flag`` is ``status`` where the status changed, else the verdict where it is slower or faster."""
    import numpy as np
    import pandas as pd

    key = identity(current, baseline)
    columns = [*key, "backend", "variant", "run", "n", "median_before", "median", "change", "change_lo", "change_hi"]
    columns += ["verdict", "why", "status_before", "status", "flag"]
    cur = current.drop(columns=["series"], errors="ignore")
    base = baseline.drop(columns=["series", "run"], errors="ignore").drop_duplicates(key, keep="last")
    merged = cur.merge(base, on=key, suffixes=("", "_before"), how="inner")
    if not len(merged):
        return pd.DataFrame(columns=columns + ["series"])
    rows = []
    for r in merged.to_dict("records"):
        now, before = _side(r, ""), _side(r, "_before")
        ratio = ratio_interval(row_interval(now), row_interval(before))
        why = (unlike or {}).get(r.get("run")) or row_stability(before) or row_stability(now)
        if not (_number(r["median"]) and _number(r["median_before"])):
            call, why = "unknown", "not timed in both runs"
        elif why:
            call = "unknown"
        else:
            call = verdict(ratio, min_effect)
            why = "" if ratio.bounded else "no interval"
            machine = _machine_factor(now, before)
            if call in ("slower", "faster") and machine and verdict(_widened(ratio, machine), min_effect) != call:
                call, why = "unknown", _machine_text(machine)
        status_changed = _text(r.get("status")) != _text(r.get("status_before"))
        r.update(
            change=ratio.value - 1,
            change_lo=ratio.lo - 1 if ratio.bounded else np.nan,
            change_hi=ratio.hi - 1 if ratio.bounded else np.nan,
            verdict=call,
            why=why or "",
            flag="status" if status_changed else call if call in ("slower", "faster") else "",
        )
        rows.append(r)
    out = pd.DataFrame(rows)[columns].copy()
    out["series"] = out["label"]
    return out.sort_values(["problem", "n", "kind", "label"]).reset_index(drop=True)


def _side(row: dict, suffix: str) -> dict:
    names = ("median", "iqr", "rounds", "ci_lo", "ci_hi", "stability", "slow")
    return {name: row.get(f"{name}{suffix}") for name in names}


def _machine_factor(now: dict, before: dict) -> float | None:
    """How many times slower the machine ran while this run timed the cell than while the baseline did
    (the ratio of the two runs' ``slow`` columns, :func:`bench.uncertainty.machine_slowness`), or None."""
    a, b = now.get("slow"), before.get("slow")
    if _number(a) and _number(b) and a > 0 and b > 0 and a != b:
        return a / b
    return None


def _widened(ratio: Interval, machine: float) -> Interval:
    """The change's interval stretched to hold the change with the machine's own taken out too: a change
    is called only where neither the noise nor the machine's speed can explain it."""
    return Interval(ratio.value, min(ratio.lo, ratio.lo / machine), max(ratio.hi, ratio.hi / machine))


def _machine_text(machine: float) -> str:
    how = f"x{machine:.2g} slower" if machine > 1 else f"x{1 / machine:.2g} faster"
    return (
        f"the machine ran {how} while this run timed the cell than in the baseline (its speed probe): "
        "it can explain the change"
    )


def _number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def tally(table) -> dict[str, int]:
    """How many compared cells each verdict got (``status``: a status changed)."""
    counts = {v: 0 for v in ("slower", "faster", "same", "unknown", "status")}
    if table is None or table.empty:
        return counts
    for flag, call in zip(table["flag"], table["verdict"]):
        counts["status" if flag == "status" else call] += 1
    return counts


def gate(table, fail_on_slower: float | None) -> list[str]:
    """The cells that fail ``--fail-on-slower PCT``: called slower by at least that fraction (or whose
    status went from ok to anything else), one line each, worst first."""
    if fail_on_slower is None or table is None or table.empty:
        return []
    slower = table[(table["verdict"] == "slower") & (table["change"] >= fail_on_slower)]
    broke = table[(table["flag"] == "status") & (table["status_before"] == "ok")]
    lines = [
        f"{_name(r)}: {r['change']:+.1%} ({r['change_lo']:+.1%} to {r['change_hi']:+.1%})"
        for r in slower.sort_values("change", ascending=False).to_dict("records")
    ]
    lines += [f"{_name(r)}: ok -> {r['status']}" for r in broke.to_dict("records")]
    return lines


def _name(r: dict) -> str:
    return f"{r['problem']} {r['size']} {r['kind']} {r['label']} {r['dtype']} {r['device']} t{r['threads']}"


def summary_lines(table, fail_on_slower: float | None = None, worst: int = 5) -> list[str]:
    """The terminal summary of a comparison: the counts, then the worst changes each way."""
    counts = tally(table)
    total = 0 if table is None else len(table)
    lines = [
        f"compared {total} cells: {counts['slower']} slower, {counts['faster']} faster, {counts['same']} no "
        f"difference these runs can see, {counts['unknown']} cannot tell (unstable or untimed), "
        f"{counts['status']} status changed"
    ]
    if total:
        for call, ascending in (("slower", False), ("faster", True)):
            rows = table[table["verdict"] == call].sort_values("change", ascending=ascending).head(worst)
            for r in rows.to_dict("records"):
                lines.append(
                    f"  {call}: {_name(r)} {r['change']:+.1%} ({r['change_lo']:+.1%} to {r['change_hi']:+.1%})"
                )
    if fail_on_slower is not None:
        failing = gate(table, fail_on_slower)
        lines.append(
            f"--fail-on-slower {fail_on_slower:.0%}: {len(failing)} cell(s) fail" + ("" if failing else " (none)")
        )
        lines += [f"  {line}" for line in failing[:worst]]
    return lines


@dataclass
class EnvChange:
    item: str  #: ``cpu``, ``versions.torch``, ``threads`` ...
    before: str
    now: str

    @property
    def machine_or_version(self) -> bool:
        """A difference of hardware or framework versions (not of settings or load)."""
        return self.item in MACHINE_ITEMS or self.item.startswith(("versions.", "speed."))


def env_items(env: Environment) -> dict[str, str]:
    """The comparable items of an ``env.json``, flattened to text (``versions.jax`` ...)."""
    out: dict[str, str] = {}
    for name in ENV_ITEMS:
        value = env.name if name == "machine" else getattr(env, name)
        if isinstance(value, dict):
            for key, v in value.items():
                out[f"{name}.{key}"] = _text(v)
        elif value is not None:
            out[name] = _text(value)
    return out


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def env_changes(before: Environment, now: Environment) -> list[EnvChange]:
    """Every compared item whose value differs between two ``env.json`` (missing on one side included)."""
    a, b = env_items(before), env_items(now)
    names = list(dict.fromkeys([*a, *b]))
    order = {name: i for i, name in enumerate(ENV_ITEMS)}
    names.sort(key=lambda n: order.get(n.split(".")[0], len(order)))
    changes = [EnvChange(name, a.get(name, "—"), b.get(name, "—")) for name in names if a.get(name) != b.get(name)]
    for name, _ in _speed_ratios(before, now):  # a speed reading only where beyond the factor
        item = f"speed.{name}"
        changes.append(EnvChange(item, f"{before.speed[name] * 1e3:.3g} ms", f"{now.speed[name] * 1e3:.3g} ms"))
    return changes


def not_comparable(changes: list[EnvChange]) -> bool:
    """Whether the CPU model, a framework version or the machine's speed differs: a change is then no
    regression of the code."""
    return any(c.machine_or_version for c in changes)
