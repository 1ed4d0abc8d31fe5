"""Staging in a helper process: fleetc serializes, a child creates the files.

A first render at 511 clusters stages half a million files. Creating them is system time
(inode, directory entry, page cache: ~45 us a file on the machine this was measured on) and
serializing them is Python holding the GIL, about as much again. A thread cannot overlap
the two (measured: 10% at best, the GIL hand-offs eat the rest); a second process can, so a
large write hands its staged files to ``python -c <this module's main>``, over a pipe.

The child gets the staging directory as an inherited descriptor (not a path: nothing it does
can be redirected by a symlink), creates subdirectories one component at a time with
``O_NOFOLLOW`` (`SafeDir`), and dies with its parent (``PR_SET_PDEATHSIG``): a killed render
leaves no writer behind, only staging debris for the next run to sweep. It stages, nothing
more: the journal, the commit point and every change to DIR stay in the parent.

Records are ``<u32 path length><u64 data length><path><data>``. At the end of input the
child writes, for every file in order, ``<u64 inode><u64 size><i64 mtime ns><i64 ctime ns>``
from fstat right after writing it (what the fast path's signature needs to vouch for the bytes), and
exits 0; on any failure it prints why on stderr and exits 1. It also holds DIR's lock
descriptor, so the lock outlives fleetc until the helper is gone too.
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, NoReturn

from compiler.emit.fs import NEW_FLAGS, OutputError, SafeDir, check_path, write_all

HEAD = struct.Struct("<IQ")
STAMP = struct.Struct("<QQqq")
PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl; elsewhere the default pipe size is kept
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class Stager:
    """A child process creating files in one staging directory (see the module docstring)."""

    def __init__(self, staging_fd: int, lock_fd: int) -> None:
        env = {k: v for k, v in os.environ.items() if k != "FLEETC_TEST_CRASH_AT"}
        code = (
            f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
            "from compiler.emit.stage import main; sys.exit(main(sys.argv[1:]))"
        )
        # -I: nothing from the working directory (a fleet repository) or PYTHON* variables
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", code, str(staging_fd), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(staging_fd, lock_fd),
            env=env,
            bufsize=PIPE_SIZE,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._pipe: IO[bytes] = self._proc.stdin
        self._put = 0
        try:
            import fcntl

            fcntl.fcntl(self._pipe.fileno(), _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # a smaller pipe only means more round trips

    def put(self, path: str, data: bytes) -> None:
        name = path.encode()
        try:
            self._pipe.write(HEAD.pack(len(name), len(data)))
            self._pipe.write(name)
            self._pipe.write(data)
        except BrokenPipeError:
            self._failed()
        self._put += 1

    def finish(self) -> list[tuple[int, int, int, int]]:
        """Wait until every file put is written (`syncfs` is the caller's); each one's (inode,
        size, mtime ns, ctime ns) right after it was written, in the order put."""
        with contextlib.suppress(BrokenPipeError):
            self._pipe.close()
        assert self._proc.stdout is not None
        stamps = self._proc.stdout.read()  # written only after end of input: no deadlock
        if self._proc.wait() != 0 or len(stamps) != self._put * STAMP.size:
            self._failed()
        self._close_pipes()
        return list(STAMP.iter_unpack(stamps))

    def abort(self) -> None:
        self._proc.kill()
        self._proc.wait()
        with contextlib.suppress(BrokenPipeError):
            self._pipe.close()
        self._close_pipes()

    def _failed(self) -> NoReturn:
        self._proc.kill()
        self._proc.wait()
        assert self._proc.stderr is not None
        why = self._proc.stderr.read().decode("utf-8", "replace").strip()
        self._close_pipes()
        raise OutputError(f"staging files failed: {why or f'exit {self._proc.returncode}'}")

    def _close_pipes(self) -> None:
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: end of input still ends the child
    if os.getppid() != parent:
        sys.exit(1)  # the parent died before prctl took effect


def main(argv: list[str]) -> int:
    """The child: create every file read from stdin under the inherited directory argv[0]."""
    staging_fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    staging = SafeDir(Path("staging"), staging_fd)
    reader = open(0, "rb", buffering=PIPE_SIZE, closefd=False)  # noqa: SIM115
    stamps: list[bytes] = []
    try:
        while record := reader.read(HEAD.size):
            if len(record) != HEAD.size:
                raise OutputError("truncated record")
            path_size, data_size = HEAD.unpack(record)
            name_bytes = reader.read(path_size)
            data = reader.read(data_size)
            if len(name_bytes) != path_size or len(data) != data_size:
                raise OutputError("truncated record")
            path = name_bytes.decode()
            check_path(path)
            parent_dir, _, name = path.rpartition("/")
            parent_fd = staging._dir(parent_dir, create=True)
            assert parent_fd is not None
            fd = os.open(name, NEW_FLAGS, 0o644, dir_fd=parent_fd)
            try:
                write_all(fd, data)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            stamps.append(STAMP.pack(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    except (OSError, OutputError, UnicodeDecodeError) as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(b"".join(stamps))
    sys.stdout.buffer.flush()
    return 0
