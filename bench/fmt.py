"""Numbers as people read them: times with units, counts with separators, ratios with ×.

Shared by the runner's summary and the report; missing values (None, NaN) print as ``missing``.
"""

from __future__ import annotations

import math
from typing import Any

TIME_UNITS = ((1e-6, "µs", 1e6), (1e-3, "ms", 1e3), (1.0, "s", 1.0))


def to_float(x: Any) -> float:
    """A table cell as a number: NaN where it is missing or not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def is_missing(x: Any) -> bool:
    return x is None or not math.isfinite(to_float(x))


def fmt_time(seconds: Any, missing: str = "n/a") -> str:
    """``1.23 ms``, ``45.6 µs``, ``2.5 s`` (three significant digits)."""
    if is_missing(seconds):
        return missing
    seconds = float(seconds)
    if seconds < 1e-6:
        return f"{seconds * 1e9:.3g} ns"
    for limit, unit, scale in TIME_UNITS:
        if seconds < limit * 1000 or unit == "s":
            return f"{seconds * scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def fmt_n(x: Any, missing: str = "n/a") -> str:
    """Counts as people write them: 3, 1,000, 86,200, 1.2e6."""
    if is_missing(x):
        return missing
    x = float(x)
    if x >= 1e6:
        exp = math.floor(math.log10(x))
        mant = x / 10**exp
        return f"{mant:.2g}e{exp}" if round(mant, 1) != 1 else f"1e{exp}"
    if x >= 100:
        return f"{float(f'{x:.3g}'):,.0f}"
    return f"{x:.3g}"


def fmt_x(x: Any, missing: str = "-") -> str:
    """A ratio: ``1.23×``."""
    return missing if is_missing(x) else f"{float(x):.3g}×"
