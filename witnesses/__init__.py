"""Witnesses: for a few headline cells, the code an expert in each framework writes by hand.

A witness computes the same quantity as the protocol cell (same instance data,
parameters, iteration count and learning rate) but outside the protocol: plain
``jax.jit(jax.value_and_grad(...))`` and ``lax.fori_loop``; ``torch.compile`` of
``torch.func``'s transforms, one compiled training step looped in Python;
a ``tf.GradientTape`` inside ``tf.function(jit_compile=True)``; each compiled, as its
framework's expert runs it (the witness's mode), with the framework's fused functions
(``jax.nn.softplus``, ``F.binary_cross_entropy_with_logits``,
``tf.nn.sigmoid_cross_entropy_with_logits`` ...). Timed in the same run, it
prices the harness: the protocol tax is our best row over the witness
(:func:`bench.tax.protocol_tax`).

Importing this package imports no framework; ``build`` imports the one it needs.
"""

from __future__ import annotations

import importlib

#: the headline cells that have a witness: (problem, size, kind)
CELLS: tuple[tuple[str, str, str], ...] = (
    ("logistic_regression", "medium", "gradient"),
    ("xor_net", "article", "solve"),
    ("newton", "medium", "hessian"),
    ("kmeans", "small", "gradient"),
    ("linear_regression", "small", "solve"),
)
#: the backends that have witnesses (NumPy's rows are hand code already)
BACKENDS: tuple[str, ...] = ("jax", "torch", "tensorflow")
DTYPES: tuple[str, ...] = ("float64", "float32")


def covers(cell) -> bool:
    """Whether ``cell`` (any variant) has a witness: a headline problem, size and kind,
    a backend in :data:`BACKENDS`, a known dtype."""
    return (cell.problem, cell.size, cell.kind) in CELLS and cell.backend in BACKENDS and cell.dtype in DTYPES


def build(cell, inst, device: str = "cpu"):
    """The witness of ``cell`` on ``inst``: ``(backend, call, to_numpy)``, which
    :func:`bench.cells.build` wraps as its ``PreparedCell``.

    ``call()`` runs one synchronised evaluation; ``to_numpy(out)`` returns the
    derivative of interest flat, float64, in the protocol cell's layout.
    """
    import backends

    if not covers(cell):
        raise ValueError(
            f"no witness for {cell.id}; witnesses cover {', '.join('/'.join(c) for c in CELLS)} "
            f"on {', '.join(BACKENDS)}"
        )
    backend = backends.get(cell.backend)  # the eager backend: conversion, device, block (never timed but block)
    backend.use_device(device)
    module = importlib.import_module(f"witnesses.{cell.backend}")
    call, to_numpy = module.WITNESSES[(cell.problem, cell.kind)](backend, inst, cell.dtype)
    return backend, call, to_numpy


__all__ = ["BACKENDS", "CELLS", "DTYPES", "build", "covers"]
