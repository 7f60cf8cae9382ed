"""The methods paragraph of a report, for a paper: written from each run folder's own ``env.json``,
its records and the harness's rules (:mod:`bench.stats`, :mod:`bench.uncertainty`), never from constants
written here that could go stale. What a run did not record is said to be unrecorded."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench import results, safe_io, uncertainty
from bench.agreement_file import AgreementRow
from bench.environment import Environment
from bench.fmt import markdown
from bench.settled_file import PARTNER_SCALE, WARM_SECONDS
from bench.stats import CONFIDENCE, PAIRED_BETWEEN, rule_words

from .render_md import heading, line

#: env.json's ``versions`` keys as people name them, in the order said
FRAMEWORKS = (
    ("numpy", "NumPy"),
    ("jax", "JAX"),
    ("jaxlib", "jaxlib"),
    ("torch", "PyTorch"),
    ("tensorflow", "TensorFlow"),
    ("tensorflow-cpu", "TensorFlow (tensorflow-cpu)"),
)
#: what ``--repeat`` chose, in words (bench.runner.config's REPEATS)
REPEATS = {
    "auto": "the rows a verdict is close between, unstable rows and the witnesses with their best rows, then the "
    "cheapest other cells within a share of the run's time",
    "contenders": "the rows a verdict is close between, unstable rows and the witnesses with their best rows",
    "all": "every cell",
    "none": "no cell",
}
MAX_TEXT = 200


def _s(value: Any) -> str:
    """A value read from env.json, as short text."""
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _list(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_s(v) for v in value)
    return _s(value)


def _pct(x: float) -> str:
    return f"{x:.0%}"


def machine(env: Environment) -> str:
    parts = [f"Measured on {_s(env.name or 'an unnamed machine')}"]
    hardware = []
    if env.cpu:
        hardware.append(_s(env.cpu))
    if env.cores:
        usable = env.cpus_allowed
        hardware.append(f"{_s(env.cores)} cores" + (f", {_s(usable)} usable" if usable else ""))
    if env.gpu:
        hardware.append(f"GPU {_s(env.gpu)}")
    text = parts[0] + (f" ({'; '.join(hardware)})" if hardware else "")
    if env.platform:
        text += f", {_s(env.platform)}"
    return text + "."


def software(env: Environment) -> str:
    versions = env.versions
    python = versions.get("python") or env.python
    named = [f"{name} {_s(versions[key])}" for key, name in FRAMEWORKS if versions.get(key)]
    text = f"Python {_s(python)}" if python else "Python version not recorded"
    text += f"; {', '.join(named)}" if named else "; framework versions not recorded"
    if versions.get("pytest-benchmark"):
        text += f"; timed with pytest-benchmark {_s(versions['pytest-benchmark'])}"
    harness, commit = env.harness_version, env.git_commit
    if harness or commit:
        text += "; autodiff-bench" + (f" {_s(harness)}" if harness else "")
        if commit:
            text += f" at commit {_s(commit)[:12]}" + (" with uncommitted changes" if env.git_dirty else "")
    return text + "."


def settings(env: Environment, frame) -> str:
    threads = env.threads
    dtypes = env.dtypes or (sorted(set(frame["dtype"].dropna().astype(str))) if len(frame) else None)
    devices = env.devices or (sorted(set(frame["device"].dropna().astype(str))) if len(frame) else None)
    parts = [f"every framework was given {_list(threads)} thread(s)" if threads else "thread count not recorded"]
    if env.wait_policy:
        parts[0] += f" (OpenMP wait policy {_s(env.wait_policy)})"
    parts.append(f"dtype {_list(dtypes)}" if dtypes else "dtype not recorded")
    parts.append(f"device {_list(devices)}" if devices else "device not recorded")
    text = "Settings: " + "; ".join(parts) + "."
    started = [c.started for c in env.commands if c.started]
    if started or env.finished:
        text += f" The run began {_s(started[0]) if started else 'at an unrecorded time'}"
        text += f" and finished {_s(env.finished)}." if env.finished else "."
    return text


def timing(env: Environment, frame, between: float | None) -> str:
    ok = frame[(frame["status"] == "ok").fillna(False).astype(bool)] if len(frame) else frame
    cells = len(ok)
    budget = []
    if env.min_rounds is not None:
        budget.append(f"at least {_s(env.min_rounds)} rounds")
    if env.max_time is not None:
        budget.append(f"about {_s(env.max_time)} s of rounds")
    if env.timeout is not None:
        budget.append(f"at most {_s(env.timeout)} s per cell")
    text = f"{cells} cells were timed, each by pytest-benchmark" + (f" ({', '.join(budget)})" if budget else "")
    text += ", after a first call timed apart (tracing and compilation are never in a cell's time)."
    rounds = ok["rounds"].dropna() if cells else []
    if len(rounds):
        text += f" Rounds per cell: median {int(rounds.median())}, fewest {int(rounds.min())}."
    processes = ok["processes"].dropna() if cells and "processes" in ok else []
    repeated = int((processes >= 2).sum()) if len(processes) else 0
    text += (
        " A cell's time is the median of its rounds; where it was measured in several worker processes, "
        "the median of the processes' medians. "
    )
    policy = env.repeat
    if policy:
        text += f"The repeat policy (--repeat {_s(policy)}) measured {REPEATS.get(str(policy), _s(policy))} again "
        text += f"in a second process later in the run: {repeated} of {cells} cells have two or more processes. "
    elif len(processes):
        text += f"{repeated} of {cells} cells were measured in two or more processes (repeat policy not recorded). "
    else:
        text += "Each cell was measured in one process (this run recorded no repeats). "
    text += (
        f"The median's {CONFIDENCE:.0%} interval combines the rounds' distribution-free interval (binomial order "
        "statistics; from the interquartile range where the raw rounds are not kept) with the variation between "
        f"worker processes (in a cell of {uncertainty.ROBUST_PROCESSES} processes or more, their median absolute "
        "deviation and Student's t), "
        "never less than the run's typical between-process noise"
    )
    if between is not None:
        text += f" (here a standard deviation of {_pct(between)}, from the cells measured in two processes)."
        text += " A cell timed in one process, which may be the odd one, takes the spread at the cells' "
        text += f"{uncertainty.ONE_PROCESS_QUANTILE:.0%} quantile instead."
    elif repeated and "ci_lo" in ok and ok["ci_lo"].notna().any():  # a table kept without its cell records
        text += " (computed when the run was made, from its raw rounds: this folder keeps each interval, "
        text += "not the rounds)."
    else:
        text += f" (assumed {_pct(uncertainty.DEFAULT_BETWEEN)}: this run measured no cell twice, or kept no rounds)."
    return text


def verdict_rule() -> str:
    return (
        f"A row is called faster than another only where the ratio of their medians, with a {CONFIDENCE:.0%} "
        f"interval, is called changed: {rule_words()}; "
        "otherwise the two tie. A row gives no verdict where it is unstable (timed in a single round, two "
        f"worker processes whose medians differ by more than x{uncertainty.DISAGREE:g}, or half or more of "
        f"{uncertainty.ROBUST_PROCESSES} or more slower than their fastest by that much, a repeat that failed), "
        "nor does a group with a planned row left untimed. A row measured while other "
        f"processes took more than {_pct(uncertainty.BUSY)} of the CPUs keeps a widened interval. Rows compete "
        "within one problem, size, dtype, device, thread count, kind and run; an expert's hand-written witness "
        "is no contestant (it measures the protocol's tax: timed again in interleaved rounds with its backend's "
        "fastest rows, one call of each per round in a fresh order, the tax is the median of the per-round "
        f"ratios with its {CONFIDENCE:.0%} interval, widened by {PAIRED_BETWEEN:.0%} for the variation "
        "between processes)."
    )


def settled(groups: list[dict]) -> str:
    """The groups timed again in the same rounds (``python -m bench settle``), or nothing where there are none."""
    if not groups:
        return ""
    counts = sorted({len(g["sessions"]) for g in groups})
    sessions = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    rounds = sorted(len(r) for g in groups for r in g["sessions"])
    scale, warm = f"{PARTNER_SCALE * 1e3:g} ms", f"{WARM_SECONDS * 1e3:g} ms"
    return (
        f"The close rows of {len(groups)} comparison groups (ties and rows too unstable to call, each row "
        f"{scale} or longer a call) were timed again in the same interleaved rounds, one server process per "
        f"framework asked in turn, a batch of calls each after {warm} of untimed calls, in a fresh order "
        f"each round ({sessions} sessions of fresh processes, {rounds[0]} to {rounds[-1]} rounds "
        "a session); their call is the same rule on the median of the per-round ratios, its interval holding "
        "each session's own, where those rounds hold every row that could be the fastest."
    )


def quietness(env: Environment) -> str:
    states = env.machine_state
    if not states:
        return "The machine's load during the run was not recorded."
    others = [s.others_cpu_share for s in states.values() if _number(s.others_cpu_share)]
    steal = [s.steal_share for s in states.values() if _number(s.steal_share)]
    text = f"Quietness, over {len(states)} worker groups:"
    text += f" other processes used at most {_pct(max(others))} of the CPUs" if others else " others' share unknown"
    text += f", the hypervisor stole at most {_pct(max(steal))}" if steal else ""
    flagged = [_s(v) for v in env.verdicts]
    text += "; " + ("; ".join(flagged) if flagged else "no group was flagged as disturbed") + "."
    return text


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def agreement(rows: tuple[AgreementRow, ...]) -> str:
    if not rows:
        return "Derivatives were not checked in this run folder (no agreement.json)."
    failed = sum(1 for r in rows if not r.ok)
    text = f"Derivatives were checked against hand-derived ones and finite differences: {len(rows) - failed} of "
    return text + f"{len(rows)} checks passed."


def between_noise(path: Path) -> float | None:
    """The run's between-process noise from its cell records' raw rounds (None where it kept none)."""
    good, _ = results.scan(path)
    return uncertainty.between_noise(good.values()) if good else None


def paragraphs(context) -> list[tuple[str, list[str]]]:
    """Per run: its tag and the methods paragraph's sentences, from its env.json and records."""
    out = []
    for run in context.runs:
        env = run.env
        frame = context.frame[context.frame["run"] == run.tag] if len(context.frame) else context.frame
        text = [machine(env), software(env), settings(env, frame)]
        text += [timing(env, frame, between_noise(run.path)), verdict_rule(), settled(run.settled)]
        text += [quietness(env), agreement(run.agreement)]
        out.append((run.tag, [t for t in text if t]))
    return out


def markdown_text(context) -> str:
    """``methods.md``: one paragraph per run."""
    out = ["# Methods", ""]
    for tag, sentences in paragraphs(context):
        if context.several:
            out += [heading(2, tag), ""]
        out += [line(markdown(" ".join(sentences))), ""]
    return "\n".join(out)


def write(context, path: Path) -> None:
    safe_io.write_text(path, markdown_text(context))
