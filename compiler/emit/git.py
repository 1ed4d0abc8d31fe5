"""Commit the output directory with the real git CLI: in place, or on a deploy branch.

In place: only DIR is staged and committed (``git add -A -- DIR`` then ``git commit --only -- DIR``),
so whatever else the user has staged stays staged and out of fleetc's commit. No commit is
made when DIR matches HEAD. The commit itself is git's own atomic ref update: a kill at any
point leaves HEAD at the old or the new commit; a kill between ``add`` and ``commit`` leaves
DIR staged, and the next run commits it.

git's ``index.lock`` belongs to whichever git process holds it; fleetc never deletes it. It
waits a few seconds (another git may be finishing) and then reports the lock with git's own
advice.

Trailers name the source commit (`source_state`). Committing to a deploy branch and pushing
are in `compiler.emit.branch`.

Every git command fleetc runs has hooks switched off (``core.hooksPath=/dev/null``): fleetc's
commits hold only files it generated from a validated fleet, and a hook that runs fleetc on
DIR (post-commit, reference-transaction, pre-push) would wait on the lock this process holds.
Every value a user gives that reaches git (a branch, a remote) is checked first
(`check_branch`, `check_remote`) so none can be read as an option.
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


def run(
    args: list[str],
    cwd: Path,
    check: bool = True,
    *,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    # LC_ALL=C so messages we match on are git's English ones; never prompt in CI.
    full_env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=cwd,
            env=full_env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (not on PATH)") from None
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()
        raise GitError(f"git {args[0]} failed: {message}")
    return proc


def _printable(value: str) -> str:
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")


def check_branch(name: str) -> str:
    """`name` when it is a plain branch name; GitError (a usage error) otherwise.

    A branch is given as its short name and always means ``refs/heads/NAME``: a full ref
    (``refs/heads/x`` would become ``refs/heads/refs/heads/x``), ``HEAD``, ``@`` and ``@{...}``
    (which git expands to another branch) and a leading ``-`` (an option to git) are refused;
    the rest is git's own ``check-ref-format``.
    """
    shown = _printable(name)[:200]
    why = ""
    if not name or not name.isprintable() or name.strip() != name:
        why = "it is empty or holds control characters or surrounding spaces"
    elif name.startswith("-"):
        why = "it starts with '-'"
    elif name.startswith("refs/"):
        why = f"give the branch's short name ({name.removeprefix('refs/heads/')!r}), not a ref"
    elif name in ("HEAD", "@") or "@{" in name:
        why = "HEAD, @ and @{...} name other commits, not a branch to commit to"
    else:
        proc = run(["check-ref-format", f"refs/heads/{name}"], Path("/"), check=False)
        if proc.returncode != 0:
            why = "git check-ref-format refuses it"
    if why:
        raise GitError(f"{shown!r} is not a valid branch name: {why}")
    return name


def check_remote(remote: str) -> str:
    """`remote` when git can only read it as a remote (a name, a path or a URL)."""
    why = ""
    if not remote or not remote.isprintable():
        why = "it is empty or holds control characters"
    elif remote.startswith("-"):
        why = "it starts with '-' (git would read it as an option)"
    if why:
        shown = _printable(remote)[:200]
        raise GitError(f"{shown!r} is not a remote: {why}; give a remote's name, a path or a URL")
    return remote


def _locked_retry(args: list[str], cwd: Path, wait: float) -> subprocess.CompletedProcess[str]:
    """Run a git command that takes index.lock, retrying while another git holds it."""
    deadline = time.monotonic() + wait
    while True:
        proc = run(args, cwd, check=False)
        if proc.returncode == 0:
            return proc
        message = (proc.stderr or proc.stdout).strip()
        if "index.lock" not in message or time.monotonic() > deadline:
            raise GitError(f"git {args[0]} failed: {message}")
        time.sleep(0.2)


def toplevel(directory: Path) -> Path:
    """The work tree holding `directory`; refuses cleanly outside a repository."""
    proc = run(["rev-parse", "--show-toplevel"], directory, check=False)
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
    has_head = run(["rev-parse", "--verify", "-q", "HEAD"], top, check=False).returncode == 0
    if has_head:
        staged = run(["diff", "--cached", "--quiet", "HEAD", "--", pathspec], top, check=False)
        if staged.returncode == 0:
            return Committed(None, relative)
        if staged.returncode != 1:
            raise GitError(f"git diff failed: {staged.stderr.strip()}")
    else:
        listed = run(["ls-files", "--cached", "--", pathspec], top)
        if not listed.stdout.strip():
            return Committed(None, relative)
    # --no-verify: the commit holds only files fleetc just generated from a validated fleet,
    # and a hook that runs fleetc on DIR would wait forever on the lock this process holds.
    commit_args = ["commit", "-q", "--no-verify", "-m", message, "--only", "--", pathspec]
    _locked_retry(commit_args, top, lock_wait)
    head = run(["rev-parse", "HEAD"], top).stdout.strip()
    return Committed(head, relative)


# -- the source commit, named in trailers ------------------------------------------------------


@dataclass(frozen=True)
class SourceState:
    """Where the rendered fleet file's bytes come from, as far as git can vouch for them."""

    commit: str | None
    """HEAD of the fleet file's repository, when HEAD holds exactly the bytes rendered."""
    detail: str
    """Why there is no commit to name: ``working tree (dirty)``, ``untracked``, ..."""


def source_state(fleet: Path, digest: str) -> SourceState:
    """Name HEAD as the source when ``HEAD:fleet`` has sha256 `digest`, else say why not.

    The bytes compared are the ones that were rendered (by digest), not the file as it is now,
    so an edit after fleetc read the file cannot make a dirty render look committed.
    """
    import hashlib

    directory = fleet.absolute().parent
    try:
        top = toplevel(directory)
    except GitError:
        return SourceState(None, "not in a git repository")
    head = run(["rev-parse", "--verify", "-q", "HEAD"], top, check=False)
    if head.returncode != 0:
        return SourceState(None, "untracked (no commit yet)")
    sha = head.stdout.strip()
    relative = (directory.resolve() / fleet.name).relative_to(top).as_posix()
    blob = subprocess.run(
        ["git", "cat-file", "blob", f"{sha}:{relative}"],
        cwd=top,
        capture_output=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    if blob.returncode != 0:
        return SourceState(None, "untracked (not in HEAD)")
    if hashlib.sha256(blob.stdout).hexdigest() != digest:
        return SourceState(None, "working tree (dirty)")
    return SourceState(sha, "")


def with_trailers(message: str, trailers: list[tuple[str, str]], cwd: Path) -> str:
    """`message` with `trailers` in its trailer block, via git's own parser.

    ``git interpret-trailers`` joins an existing block (a user's ``Signed-off-by``) instead of
    starting a second paragraph git would no longer read as trailers, and puts the blank line
    before a new block. ``--if-exists add``: git matches trailer keys by prefix, so
    ``replace`` would let ``Fleetc-Source-Digest`` replace a ``Fleetc-Source`` line.
    """
    args = ["interpret-trailers", "--no-divider", "--if-exists", "add", "--if-missing", "add"]
    for key, value in trailers:
        args += ["--trailer", f"{key}: {value}"]
    text = message if message.endswith("\n") else message + "\n"
    return run(args, cwd, stdin=text).stdout


def locate(out: Path) -> tuple[Path, str]:
    """The work tree that would hold `out` (which need not exist yet), and `out` relative to it.

    The nearest existing ancestor decides the repository; the rest of the path is appended
    as written (after resolving ``..``), so a DIR that does not exist yet is placed correctly.
    """
    absolute = Path(os.path.normpath(out.absolute()))
    existing = absolute
    while not existing.is_dir() and existing != existing.parent:
        existing = existing.parent
    top = toplevel(existing)
    full = existing.resolve() / absolute.relative_to(existing)
    try:
        relative = full.relative_to(top).as_posix()
    except ValueError:
        raise GitError(f"{out} is outside the repository at {top}") from None
    if relative.split("/")[0] == ".git":
        raise GitError(f"{out} is inside the repository's .git directory")
    return top, relative


def current_branch(top: Path) -> str:
    """The checked-out branch's short name; a detached HEAD has none to push."""
    proc = run(["symbolic-ref", "-q", "HEAD"], top, check=False)
    if proc.returncode != 0 or not proc.stdout.startswith("refs/heads/"):
        raise GitError("HEAD is detached: there is no branch to push")
    return proc.stdout.strip().removeprefix("refs/heads/")
