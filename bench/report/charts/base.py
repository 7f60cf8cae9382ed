"""What every chart shares: the :class:`Chart` record, one style per row label, the
axes helpers, and saving (PNG and SVG, byte-identical for the same run).

Colour says the backend (its ``BackendInfo.colour``: numpy grey, jax blue, torch red,
tensorflow orange; the article black); line style, marker and hatch say the variant, the
same for every backend: eager variants dashed with hollow markers and hatched bars,
compiled ones solid and filled, ``autograd`` dash-dot with triangles, ``xla`` long dashes
with diamonds, the expert's ``witness`` dotted with stars and cross-hatched bars. A
series' style is read from its columns (backend, variant, mode, role, run), never from
its name.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors
import matplotlib.ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import backends
from bench import safe_io
from bench.cells import ARTICLE
from bench.fmt import fmt_n, fmt_time

from ..analysis import kinds_in_order, series_rows

STATUS_COLOURS = {"converged": "#2ca02c", "slow": "#ff7f0e", "diverged": "#d62728"}
RUN_HATCHES = ("", "..", "oo", "--", "++", "||")


@dataclass(frozen=True)
class VariantStyle:
    linestyle: Any
    marker: str
    hatch: str
    filled: bool  #: solid bars and filled markers (compiled, hand-derived, witness) or hollow ones (eager)


EAGER = VariantStyle("--", "o", "///", False)
COMPILED = VariantStyle("-", "s", "", True)
#: the variants drawn in a style of their own; every other one is drawn as its mode (:data:`EAGER`,
#: :data:`COMPILED`), so that a backend's variants never share one
VARIANT_STYLES = {
    "autograd": VariantStyle("-.", "v", "\\\\\\", False),
    "xla": VariantStyle((0, (7, 2)), "D", "..", True),
    "witness": VariantStyle(":", "*", "xx", True),
    "hand": VariantStyle("-", "o", "", True),
}

#: what each look stands for, in a chart's style legend
STYLE_NAMES = {
    EAGER: "eager",
    COMPILED: "compiled",
    VARIANT_STYLES["autograd"]: "autograd (eager)",
    VARIANT_STYLES["xla"]: "xla (compiled)",
    VARIANT_STYLES["witness"]: "an expert's witness",
    VARIANT_STYLES["hand"]: "hand-derived",
}

matplotlib.rcParams.update(
    {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "svg.fonttype": "none",
        "text.parse_math": False,  # a name read from a file ("$\\frac{$") is text, never mathtext to parse
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)


@dataclass
class Chart:
    group: str  #: its section's ident (:data:`bench.report.sections.SECTIONS`)
    slug: str  #: file name without extension
    title: str
    caption: str
    figure: Any = None
    files: dict[str, str] = field(default_factory=dict)  #: format -> path relative to the report folder


# --- styles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    colour: tuple  #: the backend's colour (shaded per run)
    variant: VariantStyle

    def line(self) -> dict:
        return {
            "color": self.colour,
            "linestyle": self.variant.linestyle,
            "marker": self.variant.marker,
            "markerfacecolor": self.colour if self.variant.filled else "white",
            "markeredgecolor": self.colour,
        }

    def marker(self) -> dict:
        """For ``ax.scatter``."""
        return {
            "marker": self.variant.marker,
            "facecolors": self.colour if self.variant.filled else "white",
            "edgecolors": self.colour,
            "linewidths": 1.0,
        }

    def bar(self, run_hatch: str = "") -> dict:
        """Eager: a pale face hatched in the colour; compiled: the colour, its hatch (xla, witness) drawn darker."""
        hatch = self.variant.hatch + run_hatch
        face = self.colour if self.variant.filled else tuple(0.45 + 0.55 * c for c in self.colour)
        edge = tuple(0.45 * c for c in self.colour) if self.variant.filled and hatch else self.colour
        return {"color": face, "edgecolor": edge, "hatch": hatch, "linewidth": 0.8}


class Styles:
    """The style of every series of a report: ``styles(series)``, read from the series' columns."""

    def __init__(self, context) -> None:
        self.runs = context.tags
        self.rows = series_rows(context.frame)

    def run_index(self, series: str) -> int:
        run = self.rows[series].run
        return self.runs.index(run) if run in self.runs else 0

    def __call__(self, series: str) -> Style:
        row = self.rows[series]
        return Style(shade(colour(row.backend), self.run_index(series)), variant_style(row))

    def variant(self, series: str) -> VariantStyle:
        return variant_style(self.rows[series])

    def bar(self, series: str) -> dict:
        k = self.run_index(series)
        return self(series).bar(RUN_HATCHES[k % len(RUN_HATCHES)])


def variant_style(row) -> VariantStyle:
    """A row's look: the article's loop is hand code (like numpy's), a variant with a look of its own
    has it, any other is drawn as its mode."""
    if row.role == ARTICLE:
        return VARIANT_STYLES["hand"]
    return VARIANT_STYLES.get(row.variant) or (COMPILED if row.mode == "compiled" else EAGER)


def colour(backend: str) -> str:
    """A backend's colour (:func:`backends.colour`)."""
    return backends.colour(backend)


def shade(hex_colour: str, k: int) -> tuple:
    """The k-th run's shade of a colour: the colour itself, then darker and lighter in turn."""
    rgb = mcolors.to_rgb(hex_colour)
    if k == 0:
        return rgb
    amount = 0.3 * ((k + 1) // 2)
    target = 0.0 if k % 2 else 1.0
    return tuple(c + (target - c) * min(amount, 0.8) for c in rgb)


# --- helpers ----------------------------------------------------------------------------------


def slugify(*parts) -> str:
    """A file name from its parts (missing parts left out): ``times-xor_net-article-float64-cpu``."""
    text = "-".join(str(p) for p in parts if isinstance(p, (str, int)) and p != "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower()


def count_axis(axis) -> None:
    """Tick labels of a log axis of counts as 10, 1,000, 1e6 rather than 10^1."""
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_n(v)))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


class TimeLogFormatter(matplotlib.ticker.LogFormatterSciNotation):
    """Ticks of a log axis of seconds in the unit that reads best: 100 µs, 2 ms, 1.5 s. The same ticks are
    labelled as matplotlib's log axis would label them (every decade; some minor ticks on a short axis)."""

    def __call__(self, x, pos=None):
        return fmt_time(x) if super().__call__(x, pos) else ""


def time_axis(axis) -> None:
    """Label an axis of seconds in ns / µs / ms / s (:func:`bench.fmt.fmt_time`): every chart with a time axis
    calls this once per axis, after choosing its scale (a log axis keeps matplotlib's choice of ticks)."""
    if axis.get_scale() == "log":
        axis.set_major_formatter(TimeLogFormatter())
        axis.set_minor_formatter(TimeLogFormatter())
    else:
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_time(v)))


def style_legend(fig: Figure, variants) -> None:
    """A legend of marker styles under the figure, ``variants`` a list of ``(VariantStyle, text)``; drawn
    in grey: the colour says the backend."""
    handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker=v.marker,
            markersize=7,
            color="#555555",
            markerfacecolor="#555555" if v.filled else "white",
        )
        for v, _ in variants
    ]
    fig.legend(handles, [text for _, text in variants], loc="outside lower center", ncol=len(handles), frameon=False)


def outside_legend(fig: Figure, handles, labels, title: str | None = None, ncol: int = 1) -> None:
    """A legend to the right of every axes, never on top of data."""
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title=title, ncol=ncol)


def grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(max_cols, max(1, n))
    return math.ceil(n / cols), cols


def kinds(values) -> list[str]:
    return kinds_in_order(values)


def size_order(frame) -> list[str]:
    sizes = frame.groupby("size", dropna=False)["n"].max().sort_values(kind="stable")
    return [str(s) for s in sizes.index]


def subtitle(*parts) -> str:
    return " · ".join(str(p) for p in parts if isinstance(p, str) and p)


def finite(values):
    import numpy as np

    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


# --- saving ------------------------------------------------------------------------------------


#: the longest chart file name stem, in bytes (file names end at 255 bytes; ``.png``, ``.svg`` and the
#: temporary file's additions fit beside it)
MAX_SLUG_BYTES = 160


def unique_slugs(slugs: list[str]) -> list[str]:
    """Chart file names, one per slug, none longer than :data:`MAX_SLUG_BYTES` and no two alike (even to a
    file system that ignores case): a long, empty or repeated slug gets a short hash of itself (and of how
    many times it came before) as suffix. Slugs that need none are kept as they are."""
    out: list[str] = []
    taken: set[str] = set()
    seen: dict[str, int] = {}
    for slug in slugs:
        name, k = slug, seen.get(slug.lower(), 0)
        seen[slug.lower()] = k + 1
        while not name or len(name.encode()) > MAX_SLUG_BYTES or name.lower() in taken:
            digest = hashlib.sha1(f"{slug}\0{k}".encode()).hexdigest()[:10]
            stem = (slug or "chart").encode()[: MAX_SLUG_BYTES - 11].decode(errors="ignore").rstrip("-.")
            name, k = f"{stem}-{digest}", k + 1
        taken.add(name.lower())
        out.append(name)
    return out


def save(chart: Chart, folder: Path, formats=("png", "svg"), dpi: int = 100) -> None:
    """Write the chart's figure in every format under ``folder`` and free it.

    Each file is written beside its name and moved onto it: a link planted at a chart's name is
    replaced, never followed (:mod:`bench.safe_io`).
    """
    plain_log_ticks(chart.figure)
    for fmt in formats:
        path = folder / f"{chart.slug}.{fmt}"
        with safe_io.replacing(path) as tmp:
            chart.figure.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_metadata(fmt))
            if fmt == "png":
                compact_png(tmp)
        chart.files[fmt] = f"{folder.name}/{path.name}"
    chart.figure = None


_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


class TextLogFormatter(matplotlib.ticker.LogFormatterSciNotation):
    """Log-axis ticks as plain text (10⁻², 2×10⁻²): the charts never parse mathtext (``text.parse_math``)."""

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        if "$" not in label:
            return label
        label = label.strip("$").replace("\\mathdefault", "").replace("\\times", "×")
        label = re.sub(r"\^\{([^}]*)\}", lambda m: m.group(1).translate(_SUPERSCRIPT), label)
        return label.replace("{", "").replace("}", "")


def plain_log_ticks(figure) -> None:
    """Give every log axis of ``figure`` that still has matplotlib's mathtext ticks the plain-text ones."""
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for formatter in (axis.get_major_formatter(), axis.get_minor_formatter()):
                if type(formatter) is matplotlib.ticker.LogFormatterSciNotation:
                    formatter.__class__ = TextLogFormatter  # the same state, plain-text labels


def compact_png(path: Path) -> None:
    """Rewrite a chart PNG with a 256-colour palette: about a third of the size, no visible change."""
    from PIL import Image  # matplotlib's own dependency

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(path, format="PNG", optimize=True)


def _metadata(fmt: str) -> dict:
    # No creation date: the same run gives byte-identical charts.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": None}
    return {}
