"""The seed article's pictures, computed by one backend from real runs.

:func:`collect` computes the data of the article's pictures, and :func:`write`
writes it to ``RUN_DIR/article-NAME.json`` (atomically: a temporary file, then a
rename); the run command does both for each backend through
``python -m bench.runner.pictures``. The pictures:

* ``cost_history``: the cost of linear regression after every step of batch
  gradient descent on the article's three points (the backend's own step);
* ``lr_sweep``: gradient descent on the quadratic at several learning rates,
  each ending converged, slow or diverged;
* ``fd_steps``: error of forward and central finite differences against the
  step h, with the best step of each;
* ``derivatives``: f(x) = x^3 - 3x^2 + 2 with f' and f'' from the backend's
  derivative verbs (``value_and_grad`` and ``hvp``) on a grid.

A picture that fails leaves that picture out with a note in ``notes``; the
others are still written. Non-finite numbers (a diverged run) are written as
``null``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import backends
import problems
from problems import finite_difference, newton, quadratic
from problems.base import as_flat

from . import results
from .cells import convert
from .fmt import one_line

#: ``article-<backend>.json``'s format: 1, the first (every key of :class:`ArticlePictures`)
FORMAT = 1
#: the text keys of an article document besides its backend
TEXT_KEYS = ("version", "dtype", "device", "created")
#: steps of the learning-rate sweep (its rates: :data:`problems.quadratic.RATES`)
SWEEP_STEPS = 100
GRID = (-2.0, 4.0, 61)  #: the article's x range for f(x) = x^3 - 3x^2 + 2


# --- JSON-safe values ---------------------------------------------------------


def plain(value: Any) -> Any:
    """Numbers, arrays, tuples and dicts as JSON values; non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    try:  # a backend scalar or array
        return plain(np.asarray(value).tolist())
    except Exception:  # anything else is written as text
        return str(value)


def scalar(backend, x) -> float:
    return float(np.asarray(backend.to_numpy(x), dtype=np.float64).reshape(()))


# --- the pictures ---------------------------------------------------------------


def cost_history(backend, dtype: str) -> dict:
    """Linear regression on the article's data: cost after every gradient step."""
    problem = problems.get("linear_regression")
    inst = problem.instance("article")
    body = problem.step(backend, inst)
    params, data = convert(backend, inst.params, dtype), convert(backend, inst.data, dtype)
    history = []
    for _ in range(inst.iterations):
        params = body(params, data)
        history.append(scalar(backend, problem.loss.value(backend.xp, params, data)))
    return {
        "problem": problem.name,
        "size": inst.size,
        "rate": problem.learning_rate(inst.sized),
        "iterations": inst.iterations,
        "initial": scalar(backend, problem.loss.value(backend.xp, convert(backend, inst.params, dtype), data)),
        "history": history,
        "params": [np.ravel(backend.to_numpy(p)).tolist() for p in params],
    }


def lr_sweep(backend, dtype: str) -> dict:
    """The quadratic's learning-rate sweep: converged, slow or diverged per rate."""
    records = []
    for record in quadratic.lr_sweep(backend, quadratic.RATES, SWEEP_STEPS, dtype=dtype):
        record = dict(record)
        records.append(
            {
                "rate": float(record["rate"]),
                "status": str(record["status"]),
                "history": plain(np.ravel(np.asarray(record.get("history", []), dtype=np.float64))),
                **{k: plain(v) for k, v in record.items() if k not in ("rate", "status", "history")},
            }
        )
    return {"problem": "quadratic", "steps": SWEEP_STEPS, "records": records}


def fd_steps(backend, dtype: str) -> dict:
    """Finite-difference error against the step h, and the backend's autodiff error."""
    records = [
        {
            "function": str(r["function"]),
            "method": str(r["method"]),
            "h": None if r.get("h") is None else float(r["h"]),
            "error": plain(r["error"]),
        }
        for r in finite_difference.step_sweep(backend=backend)
    ]
    best = finite_difference.best_steps(records)  # {(function, method): (h, error)}
    return {
        "records": records,
        "best": [
            {"function": str(f), "method": str(m), "h": plain(h), "error": plain(e)} for (f, m), (h, e) in best.items()
        ],
    }


def derivatives(backend, dtype: str) -> dict:
    """f(x) = x^3 - 3x^2 + 2 with f' and f'' from the backend's derivative verbs."""
    x = np.linspace(*GRID[:2], int(GRID[2]))
    loss, flat = newton.CUBIC, as_flat(newton.CUBIC, [x.shape])
    data = {"zero": backend.asarray(np.zeros(1), dtype)}
    xs = backend.asarray(x, dtype)
    _, (grad,) = backend.value_and_grad(loss)((xs,), data)
    second = backend.hvp(flat)(xs, backend.asarray(np.ones_like(x), dtype), data)
    f = newton.cubic(x)
    return {
        "function": "x^3 - 3x^2 + 2",
        "first": "3x^2 - 6x",
        "second": "6x - 6",
        "x": x.tolist(),
        "f": plain(f),
        "df": plain(np.ravel(backend.to_numpy(grad))),
        "d2f": plain(np.ravel(backend.to_numpy(second))),
        "critical": [{"x": 0.0, "kind": "maximum"}, {"x": 2.0, "kind": "minimum"}],
    }


BUILDERS: dict[str, Callable[[Any, str], dict]] = {
    "cost_history": cost_history,
    "lr_sweep": lr_sweep,
    "fd_steps": fd_steps,
    "derivatives": derivatives,
}


@dataclass(frozen=True)
class ArticlePictures:
    """One backend's ``article-<backend>.json``: each picture's data by name (:data:`BUILDERS`), a note
    for each one left out, and what computed them."""

    backend: str
    pictures: dict[str, dict]
    version: str | None = None
    dtype: str | None = None
    device: str | None = None
    created: str | None = None
    notes: tuple[str, ...] = ()
    format: int = FORMAT

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["notes"] = list(self.notes)
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> ArticlePictures:
        """The document, checked; ValueError saying why it is none (or of a newer format than this code reads)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("pictures"), dict) or "backend" not in doc:
            raise ValueError("not an article pictures file")
        if doc.get("format", FORMAT) != FORMAT:
            raise ValueError(f"article pictures of format {doc.get('format')!r} (this version reads {FORMAT})")
        version, dtype, device, created = (doc.get(k) if isinstance(doc.get(k), str) else None for k in TEXT_KEYS)
        notes: list = doc["notes"] if isinstance(doc.get("notes"), list) else []
        pictures = {str(k): v for k, v in doc["pictures"].items() if isinstance(v, dict)}
        return cls(str(doc["backend"]), pictures, version, dtype, device, created, tuple(str(n) for n in notes))


def collect(name: str, dtype: str = "float64", device: str = "cpu") -> dict:
    """Every picture this backend can draw, with a note for each one left out (:class:`ArticlePictures`
    as JSON)."""
    backend = backends.get(name)
    backend.use_device(device)
    pictures, notes = {}, []
    for picture, build in BUILDERS.items():
        try:
            pictures[picture] = plain(build(backend, dtype))
        except Exception as exc:  # one failing picture must not lose the others
            notes.append(f"{picture}: failed: {one_line(exc)}")
    made = ArticlePictures(name, pictures, backend.version(), dtype, backend.device(), results.now(), tuple(notes))
    return made.to_json()


def write(run_dir: str | os.PathLike, doc: dict) -> Path:
    """Write ``article-<backend>.json`` atomically into ``run_dir`` (a link at its name is replaced, never followed)."""
    target = Path(run_dir) / f"article-{doc['backend']}.json"
    results.write_json(target, doc)
    return target
