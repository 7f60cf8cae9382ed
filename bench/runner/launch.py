"""``python -m bench.runner.launch --threads N MODULE [ARGS ...]``: run MODULE as ``__main__`` pinned to N CPUs.

The runner starts every worker through this module rather than with a
``preexec_fn`` (unsafe in a process with threads, and the runner draws a
progress bar in one): before anything else is imported it pins the process to
the first N CPUs (:func:`bench.runner.pools.pin`) and asks the kernel to
kill it when the process that started it (``BENCH_PARENT``) dies, so a
``kill -9`` of the runner leaves no worker behind.
"""

from __future__ import annotations

import os
import runpy
import sys

from . import pools


def command(module: str, *args: str, threads: int) -> list[str]:
    """The command that runs ``python -m module args`` pinned to ``threads`` CPUs."""
    return [sys.executable, "-m", "bench.runner.launch", "--threads", str(threads), module, *args]


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
    argv = sys.argv[1:]
    if len(argv) < 3 or argv[0] != "--threads" or not argv[1].isdigit() or int(argv[1]) < 1:
        sys.exit("usage: python -m bench.runner.launch --threads N MODULE [ARGS ...]")
    pools.pin(int(argv[1]))
    die_with_parent(int(os.environ.get("BENCH_PARENT") or 0))
    module = argv[2]
    sys.argv = [module, *argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
