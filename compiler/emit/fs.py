"""Filesystem access confined to one directory: no symlink is ever followed out of it.

Every path is opened relative to a directory descriptor, one component at a time, with
``O_NOFOLLOW``: a symlink planted inside the root (``clusters/x -> /etc``) makes the operation
fail with `OutputError` instead of writing through it, and a path that is absolute, empty or
climbs with ``..`` is refused by `check_path` before anything is touched.

`SafeDir` also counts its filesystem steps: ``FLEETC_TEST_CRASH_AT=N`` makes the process
``os._exit`` right after the N-th (a test-only hook, see tests/test_crash.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from compiler.emit.serialize import META_DIR

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_MAX_OPEN = 256
"""Directory descriptors kept open at once; a fleet has thousands of directories and the
default limit on open files is often 1024 (256 on macOS)."""

_syncfs: Any = None  # libc's syncfs, looked up on first use (False: not available)


class Stamp(NamedTuple):
    """What lstat says of a file, enough to notice any change without reading it: a write
    changes the ctime (which nobody can set back), a replacement the inode."""

    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class OutputError(Exception):
    """DIR cannot be used as it is (not ours, a symlink in the way, a bad manifest)."""


def check_path(path: str) -> None:
    """A relative POSIX path with no empty, ``.`` or ``..`` part; anything else is refused."""
    parts = path.split("/")
    if not path or "\0" in path or "\\" in path or any(part in ("", ".", "..") for part in parts):
        raise OutputError(f"refusing unsafe output path {path!r}")


def write_all(fd: int, data: bytes) -> None:
    """`os.write` until every byte is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class SafeDir:
    """Descriptors, reads, writes and deletions under `root`, never through a symlink."""

    def __init__(self, root: Path, fd: int) -> None:
        self.root = root
        self._fds: dict[str, int] = {"": fd}
        self._pinned: set[str] = {"", META_DIR}
        self._steps = 0
        crash = os.environ.get("FLEETC_TEST_CRASH_AT", "")
        self._crash_at = int(crash) if crash.isdigit() else 0

    # -- low level: descriptors, reads, steps -------------------------------------------------

    def _step(self) -> None:
        self._steps += 1
        if self._steps == self._crash_at:
            os._exit(137)

    def _dir(self, rel: str, create: bool = False) -> int | None:
        """A descriptor for directory `rel` under the root, never through a symlink.

        Descriptors are cached, least recently used first out (see `_flush_fds`): a caller may
        hold the one it got across one more `_dir` call, not across a loop of them.
        """
        fd = self._fds.pop(rel, None)
        if fd is not None:
            self._fds[rel] = fd  # most recently used last
            return fd
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dir(parent, create)
        if parent_fd is None:
            return None
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                return None
            os.mkdir(name, 0o755, dir_fd=parent_fd)
            self._step()
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise OutputError(
                    f"{self.root / rel} is a symlink or a file where fleetc needs a directory; "
                    "fleetc does not follow symlinks inside its output"
                ) from None
            raise
        if len(self._fds) >= _MAX_OPEN:
            self._flush_fds()
        self._fds[rel] = fd
        return fd

    def _flush_fds(self) -> None:
        """Close the older half of the cached descriptors, never a pinned one: stay under
        ulimit -n with thousands of directories, keeping the ones in use."""
        unpinned = [rel for rel in self._fds if rel not in self._pinned]
        for rel in unpinned[: len(unpinned) // 2 + 1]:
            os.close(self._fds.pop(rel))

    def _forget_under(self, rel: str) -> None:
        """Drop cached descriptors of `rel` and below (it was moved or removed)."""
        for cached in [r for r in self._fds if r == rel or r.startswith(rel + "/")]:
            self._pinned.discard(cached)
            os.close(self._fds.pop(cached))

    def _sync(self) -> None:
        """Flush DIR's filesystem: staged data before the journal, renames before its removal."""
        global _syncfs
        if _syncfs is None:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            _syncfs = getattr(libc, "syncfs", None) or False
        if not _syncfs or _syncfs(self._fds[""]) != 0:
            os.sync()

    def close(self) -> None:
        for rel, fd in list(self._fds.items()):
            if rel:
                os.close(fd)
        os.close(self._fds[""])
        self._fds.clear()

    def read(self, rel: str) -> bytes | None:
        """The bytes of regular file `rel`, or None when absent or not a regular file."""
        found = self.read_stamped(rel)
        return None if found is None else found[0]

    def read_stamped(self, rel: str) -> tuple[bytes, Stamp] | None:
        """`read`, with the file's `Stamp` taken just before its bytes were read: a change
        after that shows in the stamp, so the pair can vouch for the bytes later."""
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dir(parent)
        if parent_fd is None:
            return None
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                return None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks), Stamp.of(st)
        finally:
            os.close(fd)

    def _lstat(self, rel: str) -> os.stat_result | None:
        """lstat of `rel` (a symlink is not followed), or None when it does not exist."""
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dir(parent)
        if parent_fd is None:
            return None
        try:
            return os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def is_dir(self, rel: str) -> bool:
        """True when `rel` is a directory (a symlink to one is not)."""
        found = self._lstat(rel)
        return found is not None and stat.S_ISDIR(found.st_mode)

    def exists(self, rel: str) -> bool:
        return self._lstat(rel) is not None

    def _put(self, rel: str, data: bytes) -> None:
        """Write `rel` atomically on its own (tmp + fsync + rename); for fleetc's small files."""
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dir(parent, create=True)
        assert parent_fd is not None
        tmp = f"{name}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, NEW_FLAGS, 0o644, dir_fd=parent_fd)
        try:
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._step()
            os.rename(tmp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        except OSError:
            with contextlib.suppress(OSError):  # a full disk: leave no temporary file behind
                os.unlink(tmp, dir_fd=parent_fd)
            raise
        os.fsync(parent_fd)
        self._step()

    def _unlink(self, rel: str) -> None:
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dir(parent)
        if parent_fd is None:
            return
        try:
            os.unlink(name, dir_fd=parent_fd)
        except FileNotFoundError:
            return
        self._step()

    def scan(self) -> set[str]:
        """Every non-directory entry under DIR (symlinks included), outside ``.fleetc/``."""
        return set(self._walk(stat=False))

    def stamps(self) -> dict[str, Stamp]:
        """`scan` with each entry's `Stamp`, from lstat: nothing is read."""
        return {path: stamp for path, stamp in self._walk(stat=True).items() if stamp}

    def stamp(self, rel: str) -> Stamp | None:
        """The `Stamp` of `rel` from lstat, or None when it does not exist."""
        found = self._lstat(rel)
        return None if found is None else Stamp.of(found)

    def _walk(
        self, stat: bool, stop: Callable[[str], bool] | None = None
    ) -> dict[str, Stamp | None]:
        """Every non-directory entry under DIR outside ``.fleetc/``, walked with an explicit
        stack (a deep tree is data, not recursion). `stop` ends the walk early: it is asked
        about each entry found and answers True when the caller has seen enough."""
        found: dict[str, Stamp | None] = {}
        pending: list[tuple[str, str]] = [("", str(self.root))]
        while pending:
            rel, path = pending.pop()
            try:
                entries = list(os.scandir(path))
            except OSError as exc:
                raise OutputError(f"cannot list {path}: {exc.strerror}") from None
            for entry in sorted(entries, key=lambda e: e.name, reverse=True):
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if sub != META_DIR:
                        pending.append((sub, entry.path))
                    continue
                found[sub] = Stamp.of(entry.stat(follow_symlinks=False)) if stat else None
                if stop is not None and stop(sub):
                    return found
        return found

    # -- ownership ----------------------------------------------------------------------------

    def _remove_tree(self, rel: str) -> None:
        """Remove directory `rel` and everything in it (fleetc's staging), depth first, with an
        explicit stack (no recursion however deep it is)."""
        if self._dir(rel) is None:
            return
        pending = [rel]
        while pending:
            current = pending[-1]
            here = self._dir(current)
            assert here is not None
            subdirs = []
            for name in sorted(os.listdir(here)):
                here = self._dir(current)  # again each time: a cached descriptor may be closed
                assert here is not None
                try:
                    os.unlink(name, dir_fd=here)
                except (IsADirectoryError, PermissionError):  # Linux says EISDIR, BSDs EPERM
                    if not stat.S_ISDIR(os.stat(name, dir_fd=here, follow_symlinks=False).st_mode):
                        raise
                    subdirs.append(f"{current}/{name}")
                    continue
                self._step()
            if subdirs:
                pending.extend(reversed(subdirs))
                continue
            self._rmdir(current)
            pending.pop()

    def _rmdir(self, rel: str) -> None:
        """Remove the (empty) directory `rel`, closing our descriptor of it first."""
        self._forget_under(rel)
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dir(parent)
        assert parent_fd is not None
        os.rmdir(name, dir_fd=parent_fd)
        self._step()

    def _prune_empty(self, dirs: list[str]) -> None:
        """Remove directories left empty by pruning, deepest first, never DIR or .fleetc."""
        candidates: set[str] = set()
        for rel in dirs:
            while rel and rel != META_DIR:
                candidates.add(rel)
                rel = rel.rpartition("/")[0]
        for rel in sorted(candidates, key=lambda r: (-r.count("/"), r)):
            try:
                fd = self._dir(rel)
            except OutputError:
                continue  # a file now (a move already done put it there): nothing to prune
            if fd is None or os.listdir(fd):
                continue
            self._rmdir(rel)

    # -- planning and writing -----------------------------------------------------------------
