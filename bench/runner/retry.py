"""Which recorded cells ``--resume`` measures again: those that failed for the environment's reasons.

The one rule (:func:`again`), for the local and the cluster run alike. A record says
the environment failed when the cell never reached its computation:

* ``error`` raised by a framework that is missing or fails to import
  (``BackendUnavailable``, ``ImportError``, ``ModuleNotFoundError``) or by a device
  the framework does not see (``DeviceUnavailable``): tried again on every
  ``--resume``, since the fix (an install, a GPU build) is in the environment and
  a failing retry costs one import;
* ``not_run``: its worker died, or started no cell in time, before reaching it:
  tried again until it has been tried :data:`MAX_ATTEMPTS` times, so a worker
  that dies at start every time is not restarted forever.

Every other record is kept: ``ok``; ``nan``, ``diverged`` and ``wrong``, the
computation's own answer; an ``error`` raised by the computation; ``crashed``
and ``timeout``, a cell that took its worker down or ran past ``--timeout``
once it had started (nothing in the record tells the environment's share).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: a not_run cell is retried until it has been tried this often
MAX_ATTEMPTS = 2
#: exceptions that say the environment lacks something the cell needs (the worker records ``Type: message``)
ENVIRONMENT_ERRORS = ("BackendUnavailable", "DeviceUnavailable", "ImportError", "ModuleNotFoundError")


def environment_failed(rec: dict[str, Any]) -> bool:
    """Whether a cell's record says a framework or device was missing."""
    reason = rec.get("reason")
    if rec.get("status") != "error" or not isinstance(reason, str):
        return False
    return reason.split(":", 1)[0].strip() in ENVIRONMENT_ERRORS


def again(rec: dict[str, Any]) -> bool:
    """Whether ``--resume`` measures the cell of this record again."""
    if environment_failed(rec):
        return True
    return rec.get("status") == "not_run" and (rec.get("attempts") or 1) < MAX_ATTEMPTS


@dataclass(frozen=True)
class Earlier:
    """What a retried cell's earlier record says: how often the cell was tried, and how it ended."""

    attempts: int
    previous: str

    @classmethod
    def of(cls, rec: dict[str, Any]) -> Earlier:
        return cls(int(rec.get("attempts") or 1), f"{rec['status']}: {rec.get('reason')}")

    def to_json(self) -> list:
        return [self.attempts, self.previous]

    @classmethod
    def from_json(cls, doc: Any) -> Earlier:
        attempts, previous = doc
        return cls(int(attempts), str(previous))


def earlier(records: dict[str, dict[str, Any]], ids) -> dict[str, Earlier]:
    """The cells among ``ids`` that ``--resume`` measures again, with what their records say."""
    return {i: Earlier.of(records[i]) for i in ids if i in records and again(records[i])}
