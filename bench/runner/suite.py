"""The benchmark suite: one pytest-benchmark test per cell of a worker's plan.

Not collected by the test suite: the runner starts it once per worker group,
with ``BENCH_PLAN`` naming the plan and ``-p bench.runner.worker``. Ids read
``problem-size-label-dtype-kind-device-tthreads``, for example
``logistic_regression-medium-jax+jit-float64-gradient-cpu-t2``. A cell that
does not end ``ok`` fails its test with the recorded status and reason.
"""

from __future__ import annotations

import pytest

from bench.runner import worker

_WORKER = worker.current()
_SPECS = list(_WORKER.plan.cells) if _WORKER is not None else []


@pytest.mark.parametrize("spec", _SPECS, ids=[spec.id for spec in _SPECS])
def test_cell(spec, benchmark, request):
    benchmark.group = f"{spec.cell.problem}-{spec.cell.size}-{spec.cell.kind}"
    rec = _WORKER.run_cell(spec, benchmark, request.config)
    if rec["status"] != "ok":
        pytest.fail(f"{rec['status']}: {rec['reason']}", pytrace=False)
