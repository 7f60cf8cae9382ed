"""The benchmark suite: one pytest-benchmark test per cell of the plan.

Not collected by the test suite: the runner (``python -m bench run``) starts it
once per backend, with ``BENCH_PLAN`` naming the plan and ``-p bench.worker``.
Ids read ``problem-size-label-dtype-kind-device-tthreads``, for example
``logistic_regression-medium-jax+jit-float64-gradient-cpu-t2``. A cell that
does not end ``ok`` fails its test with the recorded status and reason.
"""

from __future__ import annotations

import pytest

from bench import worker

_SPECS = worker.current().plan.get("cells", [])


@pytest.mark.parametrize("spec", _SPECS, ids=[spec["id"] for spec in _SPECS])
def test_cell(spec, benchmark, request):
    benchmark.group = f"{spec['cell']['problem']}-{spec['cell']['size']}-{spec['cell']['kind']}"
    rec = worker.current().run_cell(spec, benchmark, request.config)
    if rec["status"] != "ok":
        pytest.fail(f"{rec['status']}: {rec['reason']}", pytrace=False)
