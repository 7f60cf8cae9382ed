"""``python -m bench.launch MODULE [ARGS ...]``: run MODULE as ``__main__`` inside the thread setting.

The runner starts every worker through this module rather than with a
``preexec_fn`` (unsafe in a process with threads, and the runner draws a
progress bar in one): before anything else is imported it pins the process to
``BENCH_THREADS`` CPUs (:func:`bench.threads.pin`) and asks the kernel to kill
it when the process that started it (``BENCH_PARENT``) dies, so a ``kill -9``
of the runner leaves no worker behind.
"""

from __future__ import annotations

import os
import runpy
import sys

from bench import threads


def die_with_parent(parent: int) -> None:
    """Linux ``PR_SET_PDEATHSIG``: SIGKILL this process when its parent exits."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m bench.launch MODULE [ARGS ...]")
    if os.environ.get("BENCH_THREADS"):
        threads.pin(int(os.environ["BENCH_THREADS"]))
    die_with_parent(int(os.environ.get("BENCH_PARENT") or 0))
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
