"""Commit the output directory with the real git CLI: in place, or on a deploy branch.

In place: only DIR is staged and committed (``git add -A -- DIR`` then ``git commit --only -- DIR``),
so whatever else the user has staged stays staged and out of fleetc's commit. No commit is
made when DIR matches HEAD. The commit itself is git's own atomic ref update: a kill at any
point leaves HEAD at the old or the new commit; a kill between ``add`` and ``commit`` leaves
DIR staged, and the next run commits it.

git's ``index.lock`` belongs to whichever git process holds it; fleetc never deletes it. It
waits a few seconds (another git may be finishing) and then reports the lock with git's own
advice.

On a deploy branch (`branch_commit`): plumbing only, never the work tree, index or HEAD; the
ref moves by compare-and-swap. Trailers name the source commit (`source_state`).
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class GitError(Exception):
    """git is missing, DIR is not in a repository, or a git command failed."""


@dataclass(frozen=True)
class Committed:
    """The outcome: the new commit's id, or None when DIR matched HEAD already."""

    commit: str | None
    pathspec: str


def _git(
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
            ["git", *args],
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
    head = _git(["rev-parse", "--verify", "-q", "HEAD"], top, check=False)
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
    return _git(args, cwd, stdin=text).stdout


# -- a deploy branch, built with plumbing: no working tree, index or HEAD is touched ----------


class Conflict(GitError):
    """Someone else moved the branch: a race lost on every retry, or a rejected push (exit 1)."""


def _branch_ref(top: Path, branch: str) -> str:
    proc = _git(["check-ref-format", "--branch", branch], top, check=False)
    if proc.returncode != 0 or branch.startswith("-"):
        raise GitError(f"{branch!r} is not a valid branch name")
    ref = f"refs/heads/{proc.stdout.strip()}"
    # Moving a checked-out branch under its work tree would leave that index and work tree
    # out of step with their HEAD (a phantom staged revert), so it is refused.
    worktrees = _git(["worktree", "list", "--porcelain"], top).stdout.splitlines()
    if f"branch {ref}" in worktrees:
        raise GitError(
            f"branch {branch} is checked out; --branch commits to a branch nobody has checked "
            "out (run fleetc commit without --branch to commit in place)"
        )
    return ref


def _hash_blobs(top: Path, scratch: Path, tree: dict[str, bytes]) -> dict[str, str]:
    """Store every file as a blob in one ``git fast-import`` run; path -> object id.

    One process and one pack for the whole tree (a render can have 100,000 files; a temporary
    file or a loose object per file costs far more than git's own work). The bytes are stored
    exactly as rendered: no ``.gitattributes`` filter applies. Blobs git already has are not
    stored again.
    """
    paths = sorted(tree)
    marks = scratch / "marks"
    args = ["git", "fast-import", "--quiet", "--done", f"--export-marks={marks}"]
    env = {**os.environ, "LC_ALL": "C"}
    # Streamed file by file (no second copy of the whole tree in memory); stderr goes to a
    # file so a chatty git cannot block on a full pipe while we write.
    with (scratch / "stderr").open("w+b") as errors:
        proc = subprocess.Popen(
            args, cwd=top, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
        )
        assert proc.stdin is not None
        try:
            for mark, path in enumerate(paths, 1):
                data = tree[path]
                proc.stdin.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
                proc.stdin.write(data)
                proc.stdin.write(b"\n")
            proc.stdin.write(b"done\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass  # git stopped reading: its exit status and stderr say why
        if proc.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise GitError(f"git fast-import failed: {message}")
    ids = dict(line.split() for line in marks.read_text().splitlines())
    return {path: ids[f":{mark}"] for mark, path in enumerate(paths, 1)}


def _subtree(top: Path, scratch: Path, blobs: dict[str, str]) -> str:
    """The tree of the rendered files alone, written from a private, initially empty index.

    Entries go in sorted, so the index only ever appends (removing a large DIR entry by entry
    from a copy of the branch's index would be quadratic).
    """
    env = {"GIT_INDEX_FILE": str(scratch / "index")}
    (scratch / "index").unlink(missing_ok=True)
    entries = "".join(f"100644 {oid}\t{path}\0" for path, oid in sorted(blobs.items()))
    _git(["update-index", "--add", "-z", "--index-info"], top, env=env, stdin=entries)
    return _git(["write-tree"], top, env=env).stdout.strip()


def _graft(top: Path, base: str | None, parts: list[str], subtree: str) -> str:
    """`base` (a tree, or None for empty) with the path `parts` replaced by `subtree`.

    Only the trees along DIR's path are rewritten (``git mktree`` per level); every other
    entry, files and submodules alike, is carried over by id.
    """
    if not parts:
        return subtree
    name, rest = parts[0], parts[1:]
    entries: list[str] = []
    child: str | None = None
    if base is not None:
        listing = _git(["ls-tree", "-z", base], top).stdout
        for entry in filter(None, listing.split("\0")):
            meta, entry_name = entry.split("\t", 1)
            if entry_name != name:
                entries.append(entry)
            elif meta.split()[1] == "tree":
                child = meta.split()[2]
    entries.append(f"040000 tree {_graft(top, child, rest, subtree)}\t{name}")
    # --missing: a submodule's commit is not in this repository; every id here came from git.
    stdin = "".join(entry + "\0" for entry in entries)
    return _git(["mktree", "-z", "--missing"], top, stdin=stdin).stdout.strip()


def _tip(top: Path, ref: str) -> str | None:
    proc = _git(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], top, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def branch_commit(
    top: Path,
    directory: str,
    tree: dict[str, bytes],
    branch: str,
    message: str,
    *,
    attempts: int = 8,
    before_update: Callable[[], None] | None = None,
) -> Committed:
    """Commit `tree` as `directory` (repo-relative) on `branch`, keeping the rest of its tree.

    The ref moves with ``git update-ref REF NEW OLD``, a compare-and-swap: when another run
    moved the branch after we read it, the update fails, and the commit is rebuilt on the new
    tip (bounded `attempts`, then `Conflict`). So racing runs never lose each other's commits
    and the history stays linear. `before_update` is a test hook run just before the swap.
    """
    ref = _branch_ref(top, branch)
    with tempfile.TemporaryDirectory(prefix="fleetc-branch-") as name:
        scratch = Path(name)
        subtree = _subtree(top, scratch, _hash_blobs(top, scratch, tree))
        parts = [] if directory == "." else directory.split("/")
        last = ""
        for attempt in range(attempts):
            old = _tip(top, ref)
            base = _git(["rev-parse", f"{old}^{{tree}}"], top).stdout.strip() if old else None
            new_tree = _graft(top, base, parts, subtree)
            if new_tree == base:
                return Committed(None, directory)
            parents = ["-p", old] if old is not None else []
            new = _git(["commit-tree", new_tree, *parents, "-F", "-"], top, stdin=message)
            commit_id = new.stdout.strip()
            if before_update is not None:
                before_update()
            # "" as the old value: the ref must not exist yet (first commit on the branch).
            update = ["update-ref", "-m", f"fleetc: commit {directory}", ref, commit_id, old or ""]
            proc = _git(update, top, check=False)
            if proc.returncode == 0:
                return Committed(commit_id, directory)
            last = (proc.stderr or proc.stdout).strip()
            # Retry only a race: the tip moved, or another run holds the ref's lock right now.
            if _tip(top, ref) == old and "File exists" not in last:
                raise GitError(f"git update-ref failed: {last}")
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # let the winner finish
    raise Conflict(
        f"branch {branch} kept moving (or stayed locked) under fleetc ({attempts} attempts); "
        f"last git error: {last}"
    )


def follow_remote(top: Path, remote: str, branch: str) -> None:
    """Before committing to `branch` for a push: start from the remote's tip when we can.

    A fresh clone (CI) has no local deploy branch, and a local one may be behind the remote's.
    Committing there would make a push that can only be rejected, so the remote branch is
    fetched and the local one created at, or fast-forwarded to, its tip (compare-and-swap, so
    a concurrent run is never overwritten). A local branch with commits the remote lacks is
    left alone: the push then reports the conflict.
    """
    ref = _branch_ref(top, branch)
    tracking = f"refs/remotes/{remote}/{ref.removeprefix('refs/heads/')}"
    fetched = _git(
        ["fetch", "--quiet", "--no-tags", remote, f"+{ref}:{tracking}"], top, check=False
    )
    if fetched.returncode != 0:
        if "couldn't find remote ref" in fetched.stderr:
            return  # the remote has no such branch yet: the push creates it
        raise GitError(f"git fetch failed: {fetched.stderr.strip()}")
    theirs = _tip(top, tracking)
    ours = _tip(top, ref)
    if theirs is None or theirs == ours:
        return
    if ours is not None:
        behind = _git(["merge-base", "--is-ancestor", ours, theirs], top, check=False)
        if behind.returncode != 0:
            return
    _git(
        ["update-ref", "-m", f"fleetc: follow {remote}", ref, theirs, ours or ""], top, check=False
    )


def push(top: Path, remote: str, branch: str) -> None:
    """Push `branch` to the same name on `remote`.

    A rejection because the remote branch moved (non-fast-forward) is a `Conflict`: someone
    else got there first, run again. Any other refusal (a hook, a protected branch) or a
    transport failure is a `GitError` carrying git's reason.
    """
    ref = f"refs/heads/{branch}"
    proc = _git(["push", "--porcelain", remote, f"{ref}:{ref}"], top, check=False)
    if proc.returncode == 0:
        return
    rejected = [line for line in proc.stdout.splitlines() if line.startswith("!")]
    reason = rejected[0].split("\t")[-1] if rejected else ""
    if any(word in reason for word in ("non-fast-forward", "fetch first", "stale info")):
        raise Conflict(
            f"push of {branch} to {remote} was rejected {reason.removeprefix('[rejected] ')}: "
            "the remote branch has commits this one lacks"
        )
    if reason:
        raise GitError(f"push of {branch} to {remote} was refused: {reason}")
    raise GitError(f"git push failed: {(proc.stderr or proc.stdout).strip()}")


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
    proc = _git(["symbolic-ref", "-q", "--short", "HEAD"], top, check=False)
    if proc.returncode != 0:
        raise GitError("HEAD is detached: there is no branch to push")
    return proc.stdout.strip()
