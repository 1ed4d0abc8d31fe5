"""Commit the output to a deploy branch with git plumbing, and push it.

`branch_commit` never touches the work tree, the index or HEAD: the rendered files become
blobs in one ``git fast-import`` run, their tree is grafted into the branch's tree in place
of DIR, and the ref moves by compare-and-swap, so racing runs never lose each other's
commits. `follow_remote` starts from the remote's tip before a push; `push` tells a lost
race (`Conflict`, exit 1) from a refusal.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from compiler.emit.git import Committed, GitError, check_branch, check_remote
from compiler.emit.git import run as _git


class Conflict(GitError):
    """Someone else moved the branch: a race lost on every retry, or a rejected push (exit 1)."""


def _branch_ref(top: Path, branch: str) -> str:
    ref = f"refs/heads/{check_branch(branch)}"
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
    """The commit `ref` names, read as exactly that ref: ``rev-parse refs/heads/B`` would fall
    back to a tag ``refs/tags/refs/heads/B`` while the branch does not exist yet, and the
    compare-and-swap would then fail on every run."""
    if ref.startswith("refs/"):
        proc = _git(["show-ref", "--verify", "--hash", "--", ref], top, check=False)
        if proc.returncode != 0:
            return None
        ref = proc.stdout.strip()
    proc = _git(
        ["rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}"], top, check=False
    )
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
    check_remote(remote)
    # A configured remote keeps its remote-tracking branch up to date; a path or URL has no
    # such namespace, so its tip is read from FETCH_HEAD.
    named = _git(["remote"], top).stdout.split()
    tracking = f"refs/remotes/{remote}/{branch}" if remote in named else None
    refspec = f"+{ref}:{tracking}" if tracking else ref
    fetch = ["fetch", "--quiet", "--no-tags", "--end-of-options", remote, refspec]
    fetched = _git(fetch, top, check=False)
    if fetched.returncode != 0:
        if "couldn't find remote ref" in fetched.stderr:
            return  # the remote has no such branch yet: the push creates it
        raise GitError(f"git fetch failed: {fetched.stderr.strip()}")
    theirs = _tip(top, tracking or "FETCH_HEAD")
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
    ref = f"refs/heads/{check_branch(branch)}"
    check_remote(remote)
    tip = _tip(top, ref)
    if tip is None:
        raise GitError(f"there is no branch {branch} to push")
    # the commit id as the source: a source ref is matched loosely, and a tag named like the
    # branch (refs/tags/refs/heads/B) would make it ambiguous
    push_args = ["push", "--porcelain", "--no-verify", "--end-of-options", remote, f"{tip}:{ref}"]
    proc = _git(push_args, top, check=False)
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
