"""Writing into folders the tool did not make: never through a symbolic link.

A run folder may come from someone else (a tarball, a copy from another
machine), and any name in it may be a symbolic link planted so that the tool
overwrites a file elsewhere (``report/index.html`` -> ``~/.bashrc``). Every
file the tool writes goes through this module:

* :func:`replacing` and :func:`write_text`: a new file beside the target
  (created exclusively, never through a link), moved onto it with
  ``os.replace``: a link at the target is replaced, never followed, and a
  failed write leaves the old file as it was;
* :func:`open_log`: a file streamed while a process writes to it, created
  afresh after whatever stood at its name (a link included) is removed;
* :func:`make_dir`: a folder the tool creates inside a run folder, refused
  when a symbolic link stands at its name.

Written files get the mode of any file the user creates (``0o666`` under the umask).

Reading a file from such a folder goes through :func:`read_json`: a file that is
missing, unreadable, not JSON or nested deeper than :data:`MAX_DEPTH` is a reason,
never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class UnsafePath(OSError):
    """A symbolic link (or another non-folder) stands where the tool would create a folder."""


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (else set and set back at once)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()
#: the mode of a file the user creates
FILE_MODE = 0o666 & ~UMASK


def make_dir(path: Path | str) -> Path:
    """``path`` as a folder (made with its parents if missing); :class:`UnsafePath` if a link stands there."""
    path = Path(path)
    if not path.is_symlink():
        path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise UnsafePath(errno.ELOOP, "a symbolic link stands at this folder's name (never followed)", str(path))
    if not path.is_dir():
        raise UnsafePath(errno.ENOTDIR, "not a folder", str(path))
    return path


@contextmanager
def replacing(path: Path | str) -> Iterator[Path]:
    """A new temporary file beside ``path`` to write into (by name); moved onto ``path`` when the block ends.

    If the block raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)  # O_EXCL, O_NOFOLLOW
    try:
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes(path: Path | str, data: bytes, durable: bool = False) -> None:
    """Write ``path`` whole or not at all, replacing (never following) a link there; ``durable``: fsync first."""
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())


def write_text(path: Path | str, text: str, durable: bool = False) -> None:
    """:func:`write_bytes` of ``text`` in UTF-8."""
    write_bytes(path, text.encode("utf-8"), durable)


def open_log(path: Path | str):
    """A new text file at ``path`` for a process to stream into: whatever stood at the name (a link, an
    old log) is removed first, and the file is created exclusively, never through a link."""
    path = Path(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.fdopen(os.open(path, flags, 0o666), "w", encoding="utf-8", errors="replace")


#: nesting deeper than this in a file the tool reads is damage (ours nest a few levels; a file nested
#: a thousand deep stops ``json`` with RecursionError, and anything recursive after it)
MAX_DEPTH = 64


def too_deep(doc: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether parsed JSON nests lists and objects more than ``limit`` deep (walked without recursion)."""
    stack = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def read_json(path: Path | str) -> tuple[Any, str | None]:
    """``(parsed file, None)``, or ``(None, why not)`` when it is unreadable, not JSON or nested too deeply."""
    from .fmt import one_line

    try:
        doc = json.loads(Path(path).read_text())
    except RecursionError:
        return None, "not readable JSON (nested too deeply)"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"not readable JSON ({one_line(exc, name=False)})"
    return (None, "not readable JSON (nested too deeply)") if too_deep(doc) else (doc, None)
