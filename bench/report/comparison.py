"""One run against another (``--compare``): what changed cell by cell, and what
differs between the two environments, so that a different machine or a different
framework version is never read as a regression of the code."""

from __future__ import annotations

from dataclasses import dataclass

from bench import results

#: the environment items compared, in the order shown (``versions.*``: every framework)
ENV_ITEMS = ("machine", "cpu", "cores", "threads", "versions", "load")
#: items whose difference means the runs cannot be read as a code change
MACHINE_ITEMS = ("cpu",)
NOT_REGRESSIONS = "These runs come from different machines/versions: changes are not regressions of the code."
NOTHING_TO_COMPARE = (
    "Nothing to compare: the two runs have no cell in common (problem, size, row label, dtype, device and kind), "
    "so no change can be told, neither slower nor faster."
)


def compare(current, baseline, floor: float = 0.0):
    """Relative change of every cell present in both tables.

    ``change`` = median_now / median_before - 1. The measured noise of a cell is the
    relative IQR of the two measurements combined, sqrt((iqr/median)_now^2 +
    (iqr/median)_before^2); a change is flagged when |log ratio| exceeds the noise
    (and ``floor``), or when the status changed."""
    import numpy as np
    import pandas as pd

    key = list(results.CELL_KEY)
    columns = key + ["run", "n", "median_before", "median", "change", "noise", "status_before", "status", "flag"]
    cur = current.drop(columns=["series"], errors="ignore")
    base = baseline.drop(columns=["series", "run"], errors="ignore").drop_duplicates(key, keep="last")
    merged = cur.merge(base, on=key, suffixes=("", "_before"), how="inner")
    if not len(merged):
        return pd.DataFrame(columns=columns + ["series"])
    rel_now = merged["iqr"] / merged["median"]
    rel_before = merged["iqr_before"] / merged["median_before"]
    merged["noise"] = np.sqrt(rel_now.fillna(0) ** 2 + rel_before.fillna(0) ** 2)
    merged["ratio_now"] = merged["median"] / merged["median_before"]
    merged["change"] = merged["ratio_now"] - 1
    timed = (merged["median"].notna() & merged["median_before"].notna()).to_numpy()
    status_changed = (merged["status"].fillna("") != merged["status_before"].fillna("")).to_numpy(dtype=bool)
    log_ratio = np.abs(np.log(merged["ratio_now"].where(timed, 1.0).to_numpy(dtype=float)))
    beyond = timed & (log_ratio > np.maximum(merged["noise"].to_numpy(dtype=float), floor))
    direction = np.where(merged["change"].to_numpy(dtype=float) > 0, "slower", "faster")
    merged["flag"] = np.where(status_changed, "status", np.where(beyond, direction, ""))
    out = merged[columns].copy()
    out["series"] = out["label"]
    return out.sort_values(["problem", "n", "kind", "label"]).reset_index(drop=True)


@dataclass
class EnvChange:
    item: str  #: ``cpu``, ``versions.torch``, ``threads`` ...
    before: str
    now: str

    @property
    def machine_or_version(self) -> bool:
        """A difference of hardware or framework versions (not of settings or load)."""
        return self.item in MACHINE_ITEMS or self.item.startswith("versions.")


def env_items(env: dict) -> dict[str, str]:
    """The comparable items of an ``env.json``, flattened to text (``versions.jax`` ...)."""
    out: dict[str, str] = {}
    for name in ENV_ITEMS:
        value = env.get(name)
        if name == "machine" and not value:
            value = env.get("hostname")
        if isinstance(value, dict):
            for key, v in value.items():
                out[f"{name}.{key}"] = _text(v)
        elif value is not None:
            out[name] = _text(value)
    return out


def _text(value) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def env_changes(before: dict, now: dict) -> list[EnvChange]:
    """Every compared item whose value differs between two ``env.json`` (missing on one side included)."""
    a, b = env_items(before), env_items(now)
    names = list(dict.fromkeys([*a, *b]))
    order = {name: i for i, name in enumerate(ENV_ITEMS)}
    names.sort(key=lambda n: order.get(n.split(".")[0], len(order)))
    return [EnvChange(name, a.get(name, "—"), b.get(name, "—")) for name in names if a.get(name) != b.get(name)]


def not_comparable(changes: list[EnvChange]) -> bool:
    """Whether the CPU model or a framework version differs: a change is then no regression of the code."""
    return any(c.machine_or_version for c in changes)
