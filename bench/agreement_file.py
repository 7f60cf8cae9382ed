"""``agreement.json``: the agreement check's rows (:mod:`bench.check`) as one typed, versioned document.

``python -m bench check --json`` writes it; the report, the version comparison and the runner's
closing summary read it, through :meth:`Agreement.from_json` only (:func:`read` for a file).

Format history (the ``schema`` key):

* none: the first format (``results/reference`` has it): a JSON list of row objects; the oldest
  rows have only ``problem``, ``backend``, ``mode``, ``kind``, ``rho`` and ``ok`` of the keys below
  (no ``label``, ``variant``, ``size``, ``rel_error`` ...), and an object ``{"rows": [...]}`` was read
  as its list;
* ``bench.agreement/2``: an object ``{"schema": "bench.agreement/2", "rows": [...]}``, each row with
  every key of :class:`AgreementRow` (readers of the first format that took ``{"rows": [...]}`` still
  read it).

:meth:`Agreement.from_json` takes any of them (:func:`upgrade`); a document it cannot read raises
:class:`AgreementError` with one line saying what is wrong (the caller names the file).
A non-finite number (the error of a NaN output) is stored as null and read as None.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "bench.agreement/2"
#: what every row of every format holds
REQUIRED = ("problem", "backend", "mode", "kind", "rho", "ok")
#: a row's keys in the order the first format wrote them (``checks`` last)
ORDER: tuple[str, ...] = ("problem", "size", "backend", "mode", "variant", "label", "dtype", "kind", "reference")
ORDER += ("rel_error", "rho", "tolerance", "where", "iterations", "ok", "nonfinite", "error")


class AgreementError(ValueError):
    """A document that is no agreement check, or one written by a newer version (one line: what is wrong)."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and not math.isnan(value) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Check:
    """One comparison of a row's output with one reference (:func:`bench.agreement.compared`)."""

    reference: str
    ok: bool
    rel_error: float | None = None  #: ||x - y|| / ||y||; None: not recorded, or not finite
    rho: float | None = None  #: ADBench's measure, kept for comparison with its tables
    tolerance: float | None = None
    where: int | None = None  #: the entry where the difference is largest (-1: none)

    @property
    def excess(self) -> float:
        """The error over its tolerance (the error itself without a positive tolerance; infinite without an
        error): the binding check of a row is the one with the largest."""
        if self.rel_error is None:
            return math.inf
        return self.rel_error / self.tolerance if self.tolerance and self.tolerance > 0 else self.rel_error

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "rel_error": _finite(self.rel_error),
            "rho": _finite(self.rho),
            "tolerance": self.tolerance,
            "ok": self.ok,
            "where": self.where,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Check:
        if not isinstance(doc, dict):
            raise AgreementError("not an object")
        reference, ok = doc.get("reference"), doc.get("ok")
        if not isinstance(reference, str):
            raise AgreementError("no text 'reference'")
        if not isinstance(ok, bool):
            raise AgreementError("no true/false 'ok'")
        return cls(
            reference,
            ok,
            rel_error=_number(doc.get("rel_error")),
            rho=_number(doc.get("rho")),
            tolerance=_number(doc.get("tolerance")),
            where=_int(doc.get("where")),
        )


@dataclass(frozen=True)
class AgreementRow:
    """One cell of the check (problem x size x backend variant x dtype x kind): its binding reference's
    measures (the largest error relative to its tolerance), and every check."""

    problem: str
    backend: str
    kind: str
    ok: bool
    mode: str = "eager"
    variant: str = ""
    label: str = ""  #: the row's name (``jax+jit``): to show, never to read
    size: str | None = None
    dtype: str = ""
    reference: str | None = None  #: the binding reference
    rel_error: float | None = None
    rho: float | None = None
    tolerance: float | None = None
    where: int | None = None
    iterations: int | None = None  #: a solve's steps
    nonfinite: bool = False  #: the output held a NaN or an infinity
    error: str | None = None  #: why the row failed, where it did not only disagree
    checks: tuple[Check, ...] = ()

    @property
    def why(self) -> str:
        """What failed, in words (empty where nothing but the numbers did)."""
        return self.error or ("NaN/Inf" if self.nonfinite else "")

    def to_json(self) -> dict[str, Any]:
        """The row as the first format wrote it (its keys in that order)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out = {k: doc[k] for k in ORDER}
        out["rel_error"], out["rho"] = _finite(self.rel_error), _finite(self.rho)
        out["checks"] = [c.to_json() for c in self.checks]
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AgreementRow:
        """One row of the current format (:func:`upgrade` first for an older one)."""
        for key in ("problem", "backend", "kind", "mode", "variant", "label"):
            if not isinstance(doc.get(key), str):
                raise AgreementError(f"no text {key!r}")
        if not isinstance(doc.get("ok"), bool):
            raise AgreementError("no true/false 'ok'")
        checks = doc.get("checks")
        if not isinstance(checks, list):
            raise AgreementError("'checks' is not a list")
        read = []
        for i, check in enumerate(checks):
            try:
                read.append(Check.from_json(check))
            except AgreementError as exc:
                raise AgreementError(f"check {i}: {exc}") from None
        return cls(
            doc["problem"],
            doc["backend"],
            doc["kind"],
            doc["ok"],
            mode=doc["mode"],
            variant=doc["variant"],
            label=doc["label"],
            size=_text(doc.get("size")),
            dtype=_text(doc.get("dtype")) or "",
            reference=_text(doc.get("reference")),
            rel_error=_number(doc.get("rel_error")),
            rho=_number(doc.get("rho")),
            tolerance=_number(doc.get("tolerance")),
            where=_int(doc.get("where")),
            iterations=_int(doc.get("iterations")),
            nonfinite=doc.get("nonfinite") is True,
            error=_text(doc.get("error")),
            checks=tuple(read),
        )


@dataclass(frozen=True)
class Agreement:
    """One ``agreement.json``."""

    rows: tuple[AgreementRow, ...] = ()
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "rows": [row.to_json() for row in self.rows]}

    @classmethod
    def from_json(cls, doc: Any) -> Agreement:
        """Any ``agreement.json`` (:func:`upgrade`d first); :class:`AgreementError` where it is none."""
        rows = []
        for i, row in enumerate(upgrade(doc)):
            try:
                rows.append(AgreementRow.from_json(row))
            except AgreementError as exc:
                raise AgreementError(f"row {i}: {exc}") from None
        return cls(tuple(rows))


def upgrade(doc: Any) -> list[dict[str, Any]]:
    """The rows of an ``agreement.json`` of any format, with the current format's keys (not yet typed):
    a first-format row without ``label`` or ``variant`` gets its backend's (from the registry, by
    ``mode``), a missing ``checks`` an empty list."""
    if isinstance(doc, dict):
        schema = doc.get("schema")
        if schema is not None and schema != SCHEMA:
            raise AgreementError(f"schema {schema!r}: this version reads {SCHEMA!r} and the first format")
        doc = doc.get("rows")
        if not isinstance(doc, list):
            raise AgreementError("not an agreement check (an object with a list of rows, or a list of rows)")
    if not isinstance(doc, list):
        raise AgreementError("not an agreement check (a list of rows)")
    rows = []
    for i, row in enumerate(doc):
        if not isinstance(row, dict):
            raise AgreementError(f"row {i}: not an object")
        missing = [key for key in REQUIRED if key not in row]
        if missing:
            raise AgreementError(f"row {i}: no {', '.join(map(repr, missing))} (every row has {', '.join(REQUIRED)})")
        row = {**row, "mode": row.get("mode") or "eager", "checks": row.get("checks", [])}
        if not isinstance(row.get("label"), str) or not row["label"]:
            row["label"] = _label(row)
        if not isinstance(row.get("variant"), str) or not row["variant"]:
            row["variant"] = _variant(row)
        rows.append(row)
    return rows


def _label(row: dict[str, Any]) -> str:
    """A first-format row's label: its backend's variant for its mode (``backend+mode`` for a backend
    this checkout does not know)."""
    import backends

    backend, mode = str(row.get("backend")), str(row.get("mode"))
    info = backends.REGISTRY.get(backend)
    if info is None:
        return backend if mode == "eager" else f"{backend}+{mode}"
    try:
        return info.label(str(row.get("variant") or mode))
    except KeyError:
        return backend


def _variant(row: dict[str, Any]) -> str:
    import backends

    backend, mode = str(row.get("backend")), str(row.get("mode"))
    info = backends.REGISTRY.get(backend)
    try:
        return info.variant(mode).name if info else mode
    except KeyError:
        return mode


def read(path: Path | str) -> Agreement:
    """The file at ``path``; :class:`AgreementError` (one line, naming the file) where it is unreadable
    or no agreement check."""
    from . import safe_io

    doc, why = safe_io.read_json(path)
    if why:
        raise AgreementError(f"{path}: {why}")
    try:
        return Agreement.from_json(doc)
    except AgreementError as exc:
        raise AgreementError(f"{path}: {exc}") from None


def write(path: Path | str, rows: list[AgreementRow] | tuple[AgreementRow, ...]) -> None:
    """Write ``rows`` to ``path`` in the current format, atomically."""
    from . import results

    results.write_json(path, Agreement(tuple(rows)).to_json())
