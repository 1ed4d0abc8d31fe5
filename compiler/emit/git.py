"""Commit the output directory with the real git CLI.

Only DIR is staged and committed (``git add -A -- DIR`` then ``git commit --only -- DIR``),
so whatever else the user has staged stays staged and out of fleetc's commit. No commit is
made when DIR matches HEAD. The commit itself is git's own atomic ref update: a kill at any
point leaves HEAD at the old or the new commit; a kill between ``add`` and ``commit`` leaves
DIR staged, and the next run commits it.

git's ``index.lock`` belongs to whichever git process holds it; fleetc never deletes it. It
waits a few seconds (another git may be finishing) and then reports the lock with git's own
advice.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class GitError(Exception):
    """git is missing, DIR is not in a repository, or a git command failed."""


@dataclass(frozen=True)
class Committed:
    """The outcome: the new commit's id, or None when DIR matched HEAD already."""

    commit: str | None
    pathspec: str


def _git(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    # LC_ALL=C so messages we match on are git's English ones; never prompt in CI.
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not installed (not on PATH)") from None
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()
        raise GitError(f"git {args[0]} failed: {message}")
    return proc


def _locked_retry(args: list[str], cwd: Path, wait: float) -> subprocess.CompletedProcess[str]:
    """Run a git command that takes index.lock, retrying while another git holds it."""
    deadline = time.monotonic() + wait
    while True:
        proc = _git(args, cwd, check=False)
        if proc.returncode == 0:
            return proc
        message = (proc.stderr or proc.stdout).strip()
        if "index.lock" not in message or time.monotonic() > deadline:
            raise GitError(f"git {args[0]} failed: {message}")
        time.sleep(0.2)


def toplevel(directory: Path) -> Path:
    """The work tree holding `directory`; refuses cleanly outside a repository."""
    proc = _git(["rev-parse", "--show-toplevel"], directory, check=False)
    if proc.returncode != 0:
        raise GitError(f"{directory} is not inside a git repository (git init, or pick --out)")
    return Path(proc.stdout.strip()).resolve()


def commit(directory: Path, message: str, lock_wait: float = 10.0) -> Committed:
    """Stage and commit exactly `directory`; no commit when it matches HEAD."""
    top = toplevel(directory)
    relative = directory.resolve().relative_to(top).as_posix()
    # Literal pathspec: a directory named like a glob means only itself.
    pathspec = f":(literal){relative}" if relative != "." else "."
    _locked_retry(["add", "-A", "--", pathspec], top, lock_wait)
    has_head = _git(["rev-parse", "--verify", "-q", "HEAD"], top, check=False).returncode == 0
    if has_head:
        staged = _git(["diff", "--cached", "--quiet", "HEAD", "--", pathspec], top, check=False)
        if staged.returncode == 0:
            return Committed(None, relative)
        if staged.returncode != 1:
            raise GitError(f"git diff failed: {staged.stderr.strip()}")
    else:
        listed = _git(["ls-files", "--cached", "--", pathspec], top)
        if not listed.stdout.strip():
            return Committed(None, relative)
    # --no-verify: the commit holds only files fleetc just generated from a validated fleet,
    # and a hook that runs fleetc on DIR would wait forever on the lock this process holds.
    commit_args = ["commit", "-q", "--no-verify", "-m", message, "--only", "--", pathspec]
    _locked_retry(commit_args, top, lock_wait)
    head = _git(["rev-parse", "HEAD"], top).stdout.strip()
    return Committed(head, relative)
