"""Test-only plugin: a worker process dies before running any cell, as if killed while importing its framework.

Loaded through ``BENCH_PLUGINS=tests.fault_early`` by the runner and by each
worker. In a worker (``BENCH_PLAN`` set) it SIGKILLs its own process at import
while the file named by ``FAULT_EARLY_FLAG`` holds fewer deaths than
``FAULT_EARLY_DEATHS`` (default 1), counting each death in that file. With
``FAULT_EARLY_MODE=hang`` it sleeps instead, as a worker stuck before its first cell.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

_flag = os.environ.get("FAULT_EARLY_FLAG")
if _flag and os.environ.get("BENCH_PLAN"):
    path = Path(_flag)
    deaths = len(path.read_text().splitlines()) if path.exists() else 0
    if deaths < int(os.environ.get("FAULT_EARLY_DEATHS", "1")):
        with open(path, "a") as fh:
            fh.write("died\n")
        if os.environ.get("FAULT_EARLY_MODE") == "hang":
            time.sleep(3600)
        os.kill(os.getpid(), signal.SIGKILL)
