"""Atomic write of a whole output tree: lock, journal, roll forward, prune only what we own.

The problem: DIR must read either as before or as fully new even when fleetc is killed at any
instant, and Linux cannot atomically rename a directory over a non-empty one. A symlink swap
would make DIR a symlink, which git stores as a symlink, so fleetc uses a journal instead:

1. ``flock`` on DIR itself (an open directory descriptor, so there is no lock file to go
   stale: the kernel drops the lock when the process dies). Renders, checks and commits on
   the same DIR serialise on it.
2. Recover: a leftover ``.fleetc/journal.json`` is rolled forward; leftover staging
   directories and ``*.tmp`` files without a journal belong to a run that died before its
   commit point and are removed (roll back: DIR was never touched).
3. Plan: compare the new tree with DIR byte for byte. Nothing differs -> nothing is written
   (mtimes stay). Files in DIR that the manifest does not list -> refuse (they are not ours).
4. Stage every changed file in ``.fleetc/staging-<random>/``, then flush the filesystem once
   (``syncfs``: one call instead of an fsync per file, which costs minutes at fleet scale).
5. Commit point: write the journal (the renames and deletions to do) to a ``*.tmp`` file,
   fsync, rename it into place, fsync ``.fleetc``.
6. Roll forward: delete pruned files, rename each staged file into place (the manifest last),
   ``syncfs`` again, delete the journal. Rolling forward again after a crash is
   harmless: a staged file already renamed is simply gone from staging.

So after recovery DIR is exactly the old tree (crash before step 5) or exactly the new one.
Every path is opened relative to a directory descriptor with ``O_NOFOLLOW``: a symlink planted
inside DIR is never followed out of it, and a path from a (possibly hostile) manifest that is
absolute or climbs with ``..`` is refused before anything is touched.

``FLEETC_TEST_CRASH_AT=N`` makes the process ``os._exit`` right after its N-th filesystem step
(test-only hook for tests/test_crash.py; unset in normal use).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compiler.emit.fs import NEW_FLAGS, OutputError, SafeDir, check_path, write_all
from compiler.emit.serialize import MANIFEST, META_DIR, sha256

__all__ = ["Drift", "Output", "OutputError", "Plan", "check_path", "locked"]

JOURNAL = ".fleetc/journal.json"
CACHE = ".fleetc/cache.json"
STAGING = "staging-"


@dataclass(frozen=True)
class Plan:
    """What a render changes: files to (re)write, in order, and owned files to prune."""

    write: tuple[str, ...]
    delete: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.write and not self.delete


@dataclass(frozen=True)
class Drift:
    """How DIR differs from what the fleet compiles to (``render --check``)."""

    stale: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    pending: bool

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra or self.pending)


def _order(paths: list[str]) -> list[str]:
    """Content first, fleetc's own files after, the manifest last: it is the index of the rest."""
    return sorted(paths, key=lambda p: (p == MANIFEST, p.startswith(META_DIR + "/"), p))


class Output(SafeDir):
    """A locked output directory. Obtain one with `locked`."""

    def manifest(self) -> dict[str, str] | None:
        """Owned files (path -> sha256) from the manifest, or None when there is none."""
        data = self.read(MANIFEST)
        if data is None:
            return None
        try:
            doc = json.loads(data)
            files = {str(f["path"]): str(f["sha256"]) for f in doc["files"]}
        except (ValueError, KeyError, TypeError):
            raise OutputError(
                f"{self.root / MANIFEST} is not a fleetc manifest; fleetc will not guess which "
                "files it owns (remove the directory to start afresh)"
            ) from None
        for path in files:
            check_path(path)
        return files

    # -- recovery -----------------------------------------------------------------------------

    def pending(self) -> bool:
        return self.exists(JOURNAL)

    def recover(self) -> None:
        """Finish a write that reached its commit point; drop the debris of one that did not."""
        data = self.read(JOURNAL)
        if data is not None:
            try:
                journal = json.loads(data)
                staging = str(journal["staging"])
                writes = [(str(i), str(p)) for i, p in journal["write"]]
                deletes = [str(p) for p in journal["delete"]]
            except (ValueError, KeyError, TypeError):
                raise OutputError(f"{self.root / JOURNAL} is corrupt") from None
            # the journal is data in DIR like any other: names in it must not climb out
            bad_staging = not staging.startswith(STAGING) or "/" in staging or ".." in staging
            if bad_staging or not all(index.isdigit() for index, _ in writes):
                raise OutputError(f"{self.root / JOURNAL} is not a fleetc journal; remove it")
            for _, path in writes:
                check_path(path)
            for path in deletes:
                check_path(path)
            self._roll_forward(staging, writes, deletes)
        meta_fd = self._dir(META_DIR)
        if meta_fd is None:
            return
        for name in sorted(os.listdir(meta_fd)):
            if name.startswith(STAGING):
                self._remove_tree(f"{META_DIR}/{name}")
            elif name.endswith(".tmp"):
                os.unlink(name, dir_fd=meta_fd)
                self._step()

    def _roll_forward(
        self, staging: str, writes: list[tuple[str, str]], deletes: list[str]
    ) -> None:
        touched: set[str] = set()
        for path in deletes:
            self._unlink(path)
            touched.add(path.rpartition("/")[0])
        self._prune_empty(sorted(touched))
        staging_fd = self._dir(f"{META_DIR}/{staging}")
        for index, path in writes:
            if staging_fd is None:
                break
            try:
                os.stat(index, dir_fd=staging_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # renamed before the crash
            parent, _, name = path.rpartition("/")
            parent_fd = self._dir(parent, create=True)
            assert parent_fd is not None
            try:
                os.rename(index, name, src_dir_fd=staging_fd, dst_dir_fd=parent_fd)
            except IsADirectoryError:
                raise OutputError(
                    f"{self.root / path} is a directory; cannot write a file there"
                ) from None
            self._step()
        self._sync()
        if staging_fd is not None:
            self._remove_tree(f"{META_DIR}/{staging}")
        self._unlink(JOURNAL)
        meta_fd = self._dir(META_DIR)
        if meta_fd is not None:
            os.fsync(meta_fd)

    def plan(self, tree: dict[str, bytes]) -> Plan:
        """What to change to make DIR hold exactly `tree`; refuses when DIR holds others' files."""
        for path in tree:
            check_path(path)
        owned = self.manifest() or {}
        on_disk = self.scan()
        unowned = sorted(on_disk - owned.keys())
        if unowned:
            shown = "\n  ".join(unowned[:10]) + ("\n  ..." if len(unowned) > 10 else "")
            raise OutputError(
                f"{self.root} holds files fleetc does not own (not in {MANIFEST}); "
                f"refusing to write there:\n  {shown}"
            )
        write = [path for path in _order(list(tree)) if self.read(path) != tree[path]]
        delete = sorted((owned.keys() - tree.keys()) & on_disk)
        return Plan(tuple(write), tuple(delete))

    def apply(self, plan: Plan, tree: dict[str, bytes]) -> None:
        """Make the plan true, atomically in the sense of the module docstring."""
        if plan.empty:
            return
        staging = STAGING + secrets.token_hex(6)
        staging_fd = self._dir(f"{META_DIR}/{staging}", create=True)
        assert staging_fd is not None
        for index, path in enumerate(plan.write):
            fd = os.open(str(index), NEW_FLAGS, 0o644, dir_fd=staging_fd)
            try:
                write_all(fd, tree[path])
            finally:
                os.close(fd)
            self._step()
        self._sync()
        journal = {
            "staging": staging,
            "write": [[str(i), path] for i, path in enumerate(plan.write)],
            "delete": list(plan.delete),
        }
        self._put(JOURNAL, json.dumps(journal).encode())
        self._roll_forward(
            staging, [(str(i), p) for i, p in enumerate(plan.write)], list(plan.delete)
        )

    def drift(self, tree: dict[str, bytes]) -> Drift:
        """Compare DIR with `tree` without writing (``--check``)."""
        for path in tree:
            check_path(path)
        stale: list[str] = []
        missing: list[str] = []
        for path in sorted(tree):
            data = self.read(path)
            if data is None:
                (stale if self.exists(path) else missing).append(path)
            elif data != tree[path]:
                stale.append(path)
        extra = sorted(self.scan() - tree.keys())
        return Drift(tuple(stale), tuple(missing), tuple(extra), self.pending())

    # -- the fast path for unchanged re-renders -----------------------------------------------

    def up_to_date(self, key: str) -> bool:
        """True when the last render had `key` and every owned file still has its bytes."""
        try:
            cache = json.loads(self.read(CACHE) or b"{}")
        except ValueError:
            return False
        manifest_data = self.read(MANIFEST)
        if (
            not isinstance(cache, dict)
            or cache.get("key") != key
            or manifest_data is None
            or cache.get("manifest") != sha256(manifest_data)
            or self.pending()
        ):
            return False
        from compiler.emit.serialize import GITIGNORE, GITIGNORE_TEXT

        if self.read(GITIGNORE) != GITIGNORE_TEXT.encode():
            return False
        owned = self.manifest() or {}
        if self.scan() != owned.keys():
            return False
        for path, digest in owned.items():
            data = self.read(path)
            if data is None or sha256(data) != digest:
                return False
        return True

    def remember(self, key: str) -> None:
        """Record `key` for the fast path (a private, git-ignored file)."""
        manifest_data = self.read(MANIFEST)
        if manifest_data is None:
            return
        data = json.dumps({"key": key, "manifest": sha256(manifest_data)}).encode()
        if self.read(CACHE) != data:
            self._put(CACHE, data)


@contextmanager
def locked(
    root: Path, *, create: bool, recover: bool = True, timeout: float = 300.0
) -> Iterator[Output]:
    """Lock DIR (creating it when `create`), recover an interrupted write, yield it.

    Waits up to `timeout` seconds for another fleetc working on the same DIR, then fails with
    a clear message rather than hanging.
    """
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputError(f"{root} exists and is not a directory") from None
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        raise OutputError(f"{root} exists and is not a directory") from None
    except FileNotFoundError:
        raise OutputError(f"{root} does not exist") from None
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise OutputError(
                    f"another fleetc is still working on {root} after {timeout:.0f}s; giving up"
                ) from None
            if not waiting:
                import sys

                print(f"fleetc: waiting for another fleetc working on {root}", file=sys.stderr)
                waiting = True
            time.sleep(0.05)
    output = Output(root, fd)
    try:
        if recover:
            output.recover()
        yield output
    finally:
        output.close()  # closing the descriptor releases the lock
