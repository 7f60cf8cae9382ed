"""agreement.json as one typed document: the check's rows written with their schema and read back the
same, every older format read (the reference run's first format included), a damaged one refused in one
line that names the file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import agreement_file, check
from bench.agreement import compared
from bench.agreement_file import SCHEMA, Agreement, AgreementError, AgreementRow, Check
from bench.cells import Cell
from bench.report import load

DATA = Path(__file__).resolve().parent / "data"
#: five rows of the reference run's agreement.json of 2026-12-03, in the first format (a list, no schema)
FIRST_FORMAT = DATA / "agreement-first-format.json"
REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference" / "agreement.json"


def built_rows() -> list[AgreementRow]:
    """Rows as the check builds them: one that agrees, one 1% off, one whose output held a NaN, one that raised."""
    y = np.array([1.0, 2.0, 3.0])
    cell = Cell("quadratic", "small", "numpy", "eager", "float64", "gradient")
    return [
        check._row(cell, [compared("hand", y, y, 1e-10), compared("finite-difference", y * (1 + 1e-9), y, 1e-5)]),
        check._row(cell, [compared("hand", y * 1.01, y, 1e-10)]),
        check._row(cell, [compared("hand", np.array([1.0, np.nan, 3.0]), y, 1e-10)], nonfinite=True),
        check._row(Cell("quadratic", "small", "numpy", "eager", "float32", "hessian"), [], error="ValueError: bad"),
    ]


def test_the_check_s_rows_are_written_with_their_schema_and_read_back_the_same(tmp_path):
    rows = built_rows()
    assert [r.ok for r in rows] == [True, False, False, False]
    assert rows[0].reference == "finite-difference"  # the binding check: the largest error over its tolerance
    assert rows[3].error == "ValueError: bad" and rows[3].checks == ()
    path = tmp_path / "agreement.json"
    agreement_file.write(path, rows)
    doc = json.loads(path.read_text())
    assert doc["schema"] == SCHEMA and len(doc["rows"]) == 4
    # readers of the first format that took {"rows": [...]} find every key they asked for
    assert all({"problem", "backend", "mode", "kind", "rho", "ok", "checks"} <= set(r) for r in doc["rows"])
    back = agreement_file.read(path).rows
    assert back[:2] == tuple(rows[:2]) and back[3] == rows[3]
    # a NaN output's error is infinite: stored as null, read as None
    assert math.isinf(rows[2].rel_error) and back[2].rel_error is None and back[2].checks[0].rel_error is None
    assert back[2].nonfinite and back[2].why == "NaN/Inf" and not back[2].ok
    assert load.load_agreement(tmp_path, load.Skipped()) == back


def test_the_first_format_is_read_through_the_upgrade():
    doc = json.loads(FIRST_FORMAT.read_text())
    assert isinstance(doc, list) and len(doc) == 5
    rows = Agreement.from_json(doc).rows
    assert [(r.problem, r.label, r.dtype, r.kind) for r in rows] == [
        (d["problem"], d["label"], d["dtype"], d["kind"]) for d in doc
    ]
    assert all(isinstance(c, Check) for r in rows for c in r.checks)
    assert rows[2].iterations == doc[2]["iterations"] and rows[3].variant == "witness"
    # written again in the current format, it reads the same, and its rows are the first format's, key for key
    written = Agreement(rows).to_json()
    assert written["schema"] == SCHEMA and Agreement.from_json(written).rows == rows
    assert written["rows"] == doc


def test_the_oldest_rows_get_their_label_and_variant_from_the_registry():
    oldest = {"problem": "quadratic", "backend": "jax", "mode": "compiled", "kind": "gradient", "rho": 2e-16}
    rows = Agreement.from_json({"rows": [{**oldest, "ok": True}, {**oldest, "backend": "mine", "ok": False}]}).rows
    assert (rows[0].label, rows[0].variant) == ("jax+jit", "jit") and rows[0].checks == ()
    assert (rows[1].label, rows[1].variant) == ("mine+compiled", "compiled")


def test_the_reference_run_s_agreement_loads():
    rows = agreement_file.read(REFERENCE).rows
    assert len(rows) == len(json.loads(REFERENCE.read_text())) > 1000
    assert all(r.ok and r.checks for r in rows)


ROW = {"problem": "quadratic", "backend": "numpy", "mode": "eager", "kind": "gradient", "rho": 0.0, "ok": True}


@pytest.mark.parametrize(
    "text,says",
    [
        ('[{"problem": "quadratic", "backend": ', "not readable JSON"),
        ('{"hello": "world"}', "not an agreement check"),
        ('"rows"', "not an agreement check"),
        (json.dumps([ROW, 3]), "row 1: not an object"),
        (json.dumps([{k: v for k, v in ROW.items() if k != "ok"}]), "row 0: no 'ok' (every row has problem, backend"),
        (json.dumps([{**ROW, "ok": "yes"}]), "row 0: no true/false 'ok'"),
        (json.dumps([{**ROW, "kind": 3}]), "row 0: no text 'kind'"),
        (json.dumps([{**ROW, "checks": {"hand": 1}}]), "row 0: 'checks' is not a list"),
        (json.dumps([{**ROW, "checks": [{"reference": "hand"}]}]), "row 0: check 0: no true/false 'ok'"),
        (json.dumps({"schema": "bench.agreement/9", "rows": []}), "schema 'bench.agreement/9': this version reads"),
    ],
    ids=["truncated", "foreign", "text", "row", "missing", "ok", "kind", "checks", "check", "newer"],
)
def test_a_damaged_document_is_refused_in_one_line_naming_the_file(tmp_path, text, says):
    path = tmp_path / "agreement.json"
    path.write_text(text)
    with pytest.raises(AgreementError) as caught:
        agreement_file.read(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message
    # the report leaves the file out, names it once with the same reason, and uses the rest of the folder
    (tmp_path / "env.json").write_text("{}")
    skip = load.Skipped()
    assert load.load_agreement(tmp_path, skip) == ()
    (line,) = skip.lines()
    assert line.startswith(f"{path}: ") and says in line
