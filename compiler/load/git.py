"""Read fleet.yaml as it was at a git revision, straight from the object database.

`fleetc diff` compares two revisions without checking either out: nothing in the working tree
is touched, and a dirty tree is the "head" side as the user sees it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from compiler.load.yaml import MAX_BYTES


class GitError(Exception):
    """git is missing, the path is not in a repository, or a revision does not resolve."""


@dataclass(frozen=True)
class AtRevision:
    revision: str
    commit: str
    data: bytes | None
    """None when the file does not exist at that revision (a new fleet)."""


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except FileNotFoundError:
        raise GitError("git is not installed") from None


def _git(cwd: Path, *args: str) -> str:
    done = _run(cwd, *args)
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace").strip()
        raise GitError(stderr or f"git {' '.join(args)} failed")
    return done.stdout.decode("utf-8", "replace")


def toplevel(path: Path) -> Path:
    where = path if path.is_dir() else path.parent
    try:
        return Path(_git(where.resolve(), "rev-parse", "--show-toplevel").strip())
    except GitError:
        raise GitError(f"{path} is not inside a git repository") from None


def default_base(repo: Path) -> str:
    """The merge-base of HEAD with the upstream main branch, the first that exists."""
    candidates = ["@{upstream}", "origin/HEAD", "origin/main", "origin/master", "main", "master"]
    for ref in candidates:
        try:
            _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            continue
        try:
            return _git(repo, "merge-base", "HEAD", ref).strip()
        except GitError:
            continue
    raise GitError("no upstream main branch found; pass --base REV")


def read_at(fleet: Path, revision: str) -> AtRevision:
    """The bytes of `fleet` at `revision` (None if it did not exist there)."""
    if revision.startswith("-") or not revision.isprintable():
        # git would read it as an option (rev-parse has several that write or print)
        raise GitError(
            f"revision {revision[:200]!r} is not a revision: it starts with '-' or holds control characters"
        )
    repo = toplevel(fleet)
    try:
        commit = _git(
            repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"
        ).strip()
    except GitError:
        commit = ""
    if not commit:
        raise GitError(f"revision {revision!r} does not resolve to a commit")
    rel = fleet.resolve().relative_to(repo.resolve()).as_posix()
    size = _run(repo, "cat-file", "-s", f"{commit}:{rel}")
    if size.returncode != 0:
        return AtRevision(revision, commit, None)
    if int(size.stdout.strip() or 0) > MAX_BYTES:
        # refused without reading it: a blob can be any size
        raise GitError(f"{rel} at {revision} is larger than the limit of {MAX_BYTES} bytes")
    done = _run(repo, "cat-file", "blob", f"{commit}:{rel}")
    data = done.stdout if done.returncode == 0 else None
    return AtRevision(revision, commit, data)
