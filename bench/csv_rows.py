"""A results table read from a file someone else may have cut short: only whole, sane rows.

A ``results.csv`` truncated by a full disk or an interrupted copy ends inside a
row; read as is, that row's missing fields are blanks and a median cut at
``0.00`` reads as no time at all. Such rows are dropped, and named.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from pathlib import Path


def whole_rows(path: Path, warn: Callable[[str], None], statuses: Iterable[str]) -> str:
    """The table's text without its truncated or malformed rows (a row with too few or too many
    fields, a last row the file ends inside, an unknown status, an ok row whose median is not a
    positive number); those dropped are named, with their lines, in one ``warn`` call."""
    known = set(statuses)
    text = path.read_text(encoding="utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header is None:
        return ""
    writer.writerow(header)
    rows = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:  # a NUL byte, a quote left open at the end ...
        warn(f"rows from line {reader.line_num + 1} on are left out (not CSV: {exc})")
    status_at, median_at = (header.index(c) if c in header else None for c in ("status", "median"))
    dropped = []
    for k, (line, row) in enumerate(rows):
        why = None
        if not any(field.strip() for field in row):
            continue  # a blank line
        if len(row) != len(header):
            why = f"truncated or malformed: {len(row)} of {len(header)} fields"
        elif k == len(rows) - 1 and not text.endswith(("\n", "\r")):
            why = "truncated: the file ends inside it"
        elif status_at is not None and row[status_at] not in known:
            why = f"unknown status {row[status_at][:40]!r}"
        elif status_at is not None and median_at is not None and row[status_at] == "ok":
            try:
                median = float(row[median_at])
            except ValueError:
                median = math.nan
            if not (math.isfinite(median) and median > 0):
                why = f"an ok row whose median is {row[median_at][:40]!r} (a time is positive)"
        if why:
            dropped.append(f"line {line} ({why})")
        else:
            writer.writerow(row)
    if dropped:
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        warn(f"{len(dropped)} row(s) left out: {'; '.join(dropped[:5])}{more}")
    return out.getvalue()
