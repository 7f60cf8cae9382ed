"""``article-<backend>.json`` read as one typed document: the reference run's files load, a file of a
newer format or of another shape is left out with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.article import FORMAT, ArticlePictures
from bench.report.load import Skipped, load_article

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"


def test_the_reference_run_s_pictures_load_typed_and_write_back_unchanged():
    docs = load_article(REFERENCE, Skipped())
    assert set(docs) == {"numpy", "jax", "torch", "tensorflow"}
    for backend, doc in docs.items():
        raw = json.loads((REFERENCE / f"article-{backend}.json").read_text())
        assert doc.format == FORMAT and "cost_history" in doc.pictures
        assert doc.to_json() == raw


@pytest.mark.parametrize(
    "doc, why",
    [
        ({"format": FORMAT + 1, "backend": "numpy", "pictures": {}}, f"format {FORMAT + 1}"),
        ({"backend": "numpy"}, "not an article pictures file"),
        ([], "not an article pictures file"),
    ],
)
def test_a_newer_format_or_another_shape_is_left_out_with_its_reason(tmp_path, doc, why):
    with pytest.raises(ValueError, match=why):
        ArticlePictures.from_json(doc)
    (tmp_path / "article-numpy.json").write_text(json.dumps(doc))
    skip = Skipped()
    assert load_article(tmp_path, skip) == {}
    assert len(skip.lines()) == 1 and why in skip.lines()[0]
