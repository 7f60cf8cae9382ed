"""A test-only backend whose derivatives are subtly wrong, for the agreement check's own tests.

Importing this module registers ``skewed`` (``BENCH_PLUGINS=tests.skewed_backend``): NumPy
with the hand derivatives and no autodiff of its own, each variant wrong in one way the
check must catch:

    ``scaled``     every derivative (gradient, Hessian, hvp, jvp, vjp, Jacobian) 1% too large
    ``reshaped``   the right values in the wrong shape: each gradient / vjp array and the
                   hvp flattened to one row ``(1, n)``, the Hessian as one flat vector
    ``wide``       computes in float64 whatever dtype the cell asks for
    ``broken``     building the Hessian raises (inside the "framework", before any call)
    ``exact``      nothing wrong (the control)
"""

from __future__ import annotations

import numpy as np

import backends
from backends.numpy import NumpyBackend

SCALE = 1.01

_VARIANTS = (
    backends.Variant("exact", False, None, "the hand derivatives, right (control)"),
    backends.Variant("scaled", False, "scaled", "every derivative 1% too large"),
    backends.Variant("reshaped", False, "reshaped", "right values, wrong shapes"),
    backends.Variant("wide", False, "wide", "float64 whatever the cell's dtype"),
    backends.Variant("broken", False, "broken", "building the Hessian raises"),
)
backends.register(backends.BackendInfo("skewed", "tests.skewed_backend", "numpy", "", False, _VARIANTS))


def _row(a):
    return np.reshape(a, (1, -1))


class SkewedBackend(NumpyBackend):
    def version(self) -> str:
        return f"skewed-1 ({self.variant.name})"

    @property
    def fault(self) -> str:
        return self.variant.name

    def asarray(self, a, dtype):
        return np.array(a, dtype="float64" if self.fault == "wide" else dtype)

    def _arrays(self, arrays):
        if self.fault == "scaled":
            return tuple(SCALE * a for a in arrays)
        if self.fault == "reshaped":
            return tuple(_row(a) for a in arrays)
        return tuple(arrays)

    def value_and_grad(self, f):
        hand = super().value_and_grad(f)

        def value_and_grad(params, data):
            value, grads = hand(params, data)
            return value, self._arrays(grads)

        return value_and_grad

    def vjp(self, f):
        hand = super().vjp(f)

        def vjp(params, u, data):
            value, cotangents = hand(params, u, data)
            return value, self._arrays(cotangents)

        return vjp

    def jvp(self, f):
        hand = super().jvp(f)

        def jvp(params, t, data):
            value, tangent = hand(params, t, data)
            return value, SCALE * tangent if self.fault == "scaled" else tangent

        return jvp

    def hessian(self, f):
        if self.fault == "broken":
            raise RuntimeError("injected failure while building the Hessian")
        hand = super().hessian(f)

        def hessian(w, data):
            h = hand(w, data)
            return SCALE * h if self.fault == "scaled" else np.ravel(h) if self.fault == "reshaped" else h

        return hessian

    def jacobian(self, f):
        hand = super().jacobian(f)

        def jacobian(w, data):
            j = hand(w, data)
            return SCALE * j if self.fault == "scaled" else np.ravel(j) if self.fault == "reshaped" else j

        return jacobian

    def hvp(self, f):
        hand = super().hvp(f)

        def hvp(w, v, data):
            return self._arrays((hand(w, v, data),))[0]

        return hvp


def make(info, variant) -> SkewedBackend:
    return SkewedBackend(info, variant)
