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
3. Plan as the files come (one at a time, never the whole output in memory): compare each
   with DIR byte for byte. Nothing differs -> nothing is written (mtimes stay). Files in DIR
   that the manifest does not list -> refuse, before anything is written (they are not ours).
4. Stage every changed file at its own path under ``.fleetc/staging-<random>/``, then flush
   the filesystem once (``syncfs``: one call instead of an fsync per file, which costs minutes
   at fleet scale).
5. Commit point: write the journal (the moves and deletions to do) to a ``*.tmp`` file,
   fsync, rename it into place, fsync ``.fleetc``. A move is a staged file, or a staged
   directory whose place in DIR does not exist yet: a first render moves ``clusters/`` in
   one rename instead of half a million.
6. Roll forward: delete pruned files, rename each move into place (the manifest last),
   ``syncfs`` again, delete the journal. Rolling forward again after a crash is harmless: a
   move already done is simply gone from staging.

So after recovery DIR is exactly the old tree (crash before step 5) or exactly the new one.
Every path is opened relative to a directory descriptor with ``O_NOFOLLOW``: a symlink planted
inside DIR is never followed out of it, and a path from a (possibly hostile) manifest that is
absolute or climbs with ``..`` is refused before anything is touched.

``FLEETC_TEST_CRASH_AT=N`` makes the process ``os._exit`` right after its N-th filesystem step
(test-only hook for tests/test_crash.py; unset in normal use).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.emit.fs import NEW_FLAGS, OutputError, SafeDir, Stamp, check_path, write_all
from compiler.emit.roots import environment_error, refuse_system_root
from compiler.emit.serialize import GITIGNORE, GITIGNORE_TEXT, MANIFEST, META_DIR, sha256
from compiler.emit.stage import Stager

__all__ = ["Drift", "Output", "OutputError", "Plan", "check_path", "locked"]

JOURNAL = ".fleetc/journal.json"
CACHE = ".fleetc/cache.json"
STAGING = "staging-"
HELPER_AFTER = 2000
"""Changed files staged in-process before the rest go to a helper process (its start-up,
~50 ms, pays for itself after a few thousand files)."""


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

    def __init__(self, root: Path, fd: int) -> None:
        super().__init__(root, fd)
        self._verified: dict[str, Stamp] = {}
        """Stamps taken when this run wrote or compared a file's bytes (see `remember`)."""
        self._complete: set[str] | None = None
        """Every file the last `write` made DIR hold."""

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
                if "move" in journal:
                    moves = [(str(p), str(p)) for p in journal["move"]]
                else:  # fleetc before 2026-11-26: flat staging, files named by their index
                    moves = [(str(i), str(p)) for i, p in journal["write"]]
                deletes = [str(p) for p in journal["delete"]]
            except (ValueError, KeyError, TypeError):
                raise OutputError(
                    f"{self.root / JOURNAL} is not a journal this fleetc can finish; remove it"
                ) from None
            # the journal is data in DIR like any other: names in it must not climb out
            if not staging.startswith(STAGING) or "/" in staging or ".." in staging:
                raise OutputError(f"{self.root / JOURNAL} is not a fleetc journal; remove it")
            for source, path in moves:
                check_path(source)
                check_path(path)
            for path in deletes:
                check_path(path)
            # The journal is only a list of intentions: it may delete and replace only what
            # the manifest says fleetc owns (a forged journal committed to git, say).
            owned = self.manifest() or {}
            deletes = [path for path in deletes if path in owned]
            for source, path in moves:
                if path in owned or path in (MANIFEST, GITIGNORE) or self._lstat(path) is None:
                    continue
                # still staged, so not moved by a run that crashed: a stranger's file
                if self._lstat(f"{META_DIR}/{staging}/{source}") is not None:
                    raise OutputError(
                        f"{self.root / JOURNAL} would replace {self.root / path}, which "
                        f"fleetc does not own (not in {MANIFEST}); remove the journal"
                    )
            self._roll_forward(staging, moves, deletes)
        meta_fd = self._dir(META_DIR)
        if meta_fd is None:
            return
        for name in sorted(os.listdir(meta_fd)):
            found = os.stat(name, dir_fd=meta_fd, follow_symlinks=False)
            if name.startswith(STAGING) and stat.S_ISDIR(found.st_mode):
                self._remove_tree(f"{META_DIR}/{name}")
                meta_fd = self._dir(META_DIR)  # removing a tree may have closed it
                assert meta_fd is not None
            elif (name.startswith(STAGING) or name.endswith(".tmp")) and (
                stat.S_ISREG(found.st_mode) or stat.S_ISLNK(found.st_mode)
            ):
                # debris is ours to remove when it is a file or a symlink; a directory named
                # like a temporary file is not fleetc's and is left alone
                os.unlink(name, dir_fd=meta_fd)
                self._step()

    def _roll_forward(self, staging: str, moves: list[tuple[str, str]], deletes: list[str]) -> None:
        """Delete, prune, then move each (staged, path) into place; safe to run again."""
        touched: set[str] = set()
        for path in deletes:
            # its directory may be a file now (a move already done): then the file is gone
            with contextlib.suppress(OutputError):
                self._unlink(path)
            touched.add(path.rpartition("/")[0])
        self._prune_empty(sorted(touched))
        root = f"{META_DIR}/{staging}"
        for source, path in moves:
            source_parent, _, source_name = f"{root}/{source}".rpartition("/")
            parent, _, name = path.rpartition("/")
            parent_fd = self._dir(parent, create=True)
            source_fd = self._dir(source_parent)  # after: looking up parent_fd may close others
            if source_fd is None:
                continue  # the whole staging directory is gone: every move was done
            try:
                moved = os.stat(source_name, dir_fd=source_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # moved before the crash
            try:
                os.rename(source_name, name, src_dir_fd=source_fd, dst_dir_fd=parent_fd)
            except OSError as exc:
                if exc.errno not in (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise
                raise OutputError(
                    f"{self.root / path} is in the way (a directory where a file goes, or the"
                    " reverse); remove it and render again"
                ) from None
            if stat.S_ISDIR(moved.st_mode):
                self._forget_under(f"{root}/{source}")  # its descriptors now point into DIR
            elif path in self._verified and self._verified[path] == Stamp.of(moved):
                # a rename sets the file's ctime: the stamp moves on with it, as long as
                # nothing else changed (an edit right after the rename must not be signed)
                after = Stamp.of(os.stat(name, dir_fd=parent_fd, follow_symlinks=False))
                if after[:3] == self._verified[path][:3]:
                    self._verified[path] = after
                else:
                    del self._verified[path]
            self._step()
        self._sync()
        self._remove_tree(root)
        self._unlink(JOURNAL)
        meta_fd = self._dir(META_DIR)
        if meta_fd is not None:
            os.fsync(meta_fd)

    def _owned(self) -> tuple[dict[str, str], set[str]]:
        """The manifest's files and those on disk; refuses when DIR holds others' files."""
        owned = self.manifest() or {}
        strangers: list[str] = []

        def enough(path: str) -> bool:  # stop walking someone else's tree after a few
            if path not in owned:
                strangers.append(path)
            return len(strangers) > 10

        on_disk = set(self._walk(stat=False, stop=enough))
        unowned = sorted(on_disk - owned.keys())
        if unowned:
            shown = "\n  ".join(unowned[:10]) + ("\n  ..." if len(unowned) > 10 else "")
            raise OutputError(
                f"{self.root} holds files fleetc does not own (not in {MANIFEST}); "
                f"refusing to write there:\n  {shown}"
            )
        return owned, on_disk

    def _absent(self, parent: str, absent: set[str]) -> str | None:
        """The shallowest directory on the way to `parent` that DIR lacks, or None.

        `absent` remembers the answers; it stays true while a write only stages (the commit
        point is after the last file).
        """
        if not parent:
            return None
        parts = parent.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        for prefix in prefixes:
            if prefix in absent:
                return prefix
        if self._dir(parent) is not None:
            return None
        for prefix in prefixes:
            if self._dir(prefix) is None:
                absent.add(prefix)
                return prefix
        return None  # pragma: no cover - `parent` itself was just found missing

    def write(self, files: Iterable[tuple[str, bytes]], helper_after: int = HELPER_AFTER) -> Plan:
        """Make DIR hold exactly `files`, atomically in the sense of the module docstring.

        `files` is consumed once, as it is produced (`compiler.emit.serialize.stream`): each
        changed file is staged as it comes, by this process for the first `helper_after` and
        by a helper process (`compiler.emit.stage`) after that. Returns what was written and
        deleted.
        """
        owned, on_disk = self._owned()
        new_meta = not self.exists(META_DIR)
        self._dir(META_DIR, create=True)  # before anything is judged absent: staging is in it
        staging = STAGING + secrets.token_hex(6)
        root = f"{META_DIR}/{staging}"
        absent: set[str] = set()
        moves: dict[str, None] = {}  # in order of first use, without duplicates
        written: list[str] = []
        seen: set[str] = set()
        helper: Stager | None = None
        helped: list[str] = []  # staged by the helper, in order
        try:
            for path, data in files:
                check_path(path)
                seen.add(path)
                parent, _, name = path.rpartition("/")
                missing = self._absent(parent, absent)
                found = None if missing else self.read_stamped(path)
                if found is not None and found[0] == data:
                    self._verified[path] = found[1]
                    continue
                if found is None and missing is None and self.is_dir(path):
                    raise OutputError(
                        f"{self.root / path} is a directory where fleetc writes a file; "
                        "remove it and render again"
                    )
                if not written:
                    self._dir(root, create=True)
                    self._pinned.add(root)
                if helper is None and len(written) >= helper_after:
                    helper = Stager(self._fds[root], self._fds[""])
                if helper is not None:
                    helper.put(path, data)
                    helped.append(path)
                else:
                    fd_parent = self._dir(f"{root}/{parent}" if parent else root, create=True)
                    fd = os.open(name, NEW_FLAGS, 0o644, dir_fd=fd_parent)
                    try:
                        write_all(fd, data)
                        self._verified[path] = Stamp.of(os.fstat(fd))
                    finally:
                        os.close(fd)
                self._step()
                written.append(path)
                moves[missing or path] = None
            if helper is not None:
                for path, stamp in zip(helped, helper.finish(), strict=True):
                    self._verified[path] = Stamp(*stamp)
                helper = None
            delete = sorted((owned.keys() - seen) & on_disk)
            if not written and not delete:
                self._complete = seen
                return Plan((), ())
            self._sync()
            order = _order(list(moves))
            journal = {"staging": staging, "move": order, "delete": delete}
            self._put(JOURNAL, json.dumps(journal).encode())  # the commit point
        except BaseException:
            if helper is not None:
                helper.abort()
            self._remove_tree(root)  # nothing in DIR was touched yet
            meta_fd = self._dir(META_DIR)
            if new_meta and meta_fd is not None and not os.listdir(meta_fd):
                self._rmdir(META_DIR)  # nor will it be: no trace of this call is left
            raise
        self._roll_forward(staging, [(m, m) for m in order], delete)
        self._complete = seen
        return Plan(tuple(_order(written)), tuple(delete))

    def drift(self, files: Iterable[tuple[str, bytes]]) -> Drift:
        """Compare DIR with `files` (consumed as they come) without writing (``--check``)."""
        stale: list[str] = []
        missing: list[str] = []
        seen: set[str] = set()
        absent: set[str] = set()
        for path, data in files:
            check_path(path)
            seen.add(path)
            if self._absent(path.rpartition("/")[0], absent):
                missing.append(path)
                continue
            current = self.read(path)
            if current is None:
                (stale if self.exists(path) else missing).append(path)
            elif current != data:
                stale.append(path)
        extra = sorted(self.scan() - seen)
        return Drift(tuple(sorted(stale)), tuple(sorted(missing)), tuple(extra), self.pending())

    # -- the fast path for unchanged re-renders -----------------------------------------------

    def up_to_date(self, key: str, *, refresh: bool = False) -> bool:
        """True when the last render had `key` and every owned file still has its bytes.

        Like git's index: the cache records a signature of every owned file's `Stamp` (path,
        inode, size, mtime, ctime), each taken when its bytes were written or compared, so an
        unchanged DIR is proven so by lstat alone. Compared by content with the manifest
        instead: every file when the signature differs (an edit, a checkout), else the files
        the cache lists as unvouched (changed between being checked and being stamped) and
        the racily clean ones (ctime not older than the cache: a change in the same clock tick
        would not show). With `refresh`, a DIR found current gets a new signature.
        """
        try:
            cache = json.loads(self.read(CACHE) or b"{}")
        except ValueError:
            return False
        if not isinstance(cache, dict) or cache.get("key") != key or self.pending():
            return False
        stamps = self._owned_stamps()
        cached = self.stamp(CACHE)
        if stamps is None or cached is None:
            return False
        if cache.get("files") == _signature(stamps):
            check = {p for p, st in stamps.items() if st.ctime_ns >= cached.mtime_ns}
            unvouched = cache.get("verify")
            if isinstance(unvouched, list):
                check.update(p for p in unvouched if p in stamps)
            if not check:
                return True
            current = self._verify(cache, sorted(check))
            if current:  # the others are vouched for by the signature
                self._verified.update((p, st) for p, st in stamps.items() if p not in check)
        else:
            current = self._verify(cache, None)
        if current and refresh:
            self.remember(key, self.remembered())
        return current

    def _owned_stamps(self) -> dict[str, Stamp] | None:
        """The stamps of the files outside ``.fleetc/`` and of fleetc's own two."""
        stamps = self.stamps()
        for path in (GITIGNORE, MANIFEST):
            stamp = self.stamp(path)
            if stamp is None:
                return None
            stamps[path] = stamp
        return stamps

    def _verify(self, cache: dict[str, object], paths: list[str] | None) -> bool:
        """Compare the bytes of `paths` (None: every owned file) with what the manifest says,
        remembering the stamp of each file found current."""
        manifest = self.read_stamped(MANIFEST)
        if manifest is None or cache.get("manifest") != sha256(manifest[0]):
            return False
        gitignore = self.read_stamped(GITIGNORE)
        if gitignore is None or gitignore[0] != GITIGNORE_TEXT.encode():
            return False
        owned = self.manifest() or {}
        if paths is None:
            if self.scan() != owned.keys():
                return False
            paths = list(owned)
        verified = {MANIFEST: manifest[1], GITIGNORE: gitignore[1]}
        for path in paths:
            if path in verified:
                continue
            found = self.read_stamped(path)
            if found is None or path not in owned or sha256(found[0]) != owned[path]:
                return False
            verified[path] = found[1]
        self._verified.update(verified)
        return True

    def remember(self, key: str, findings: list[dict[str, Any]] | None = None) -> None:
        """Record `key`, the files' signature and the render's `findings` (warnings, as plain
        data) for the fast path, in a private, git-ignored file.

        After a `write`, the signature is made of the stamps taken with the bytes (an edit
        after its stamp changes the ctime, except within the stamp's own clock tick: git's
        racy window, narrowed by the racily clean rule). Otherwise
        DIR is walked, and a file whose stamp now is not the one taken when this run compared
        its bytes (or that it never checked) is listed as unvouched: the next fast path
        compares it by content.
        """
        manifest_data = self.read(MANIFEST)
        complete = self._complete
        if complete is not None and complete <= self._verified.keys():
            # this run wrote or compared every file it left: their stamps are the signature
            # (no walk); a change since then shows as a signature the next walk won't match
            stamps: dict[str, Stamp] | None = {p: self._verified[p] for p in complete}
            unvouched: list[str] = []
        else:
            stamps = self._owned_stamps()
            unvouched = sorted(p for p, st in (stamps or {}).items() if self._verified.get(p) != st)
        if manifest_data is None or stamps is None:
            return
        doc = {
            "key": key,
            "manifest": sha256(manifest_data),
            "files": _signature(stamps),
            "verify": unvouched,
            "findings": findings or [],
        }
        self._put(CACHE, json.dumps(doc).encode())

    def remembered(self) -> list[dict[str, Any]]:
        """The findings `remember` kept (empty when there is no readable cache)."""
        try:
            cache = json.loads(self.read(CACHE) or b"{}")
        except ValueError:
            return []
        findings = cache.get("findings") if isinstance(cache, dict) else None
        return [f for f in findings if isinstance(f, dict)] if isinstance(findings, list) else []


def _signature(stamps: dict[str, Stamp]) -> str:
    text = "".join(
        f"{path}\0{st.ino} {st.size} {st.mtime_ns} {st.ctime_ns}\n"
        for path, st in sorted(stamps.items())
    )
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def locked(
    root: Path, *, create: bool, recover: bool = True, timeout: float = 300.0
) -> Iterator[Output]:
    """Lock DIR (creating it when `create`), recover an interrupted write, yield it.

    Waits up to `timeout` seconds for another fleetc working on the same DIR, then fails with
    a clear message rather than hanging. A system directory is refused before anything
    (`refuse_system_root`); a filesystem failure (read-only, full, no permission) becomes an
    OutputError naming the path, and directories this call created are removed again when
    it fails, so a failed first render leaves no empty DIR behind.
    """
    refuse_system_root(root)
    created = [p for p in (root, *root.absolute().parents) if not p.exists()] if create else []
    try:
        with _locked(root, create=create, recover=recover, timeout=timeout) as output:
            yield output
    except OSError as exc:
        _remove_empty(created)
        raise environment_error(exc, root) from None
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(created: list[Path]) -> None:
    """Remove the directories in `created` (deepest first) that are empty; keep the rest."""
    for directory in created:
        with contextlib.suppress(OSError):  # rmdir only ever removes an empty directory
            directory.rmdir()


@contextmanager
def _locked(root: Path, *, create: bool, recover: bool, timeout: float) -> Iterator[Output]:
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
