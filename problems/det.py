"""GradBench's ``det``: the determinant of an ell x ell matrix by expansion by minors.

As cmpad's ``det_by_minor`` (GradBench's C++ reference): the determinant of a
minor is its first row expanded along the columns, each entry times the
determinant of the sub-minor without that row and column, signs alternating,

    det M = sum_j (-1)^j M[0, j] det S_j,

down to 1 x 1 minors. Rows are removed top-down, so a minor of size m always
holds the last m rows of A and is known by its set of columns alone. The
recursion reaches each of these 2^ell minors many times (ell! products in all);
here each is computed once, level by level from size 1 up (a table of the
sub-minor and column of every term, :func:`levels`), with the same terms
summed in the same order. The value and the gradient are those of the
recursion; the work is ell 2^(ell-1) products instead of ell!, and the time is
therefore not comparable with tools that recurse (GradBench's README invites
reformulations; Futhark's enumerates every permutation, the same ell! work).

Hand derivatives: the gradient of det by minors is the cofactor matrix
(det(A) A^-T where A is invertible), computed by the reverse of the same
levels: the adjoint of each minor flows to its sub-minors and to the entry of
A it multiplies.

Sizes ``ell5`` ... ``ell11`` are GradBench's seven workloads with its own A:
NumPy's legacy generator seeded with 31337, ``rand(ell * ell)`` per workload in
turn, row-major. Other sizes draw A uniform in [0, 1) from the run's seeded
generator; the main dimension is ell.

``solve``: gradient descent on the determinant, which has no minimiser (it is
unbounded below): a few small steps are a loop to time, each lowering it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations

import numpy as np

from backends.base import Differentiable

from .base import Problem
from .lse import gradbench_uniform

#: GradBench's det workloads, in the order its eval draws them
GRADBENCH_ELL = (5, 6, 7, 8, 9, 10, 11)
GRADBENCH_SIZES = {f"ell{ell}": i for i, ell in enumerate(GRADBENCH_ELL)}
SIZES = {
    "tiny": 4,
    "small": 6,
    "medium": 9,
    "large": 12,
    **{label: GRADBENCH_ELL[i] for label, i in GRADBENCH_SIZES.items()},
}


@lru_cache(maxsize=32)
def levels(ell: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """For each minor size m = 1 .. ell, the terms of every minor of that size as three
    (minors, m) tables: the column of A each term multiplies (in row ell - m), the index of
    its sub-minor among the minors of size m - 1, and its sign (+1, -1, ... along the row).

    The minors of size m are the m-subsets of columns in lexicographic order; size 0 is the
    empty minor, whose determinant is 1.
    """
    previous: dict[tuple[int, ...], int] = {(): 0}
    out = []
    for m in range(1, ell + 1):
        subsets = list(combinations(range(ell), m))
        columns = np.array(subsets, dtype=np.int64).reshape(len(subsets), m)
        children = np.array(
            [[previous[s[:j] + s[j + 1 :]] for j in range(m)] for s in subsets], dtype=np.int64
        ).reshape(len(subsets), m)
        signs = np.broadcast_to((-1.0) ** np.arange(m), (len(subsets), m)).copy()
        out.append((columns, children, signs))
        previous = {s: i for i, s in enumerate(subsets)}
    return tuple(out)


def level_data(ell: int) -> dict[str, np.ndarray]:
    """The tables of :func:`levels` as data arrays (flat, floats: data reach every backend as floats),
    with one row of signs per level (every minor of a size has the same)."""
    data = {}
    for m, (columns, children, signs) in enumerate(levels(ell), start=1):
        data[f"column{m}"] = columns.ravel().astype(np.float64)
        data[f"minor{m}"] = children.ravel().astype(np.float64)
        data[f"sign{m}"] = signs[0]
    return data


# --- the determinant, written once ---------------------------------------------------------------


def det_by_minors(xp, params, data):
    (a,) = params
    ell = a.shape[0]
    minors = xp.ones_like(a[0, :1])  # the empty minor
    for m in range(1, ell + 1):
        signs = data[f"sign{m}"]
        columns = xp.astype(data[f"column{m}"], xp.int64)
        children = xp.astype(data[f"minor{m}"], xp.int64)
        shape = (columns.shape[0] // m, m)
        entries = xp.reshape(xp.take(a[ell - m], columns, axis=0), shape)
        sub = xp.reshape(xp.take(minors, children, axis=0), shape)
        # the alternating sum as a product with (1, -1, 1 ...): a dot, which XLA keeps apart, where its
        # fusion of a sum into the next level's gather would compute each minor again for every use
        minors = xp.matmul(entries * sub, signs)
    return minors[0]


# --- hand derivatives (NumPy) ----------------------------------------------------------------------


def det_value_and_grad(params, data):
    (a,) = params
    ell = a.shape[0]
    tables = levels(ell)
    minors = [np.ones(1)]
    for m, (columns, children, signs) in enumerate(tables, start=1):
        minors.append(np.sum(signs * a[ell - m][columns] * minors[-1][children], axis=1))
    grad = np.zeros_like(a)
    bar = np.ones(1)  # adjoint of det(A), the one minor of size ell
    for m in range(ell, 0, -1):
        columns, children, signs = tables[m - 1]
        weighted = signs * bar[:, None]
        grad[ell - m] = np.bincount(columns.ravel(), (weighted * minors[m - 1][children]).ravel(), minlength=ell)
        bar = np.bincount(children.ravel(), (weighted * a[ell - m][columns]).ravel(), minlength=math.comb(ell, m - 1))
    return float(minors[ell][0]), (grad,)


class DetByMinors(Problem):
    name = "det"
    description = "GradBench's determinant by expansion by minors, each minor once; gradient = cofactors (ell 5 ... 11)"
    size_unit = "rows"
    sizes = SIZES
    gradbench_sizes = tuple(GRADBENCH_SIZES)
    default_sizes = ("small",)
    check_size = "tiny"
    max_n = 16  # 2^16 minors of up to 16 terms: tables of half a million entries
    hessian_limit = 0
    loss = Differentiable(det_by_minors, value_and_grad=det_value_and_grad)

    def bytes_per_n(self):
        return 8.0 * 2 ** SIZES["large"]  # the tables, per row: a rough bound

    def make_data(self, rng, size):
        return level_data(size.n)

    def init_params(self, rng, size, data):
        if size.label in GRADBENCH_SIZES:
            counts = [ell * ell for ell in GRADBENCH_ELL]
            return (gradbench_uniform(counts, GRADBENCH_SIZES[size.label]).reshape(size.n, size.n),)
        return (rng.uniform(0.0, 1.0, (size.n, size.n)),)

    def learning_rate(self, size):
        return 0.01

    def iterations(self, size):
        return 20


PROBLEM = DetByMinors()
