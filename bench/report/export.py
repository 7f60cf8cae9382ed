"""Tables for a paper: ``python -m bench report RUN --export latex,csv`` writes ``RUN/report/export/``.

* ``best-per-framework``: per problem, size and kind, each framework's fastest variant with its median and
  95% interval (bold in LaTeX: the fastest row where it is ahead beyond the noise), and the verdict;
* ``who-wins``: per problem, size and kind, the fastest row including the hand-derived NumPy rows, the
  fastest among the autodiff frameworks, and the recommendation (:mod:`.verdict_table`).

The CSV holds the numbers in seconds, the LaTeX (booktabs, written here: no template engine needed) the
same numbers in the median's unit, one table row per CSV row.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from bench import safe_io, verdicts
from bench.cli import UsageError
from bench.fmt import csv_cell, is_missing
from bench.verdicts import row_interval

from . import analysis
from .verdict_table import ordered

FORMATS = ("latex", "csv")
WINS_CAPTION = (
    "The fastest row per problem, size and kind, with and without the hand-derived NumPy rows "
    "(x: the runner-up's median over the fastest's, where the fastest is ahead beyond the noise; for a call made "
    "on the rows timed in the same rounds, python -m bench settle, the median of their per-round ratios)."
)
#: (unit, seconds per unit, LaTeX spelling), the unit chosen by the median as :func:`bench.fmt.fmt_time` does
UNITS = (("ns", 1e-9, "ns"), ("µs", 1e-6, r"$\mu$s"), ("ms", 1e-3, "ms"), ("s", 1.0, "s"))
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # not special to TeX, but the default font encoding (OT1) prints them as ¡ ¿ and an em dash
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "×": r"$\times$",
    "µ": r"$\mu$",
    "–": "--",
}


def export_formats(text: str | None) -> list[str]:
    """``--export`` checked: ``latex``, ``csv`` or both, comma-separated."""
    chosen = []
    for item in str(text or "").split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item not in FORMATS:
            raise UsageError(f"unknown export format {item!r}; choose from {', '.join(FORMATS)}")
        if item not in chosen:
            chosen.append(item)
    if not chosen:
        raise UsageError(f"--export needs a format; choose from {', '.join(FORMATS)}")
    return chosen


def tex(text: Any) -> str:
    """Text as LaTeX shows it literally."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in " ".join(str(text).split()))


def unit(seconds: float) -> tuple[str, float, str]:
    if is_missing(seconds):
        return UNITS[-1]
    for name, scale, spelling in UNITS:
        if seconds < scale * 1000 or name == "s":
            return name, scale, spelling
    return UNITS[-1]


def time_text(median: float, lo: float, hi: float) -> str:
    """``1.23 ms (1.20-1.26)``: the interval in the median's unit, three significant digits."""
    if is_missing(median):
        return ""
    name, scale, _ = unit(median)
    text = f"{median / scale:.3g} {name}"
    if not (is_missing(lo) or is_missing(hi)):
        text += f" ({lo / scale:.3g}-{hi / scale:.3g})"
    return text


def _number(x: Any) -> Any:
    return "" if is_missing(x) else float(x)


def best_per_framework(frame, rows: list[dict]) -> tuple[list[str], list[dict]]:
    """(frameworks in display order, one record per comparison group: every framework's fastest row);
    ``rows``: the groups' verdicts (:func:`.verdict_table.verdict_rows`)."""
    if frame is None or frame.empty:
        return [], []
    contest = verdicts.contestants(frame)
    keys = [k for k in verdicts.GROUP if k in contest.columns]
    backends = analysis.backend_order(contest["backend"].dropna())
    by_key = {r_key(r, keys): r for r in rows}
    out = []
    for values, group in contest.groupby(keys, sort=False, dropna=False):
        key = dict(zip(keys, values))
        verdict = by_key.get(r_key(key, keys))
        record: dict[str, Any] = {**{k: key[k] for k in keys}, "n": group["n"].iloc[0]}
        for backend in backends:
            mine = group[(group["backend"] == backend).fillna(False).astype(bool)].sort_values("median", kind="stable")
            best = mine.iloc[0].to_dict() if len(mine) else None
            iv = row_interval(best) if best is not None else None
            record[f"{backend} row"] = str(best["label"]) if best is not None else ""
            record[f"{backend} variant"] = str(best["variant"]) if best is not None else ""
            record[f"{backend} median (s)"] = _number(best["median"]) if best is not None else ""
            record[f"{backend} 95% low (s)"] = iv.lo if iv is not None and iv.bounded else ""
            record[f"{backend} 95% high (s)"] = iv.hi if iv is not None and iv.bounded else ""
        full = verdict["all"] if verdict else None
        record["fastest"] = full["fastest_label"] if full else ""
        record["outcome"] = full["outcome"] if full else ""
        record["runner-up"] = full["runner_up_label"] if full else ""
        record["runner-up / fastest"] = _number(full["margin"]) if full else ""
        record["95% low"] = _number(full["margin_lo"]) if full else ""
        record["95% high"] = _number(full["margin_hi"]) if full else ""
        record["basis"] = full.get("basis", "") if full else ""  # medians, or the same rounds (settle)
        out.append(record)
    return backends, ordered(out)


def r_key(row: dict, keys: list[str]) -> tuple[str, ...]:
    return tuple(str(row.get(k)) for k in keys)


def who_wins(rows: list[dict]) -> list[dict]:
    """One record per comparison group: both verdicts and the recommendation."""
    out = []
    for r in ordered(rows):
        record = {k: r[k] for k in verdicts.GROUP if k in r}
        for name, v in (("fastest including hand-derived", r["all"]), ("fastest autodiff", r["autodiff"])):
            record[name] = v["fastest_label"] if v else ""
            record[f"{name}: median (s)"] = _number(v["median"]) if v else ""
            record[f"{name}: outcome"] = v["outcome"] if v else ""
            record[f"{name}: runner-up"] = v["runner_up_label"] if v else ""
            record[f"{name}: runner-up / fastest"] = _number(v["margin"]) if v else ""
        record["recommendation"] = r["recommendation"]
        out.append(record)
    return out


def _varying(records: list[dict], columns) -> list[str]:
    return [c for c in columns if len({str(r.get(c)) for r in records}) > 1]


def _verdict_cell(r: dict) -> str:
    if r["outcome"] == "ahead":
        lo, hi = r["95% low"], r["95% high"]
        interval = f" ({lo:.2f}--{hi:.2f})" if lo != "" and hi != "" else ""
        return f"{tex(r['fastest'])}, $\\times${r['runner-up / fastest']:.2f}{interval}"
    return {"tie": "tie", "unknown": "cannot tell"}.get(r["outcome"], "")


def latex_best(backends: list[str], records: list[dict], caption: str) -> str:
    where = _varying(records, ("dtype", "device", "threads", "run"))
    header = ["problem", "size", *where, "kind", *backends, "fastest"]
    body = []
    for r in records:
        cells = [tex(r["problem"]), tex(r["size"]), *[tex(r[c]) for c in where], tex(r["kind"])]
        for b in backends:
            median = r[f"{b} median (s)"]
            if median == "":
                cells.append("--")
                continue
            text = tex(r[f"{b} variant"]) + " " + _latex_time(r, b)  # jit, hand, func ...
            ahead = r["outcome"] == "ahead" and r["fastest"] == r[f"{b} row"]
            cells.append(f"\\textbf{{{text}}}" if ahead else text)
        cells.append(_verdict_cell(r))
        body.append(cells)
    return table_tex(
        header, body, caption, "tab:best-per-framework", "l" * (3 + len(where)) + "r" * len(backends) + "l"
    )


def _latex_time(r: dict, b: str) -> str:
    median, lo, hi = r[f"{b} median (s)"], r[f"{b} 95% low (s)"], r[f"{b} 95% high (s)"]
    _, scale, spelling = unit(median)
    text = f"{median / scale:.3g}\\,{spelling}"
    return text + (f" ({lo / scale:.3g}--{hi / scale:.3g})" if lo != "" and hi != "" else "")


def latex_wins(records: list[dict], caption: str) -> str:
    where = _varying(records, ("dtype", "device", "threads", "run"))
    names = ("fastest including hand-derived", "fastest autodiff")
    header = ["problem", "size", *where, "kind", "fastest (with hand-derived)", "fastest autodiff"]
    body = []
    for r in records:
        cells = [tex(r["problem"]), tex(r["size"]), *[tex(r[c]) for c in where], tex(r["kind"])]
        for name in names:
            if not r[name]:
                cells.append("--")
                continue
            outcome = {"ahead": "", "tie": ", tie", "unknown": ", cannot tell"}.get(r[f"{name}: outcome"], "")
            ratio = r[f"{name}: runner-up / fastest"]
            x = f" $\\times${ratio:.2f}" if r[f"{name}: outcome"] == "ahead" and ratio != "" else ""
            cells.append(f"{tex(r[name])}{x}{outcome}")
        body.append(cells)
    return table_tex(header, body, caption, "tab:who-wins", "l" * (3 + len(where)) + "ll")


def table_tex(header: list[str], rows: list[list[str]], caption: str, label: str, align: str) -> str:
    """A booktabs table (``\\usepackage{booktabs}``): header, one line per row."""
    lines = [
        "% written by python -m bench report --export latex; needs \\usepackage{booktabs}",
        "\\begin{table}",
        "\\centering",
        "\\small",
        f"\\caption{{{tex(caption)}}}",
        f"\\label{{{label}}}",
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(tex(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join(row) + " \\\\" for row in rows]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def csv_text(records: list[dict]) -> str:
    columns = list(dict.fromkeys(k for r in records for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: csv_cell(_csv_value(v)) for k, v in r.items()})
    return buffer.getvalue()


def _csv_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return "" if v is None or (not isinstance(v, (str, int, float)) and is_missing(v)) else v


def caption(context) -> str:
    machines = ", ".join(dict.fromkeys(f"{r.machine or r.tag}" for r in context.runs))
    return (
        "Median time per call of each framework's fastest variant, with its 95% interval in parentheses; "
        "bold: the fastest row where it is ahead of the runner-up beyond the noise "
        f"(ratio's 95% interval above 1 and past the minimum effect). Measured on {machines}."
    )


def write(context, folder: Path, formats: list[str]) -> list[Path]:
    """Write the chosen formats of both tables under ``folder``; return the files."""
    safe_io.make_dir(folder)
    rows = context.who_wins()
    backends, best = best_per_framework(context.frame, rows)
    wins = who_wins(rows)
    written = []
    for fmt in formats:
        if fmt == "csv":
            for name, records in (("best-per-framework", best), ("who-wins", wins)):
                path = folder / f"{name}.csv"
                safe_io.write_text(path, csv_text(records))
                written.append(path)
        elif fmt == "latex":
            pairs = (
                ("best-per-framework", latex_best(backends, best, caption(context))),
                ("who-wins", latex_wins(wins, WINS_CAPTION)),
            )
            for name, text in pairs:
                path = folder / f"{name}.tex"
                safe_io.write_text(path, text)
                written.append(path)
    return written
