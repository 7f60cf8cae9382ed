"""One thread setting, applied identically to every framework.

The thread count must be fixed before a framework is imported: the OpenMP,
MKL and OpenBLAS pools, XLA's and TensorFlow's Eigen pools size themselves
when they start. So the runner builds the worker's environment with
:func:`pool_variables`, the worker is pinned to that many CPUs by
:mod:`bench.runner.launch` (XLA and Eigen size their pools from the CPU
affinity, which makes them respect the setting where no flag does), and the
worker calls the backend's own ``set_threads`` right after importing a
framework for the knobs that only exist as function calls
(``torch.set_num_threads``, ``tf.config.threading``). Nothing here knows a
framework by name.
"""

from __future__ import annotations

import os

#: environment variables that size a thread pool, all set to the same count
POOL_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


#: how OpenMP's idle threads wait (``OMP_WAIT_POLICY``, honoured by GNU, LLVM and Intel OpenMP):
#: ``passive`` sleeps at once, ``active`` spins, ``inherit`` leaves the variable as the caller has it.
#: Spinning makes a pool pathological on a shared machine: a thread spinning at a barrier takes the
#: core its descheduled partner needs (torch.compile's kernels: 0.05 ms a call, 30-50 ms while another
#: process used a core), so every worker gets ``passive`` unless ``--wait-policy`` says otherwise.
WAIT_POLICIES = ("passive", "active", "inherit")
DEFAULT_WAIT_POLICY = "passive"


def available_cpus() -> list[int]:
    """CPUs this process may run on (its affinity), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def default() -> int:
    """The default thread count: every CPU this process may use."""
    return len(available_cpus())


def pool_variables(
    threads: int, base: dict[str, str] | None = None, wait_policy: str = DEFAULT_WAIT_POLICY
) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with every pool sized to ``threads`` and OpenMP's
    idle threads waiting as ``wait_policy`` says (:data:`WAIT_POLICIES`)."""
    env = dict(os.environ if base is None else base)
    for name in POOL_VARIABLES:
        env[name] = str(threads)
    if wait_policy != "inherit":
        env["OMP_WAIT_POLICY"] = wait_policy.upper()
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread_eigen")]
    if threads == 1:
        # XLA's documented single-thread switch; above one thread the affinity mask sizes its pool.
        flags.append("--xla_cpu_multi_thread_eigen=false")
    env["XLA_FLAGS"] = " ".join(flags)
    return env


def pin(threads: int) -> list[int]:
    """Restrict the current process (and what it starts) to the first ``threads`` CPUs."""
    cpus = available_cpus()[:threads]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    return cpus
