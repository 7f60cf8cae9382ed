"""Test-only plugin: a disk that fills up.

Loaded through ``BENCH_PLUGINS=tests.fault_disk`` by the runner and by each
worker. Together, all processes may write ``FAULT_DISK_WRITES`` JSON files
through :func:`bench.results.write_json` (counted in the file
``FAULT_DISK_COUNT``); every later write fails as a full disk does
(``OSError`` ENOSPC naming the file), after a temporary file was begun, so the
clean-up path is exercised too.
"""

from __future__ import annotations

import errno
import os

from bench import results

_real = results.write_json
_limit = int(os.environ.get("FAULT_DISK_WRITES", "0"))
_count = os.environ["FAULT_DISK_COUNT"]


def write_json(path, data):
    with open(_count, "a+") as fh:  # one byte per write, shared by every process of the run
        fh.seek(0)
        done = len(fh.read())
        if done < _limit:
            fh.write(".")
    if done >= _limit:
        tmp = f"{path}.partial-by-fault-disk"
        open(tmp, "w").close()  # a write began ...
        os.unlink(tmp)  # ... and its leftovers are removed, as write_json does
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return _real(path, data)


results.write_json = write_json
