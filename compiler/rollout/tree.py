"""The output of a wave render: new files for the clusters that move, DIR's bytes for the rest.

``render --wave NAME`` (and ``commit --wave NAME``):

1. The clusters of the waves up to and including NAME move: every file of theirs is the new
   fleet's (``clusters/<c>/``, ``flux/<c>/``, ``bootstrap/<c>/``), and they are recorded at
   the new revision (one already at that meaning keeps the commit recorded then: a commit
   moves HEAD, and the next render must not differ for that alone).
2. Every other cluster stays: the files DIR's manifest lists for it are passed through byte
   for byte (never rewritten, never pruned), and it keeps the revision DIR records for it. A
   staying cluster with no files in DIR (new in this fleet) stays absent until its wave.
3. A cluster DIR holds that the new fleet no longer has is in no wave: it moves with the
   last wave (its files are pruned by the render that completes the rollout).
4. Shared files (outside any cluster's directories) are the new fleet's, except the pieces
   of ``shared/`` (`compiler.render.pack`): a piece is written when a cluster written here
   refers to it, new or staying. Pieces are named by their content, so a staying cluster's
   pieces are passed through from DIR like its own files, and the new fleet's pieces only a
   staying cluster would use wait for its wave.
5. Without ``--wave`` every cluster moves. The ``clusters`` record is written whenever the
   fleet declares waves, so ``rollout status`` and ``render --check`` can say who is behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from compiler.emit.serialize import MANIFEST, META_DIR, sha256
from compiler.render.pack import KUSTOMIZATION, SHARED_DIR, references
from compiler.rollout.revisions import Revision, digest, owner, recorded, with_clusters
from compiler.validate.names import Suggestions
from compiler.validate.waves import assign

if TYPE_CHECKING:
    from compiler.model import Fleet


class Reader(Protocol):
    """What a wave render reads of DIR (`compiler.emit.write.Output` is one)."""

    def read(self, rel: str) -> bytes | None: ...


class UnknownWave(Exception):
    """``--wave`` names no wave of the fleet (a usage error)."""


@dataclass
class Stage:
    """One render's rollout: which wave, the new revision's commit, and what DIR holds."""

    wave: str | None
    commit: str | None
    dir: Reader | None
    behind: list[str] = field(default_factory=list)
    """After the files were consumed: clusters DIR holds at another revision than the output
    gives them, or not at all (``render --check`` lists them)."""

    def moving(self, fleet: Fleet) -> set[str] | None:
        """The clusters that get the new fleet; None when every cluster does."""
        waves = assign(fleet)
        if self.wave is None:
            return None
        names = [w.name for w in waves]
        if not names:
            raise UnknownWave(f"--wave {self.wave}: {fleet.metadata.name} declares no waves")
        if self.wave not in names:
            hint = Suggestions(names)(self.wave)
            known = ", ".join(names)
            raise UnknownWave(
                f"--wave {self.wave}: no such wave (waves: {known})" + (f"; {hint}" if hint else "")
            )
        upto = names.index(self.wave)
        if upto == len(names) - 1:
            return None
        return {c for w in waves[: upto + 1] for c in w.clusters}

    def apply(
        self, fleet: Fleet, files: Iterator[tuple[str, bytes]]
    ) -> Iterator[tuple[str, bytes]]:
        """`files` (a full render, manifest last) as this stage's output. Raises
        `UnknownWave` before anything is yielded; lazy afterwards, like `files`."""
        moving = self.moving(fleet)
        if not fleet.spec.rollout.waves:
            return files
        return self._apply(fleet, files, moving)

    def _apply(
        self, fleet: Fleet, files: Iterator[tuple[str, bytes]], moving: set[str] | None
    ) -> Iterator[tuple[str, bytes]]:
        old = self._old_manifest()
        before = recorded(old)
        new = Revision(digest(fleet), self.commit)
        members = {c.name for c in fleet.spec.clusters}
        # rule 3: a cluster the fleet no longer has is in no wave, so it stays until the end
        stays = set() if moving is None else (members | set(before)) - moving
        digests: dict[str, str] = {}
        held = self._held(old, stays)
        used = {piece for path, data in held if _is_root(path) for piece in references(data)}
        for path, data in files:
            if path == MANIFEST:
                for held_path, held_data in held:
                    if held_path not in digests:  # a piece both sides have: the same bytes
                        digests[held_path] = sha256(held_data)
                        yield held_path, held_data
                yield MANIFEST, self._manifest(data, digests, fleet, before, new, stays)
                continue
            if owner(path) in stays:
                continue
            piece = piece_of(path)
            if piece is not None and piece not in used:
                continue  # only staying clusters would use it: it comes with their wave
            if _is_root(path):
                # clusters/ sorts before shared/: every piece's users are known by then
                used.update(references(data))
            if not path.startswith(META_DIR + "/"):
                digests[path] = sha256(data)
            yield path, data

    def _old_manifest(self) -> dict[str, object] | None:
        data = self.dir.read(MANIFEST) if self.dir is not None else None
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def _held(self, old: dict[str, object] | None, stays: set[str]) -> list[tuple[str, bytes]]:
        """DIR's files of the staying clusters and the pieces they use, as DIR holds them
        (rules 2 and 4)."""
        if old is None or self.dir is None or not stays:
            return []
        out = []
        entries = old.get("files")
        listed = [
            str(entry.get("path", "")) if isinstance(entry, dict) else ""
            for entry in (entries if isinstance(entries, list) else ())
        ]
        for path in listed:
            if owner(path) in stays:
                data = self.dir.read(path)
                if data is not None:
                    out.append((path, data))
        used = {piece for path, data in out if _is_root(path) for piece in references(data)}
        for path in listed:
            if piece_of(path) in used:
                data = self.dir.read(path)
                if data is not None:
                    out.append((path, data))
        return sorted(out)

    def _manifest(
        self,
        manifest: bytes,
        digests: dict[str, str],
        fleet: Fleet,
        before: dict[str, Revision],
        new: Revision,
        stays: set[str],
    ) -> bytes:
        held_clusters = {owner(p) for p in digests} - {None}
        revisions: dict[str, Revision] = {}
        for c in fleet.spec.clusters:
            if c.name not in stays:
                # a cluster already at this meaning keeps the commit it got there at, so a
                # commit (which moves HEAD) does not make the next render differ
                kept = before.get(c.name)
                revisions[c.name] = kept if kept is not None and new.same(kept) else new
            elif c.name in held_clusters and c.name in before:
                revisions[c.name] = before[c.name]
        for name in sorted(stays - set(revisions)):
            if name in held_clusters and name in before:
                revisions[name] = before[name]
        self.behind = sorted(
            name
            for name in {c.name for c in fleet.spec.clusters} | set(before)
            if name in revisions and not revisions[name].same(before.get(name))
        )
        return with_clusters(_relisted(manifest, digests), revisions)


def _is_root(path: str) -> bool:
    """A kustomization.yaml of a cluster's own roots (the ones that refer to pieces)."""
    parts = path.split("/")
    return parts[0] == "clusters" and parts[-1] == KUSTOMIZATION and len(parts) in (3, 4)


def piece_of(path: str) -> str | None:
    """The piece a path of ``shared/<id>/...`` belongs to; None elsewhere."""
    parts = path.split("/", 2)
    return parts[1] if len(parts) == 3 and parts[0] == SHARED_DIR else None


def _relisted(manifest: bytes, digests: dict[str, str]) -> bytes:
    """`manifest` with its file list replaced by `digests` (in the writer's format)."""
    cut = manifest.index(b'\n  "files": ')
    entry = '    {{\n      "path": {},\n      "sha256": "{}"\n    }}'
    listed = ",\n".join(
        entry.format(json.dumps(path, ensure_ascii=False), digests[path])
        for path in sorted(digests)
    )
    tail = "[\n" + listed + "\n  ]\n}\n" if listed else "[]\n}\n"
    return manifest[:cut] + b'\n  "files": ' + tail.encode()
