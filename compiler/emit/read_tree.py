"""Read files of a directory as a branch's tip holds it, without checking anything out.

``commit --branch B --wave NAME`` keeps the clusters of later waves exactly as B holds them,
so it reads their files (and B's manifest) from B's tip. One ``git cat-file --batch`` process
serves every read: a wave can keep thousands of files, and a process per file would cost
seconds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import TracebackType

from compiler.emit.git import GitError
from compiler.emit.git import run as _git


class TreeReader:
    """`read(rel)`: the bytes of ``<directory>/<rel>`` at ``refs/heads/<branch>``, or None.

    A branch that does not exist yet reads as empty. Use as a context manager (the git
    process ends with it).
    """

    def __init__(self, top: Path, branch: str, directory: str) -> None:
        self._top, self._branch = top, branch
        self._prefix = "" if directory in ("", ".") else directory.rstrip("/") + "/"
        self._proc: subprocess.Popen[bytes] | None = None
        self._commit: str | None = None
        self.refresh()

    def refresh(self) -> None:
        """Read from the branch's tip as it is now (after it followed a remote)."""
        ref = f"refs/heads/{self._branch}^{{commit}}"
        tip = _git(["rev-parse", "--verify", "-q", ref], self._top, check=False)
        self._commit = tip.stdout.strip() if tip.returncode == 0 else None
        if self._commit and self._proc is None:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self._top,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )

    def read(self, rel: str) -> bytes | None:
        proc = self._proc
        if proc is None or "\n" in rel:
            return None
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{self._commit}:{self._prefix}{rel}\n".encode())
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) != 3:  # "<name> missing" (or ambiguous)
            return None
        size = int(header[2])
        data = proc.stdout.read(size)
        proc.stdout.read(1)  # the newline after the contents
        if len(data) != size:
            raise GitError("git cat-file ended early")
        return data if header[1] == b"blob" else None

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> TreeReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
