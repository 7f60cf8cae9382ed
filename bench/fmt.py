"""Numbers as people read them: times with units, counts with separators, ratios with ×;
and text read from files, made harmless where it is shown or written.

Shared by the runner's summary and the report; missing values (None, NaN) print as ``missing``.

Text that comes from a file or another process (a record's reason, a file name, a tag, a
plugin's name) may hold escape sequences, line breaks, rich markup or a spreadsheet formula.
Wherever such text is shown or written it goes through one of :func:`terminal` (a terminal
line), :func:`markup` (a rich renderable with markup on), :func:`markdown` (report.md) or
:func:`csv_cell` (results.csv). An exception is told in one line by :func:`one_line`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
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


# --- text from files ---------------------------------------------------------------------------

#: Unicode categories never shown raw: control characters (escape sequences, line breaks, bells),
#: format characters (bidirectional overrides, zero-width characters) and line/paragraph separators
HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")


#: a number in a reason (``x1.3``, ``21%``, ``0.5``): reasons that differ only in these are one reason
_NUMBER = re.compile(r"x?\d+(?:\.\d+)?%?")


def counted(whys: Iterable[Any]) -> list[list[Any]]:
    """Reasons (why cells could not be told apart, why they are unstable), commonest first: ``[reason,
    cells]``, the reasons that differ only in their figures counted as one, each figure written as the range
    seen (``the machine ran x1.3 to x2.7 slower``)."""
    groups: dict[tuple[str, ...], list[list[str]]] = {}
    for why in whys:
        text = why if isinstance(why, str) and why else "no reason given"
        groups.setdefault(tuple(_NUMBER.split(text)), []).append(_NUMBER.findall(text))
    out = []
    for words, figures in groups.items():
        text = words[0]
        for seen, after in zip(zip(*figures), words[1:]):
            ordered = sorted(set(seen), key=lambda f: float(f.strip("x%")))
            text += (ordered[0] if len(ordered) == 1 else f"{ordered[0]} to {ordered[-1]}") + after
        out.append([text, len(figures)])
    return sorted(out, key=lambda r: (-r[1], r[0]))


def one_line(exc: BaseException, limit: int = 500, name: bool = True) -> str:
    """An exception in one line: ``Type: first line of its message`` (``Type`` alone when the
    message is empty), or with ``name=False`` the first line alone (``Type`` when empty); at most
    ``limit`` characters."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if name or not first:
        first = f"{type(exc).__name__}: {first}".rstrip(": ")
    return first[:limit]


def _visible(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def terminal(text: Any) -> str:
    """``text`` as one harmless terminal line: every control or format character (ESC, newline,
    carriage return, bidirectional override ...) written as its escape (``\\x1b``, ``\\x0a``)."""
    text = str(text)
    if text.isprintable():  # the common case: nothing to do
        return text
    return "".join(_visible(ch) if unicodedata.category(ch) in HIDDEN_CATEGORIES else ch for ch in text)


def markup(text: Any) -> str:
    """``text`` for a rich renderable that reads markup (a table cell): :func:`terminal`, and
    ``[red]``-like tags escaped so that rich shows them as written."""
    from rich.markup import escape

    # rich reads "\[" outside a tag as "[": a backslash before a bracket that starts no tag gets one more
    return _LONE_BRACKET.sub(r"\1\\[", escape(terminal(text)))


#: backslashes before a "[" that rich's markup would not read as a tag (its own pattern: rich.markup.RE_TAGS)
_LONE_BRACKET = re.compile(r"(\\+)\[(?![a-z#/@][^[]*?])")


def console(**options):
    """A rich ``Console`` (``options`` as rich takes them) whose ``print`` passes every string through
    :func:`terminal`: a message holding a reason, a file name or a tag read from a file prints as one
    harmless line. Markup, where a call leaves it on, still applies: text read from files goes into
    markup through :func:`markup`."""
    from rich.console import Console

    class TerminalConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            super().print(*(terminal(o) if isinstance(o, str) else o for o in objects), **kwargs)

    return TerminalConsole(**options)


#: characters that make Markdown structure (links, images, raw HTML, entities, code, emphasis, tables,
#: escapes); an underscore only where it can open or close emphasis (``snake_case`` stays as it is)
MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def markdown(text: Any) -> str:
    """``text`` as inline Markdown that shows as written: no line break (a break becomes a space, so
    nothing can start a line of its own), other control characters escaped, Markdown's active
    characters backslash-escaped."""
    text = terminal(" ".join(str(text).splitlines()))
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def markdown_code(text: Any) -> str:
    """``text`` as an inline Markdown code span: fenced with more backticks than it holds, one line."""
    text = terminal(" ".join(str(text).splitlines()))
    if not text.strip():
        return text
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


#: a text cell starting with one of these is a formula to a spreadsheet (OWASP's list for CSV
#: injection), or starts with the quote that marks such a cell
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(value: Any) -> Any:
    """A text cell as a CSV file holds it: one starting like a formula gets a leading ``'`` (a
    spreadsheet shows it as text); :func:`from_csv_cell` gives the value back exactly."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def from_csv_cell(value: Any) -> Any:
    """The value :func:`csv_cell` was given."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
