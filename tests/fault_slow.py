"""The ``slow`` test backend's module (registered by :mod:`tests.fault_backend`)."""

from tests.fault_backend import SlowBackend


def make(info, variant) -> SlowBackend:
    return SlowBackend(info, variant)
