"""fleetc's private cache directory: files only this user wrote, read without following links.

A cache is worth nothing if someone else can write it: whatever fleetc reads back from it
steers what it reports. So the directory is ours and private (0700), a file is read only when
it is a regular file we own that nobody else can write, opened without following a symlink,
and writes go to a fresh ``O_EXCL`` temporary file renamed into place, so a symlink planted at
the cache path is replaced, never written through. Anything unexpected means "no cache".
Callers store data, never code (JSON), and check a key inside the file before trusting it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

_MAX_CACHE = 4 * 1024 * 1024
"""The largest cache file read unless a caller allows more (CEL tables are ~150 KB)."""


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fleetc"


def private_directory(directory: Path) -> bool:
    """Create `directory` 0700, or accept it when it is a real directory we own, made private.

    A directory of ours that others may read or enter but not write (an older fleetc made it
    0755, and so refused its own cache on every run) is made 0700, through a descriptor opened
    without following links so a symlink swapped in after the check is never chmod-ed: no one
    else can have put anything in it. One others can write stays refused: they may have.
    """
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return False
        if st.st_mode & 0o077 and not st.st_mode & 0o022:
            os.fchmod(fd, 0o700)
            st = os.fstat(fd)
        return st.st_mode & 0o077 == 0
    except OSError:
        return False
    finally:
        os.close(fd)


def read_private(path: Path, limit: int = _MAX_CACHE) -> bytes | None:
    """The bytes of `path` when it is a regular file we own that nobody else can write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_uid != os.geteuid()
            or st.st_mode & 0o022
            or st.st_size > limit
        ):
            return None
        chunks, size = [], 0
        while chunk := os.read(fd, limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_private(directory: Path, name: str, data: bytes) -> None:
    """Write `data` as `directory/name`: O_EXCL temporary file (0600), then rename."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except OSError:  # a full disk or a read-only home: no cache, the command still works
        return
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, directory / name)  # replaces a symlink itself, never its target
    except OSError:
        Path(tmp).unlink(missing_ok=True)
