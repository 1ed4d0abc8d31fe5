"""Read the fleet file itself: a regular file only, and never more than the size limit.

A FIFO would block the first read forever, ``/dev/zero`` would fill memory before any size
check, and a directory is not a document; all are refused after one ``open`` (non-blocking,
so even a FIFO with no writer returns at once) and an ``fstat``, before a byte is read. The
read stops one byte past the limit: `load` then refuses the file as too large.
"""

from __future__ import annotations

import errno
import os
import stat

from compiler.load.yaml import MAX_BYTES

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class ReadError(Exception):
    """The fleet file cannot be read as a document (exit 2); the message names the path."""


def read_fleet_file(path: str, limit: int = MAX_BYTES) -> bytes:
    """At most `limit` + 1 bytes of the regular file at `path`."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO's other end on some systems
            raise ReadError(f"{path} is not a regular file; give the path of fleet.yaml") from None
        raise ReadError(f"{path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise ReadError(f"{path} is {kind}; give the path of fleet.yaml (a regular file)")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ReadError(f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)
