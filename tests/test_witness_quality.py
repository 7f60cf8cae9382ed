"""Witnesses are an expert's best: compiled where their framework compiles (PyTorch's
``torch.compile`` included, with no recompilation from one call to the next), computing
the same values as the backend's compiled protocol row in both dtypes, and a solve that
starts each call from the instance's own start (never from where the last call left it)."""

from __future__ import annotations

import numpy as np
import pytest

import witnesses
from bench.agreement import error
from bench.cells import WITNESS, Cell, build
from bench.check import TOLERANCES

from .support import require

#: each backend's compiled protocol variant: what its witness is measured against like for like
COMPILED = {"jax": "jit", "torch": "compile", "tensorflow": "xla"}
#: a short solve: the same loop, fewer steps (the agreement does not depend on their number)
SHORT = 25
#: the witnesses whose code is not the protocol's own formula (the k-means cost expanded as
#: scikit-learn does, the compiled PyTorch Hessian and training steps): checked against the protocol row
CASES = [
    ("kmeans", "small", "gradient", "jax"),
    ("kmeans", "small", "gradient", "torch"),
    ("kmeans", "small", "gradient", "tensorflow"),
    ("newton", "medium", "hessian", "torch"),
    ("xor_net", "article", "solve", "torch"),
    ("linear_regression", "small", "solve", "torch"),
]


def _iterations(kind: str) -> int | None:
    return SHORT if kind == "solve" else None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("problem,size,kind,backend_name", CASES, ids=["-".join(c) for c in CASES])
def test_witness_computes_what_the_compiled_protocol_row_computes(problem, size, kind, backend_name, dtype):
    require(backend_name)
    rows = [
        build(Cell(problem, size, backend_name, variant, dtype, kind), iterations=_iterations(kind))
        for variant in (COMPILED[backend_name], WITNESS)
    ]
    protocol, witness = (b.arrays(b.call()) for b in rows)
    assert [a.shape for a in witness] == [a.shape for a in protocol]
    assert [a.dtype for a in witness] == [np.dtype(dtype)] * len(witness)
    e, _ = error(np.concatenate([a.ravel() for a in witness]), np.concatenate([a.ravel() for a in protocol]))
    assert e <= TOLERANCES[(dtype, "hand")], f"{problem}/{size}/{kind} {backend_name} {dtype}: rel. error {e:.2e}"


@pytest.mark.parametrize("problem,size,kind", witnesses.CELLS, ids=["-".join(c) for c in witnesses.CELLS])
def test_torch_witness_is_compiled_once(problem, size, kind):
    require("torch")
    import torch
    from torch._dynamo.utils import counters

    torch.compiler.reset()  # a same-shaped witness built before would be found in dynamo's cache
    cell = Cell(problem, size, "torch", WITNESS, "float64", kind)
    assert cell.mode == "compiled"
    built = build(cell, iterations=_iterations(kind))
    before = counters["stats"]["unique_graphs"]
    built.call()
    compiled = counters["stats"]["unique_graphs"] - before
    assert compiled >= 1, f"{cell.id}: its first call compiled no graph (torch.compile not used)"
    built.call()
    again = counters["stats"]["unique_graphs"] - before - compiled
    assert again == 0, f"{cell.id}: its second call compiled {again} more graphs (a recompilation per call)"


@pytest.mark.parametrize("backend_name", witnesses.BACKENDS)
def test_solve_witness_starts_each_call_from_the_instance_start(backend_name):
    require(backend_name)
    built = build(Cell("xor_net", "article", backend_name, WITNESS, "float64", "solve"), iterations=SHORT)
    first = built.to_numpy(built.call())
    second = built.to_numpy(built.call())
    np.testing.assert_array_equal(first, second)  # the start was not updated in place
    start = np.concatenate([np.ravel(p) for p in built.inst.params])
    assert not np.allclose(first, start)  # and it did train
