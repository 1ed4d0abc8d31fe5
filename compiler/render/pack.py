"""What clusters share is written once: the rendered files as the output tree lays them out.

Renderers and `compiler.render.render` describe every cluster's directory in full (the
*logical* view: diff, explain and the guard's tests read that). Written that way, the output
grows with clusters x policies: a policy applied in 150 clusters is 150 identical files, and
at 511 clusters the tree was 1.5 GB. `pack` turns the logical view into the *written* one:

- A unit is what a cluster's kustomize root applies as one piece: an object file its
  ``kustomization.yaml`` lists under ``resources``, one ``configMapGenerator`` entry with its
  files, or a file for people and tools only (``applied=False``) in that root. The roots are
  ``clusters/<c>/`` and ``clusters/<c>/cilium/`` (a renderer's own Component, such as the
  annotation-mode ``global-services/<ns>/``, stays where it is).
- A unit identical in two or more clusters (same path in the root, same content, same origin,
  so the same bytes) moves out of their directories. The units of one root that exactly the
  same clusters share form one *piece*: a kustomize base ``shared/<id>/`` holding their files
  and a ``kustomization.yaml`` listing them, referenced from each of those clusters' root as
  ``../../shared/<id>``. Grouping by cluster set keeps the references linear in fleet size:
  a cluster lists one line per set it belongs to, not one per object.
- ``<id>`` is a digest of the piece's content (its units' paths, origins and contents), so a
  piece never changes in place: a changed policy makes a new piece and the old one is pruned
  once nothing refers to it. That is what lets a staged rollout keep a later wave's clusters
  on the pieces they reference while earlier waves move on (`compiler.rollout.tree`).

``kustomize build clusters/<c>`` yields exactly the objects of the logical view: the moved
files are the same bytes, in a base the root includes. ConfigMap generators keep their names
and files, so the generated names (with their content hash) are the same too.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from compiler.render.clustermesh import COMPONENT as CILIUM_DIR
from compiler.render.output import File

SHARED_DIR = "shared"
KUSTOMIZATION = "kustomization.yaml"
LAYOUT = "fleetc-pack-1"
"""Part of every piece's digest: a change to how pieces are laid out renames them all."""
ID_LENGTH = 20
"""Hex digits of a piece's id (80 bits: a collision among a fleet's pieces is out of reach)."""


def piece_path(piece: str) -> str:
    return f"{SHARED_DIR}/{piece}"


def references(data: bytes | str) -> list[str]:
    """Ids of the pieces a kustomization.yaml refers to (a root fleetc wrote, one resource
    per line as the canonical writer puts it)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    out = []
    marker = f"/{SHARED_DIR}/"
    for line in text.splitlines():
        entry = line.strip()
        if entry.startswith("- ") and marker in entry:
            head, _, piece = entry[2:].rpartition(marker)
            if all(seg == ".." for seg in head.split("/")) and piece and "/" not in piece:
                out.append(piece.strip("'\""))
    return out


class _Unit(NamedTuple):
    """One piece of a root: object files or a generator, with what makes its bytes. (A
    tuple: a large fleet makes one per file of every cluster.)"""

    kind: str  # "resource" | "generator" | "other"
    files: tuple[tuple[str, File], ...]  # (path relative to the root, file)
    generator: tuple[tuple[str, Any], ...] = ()  # the configMapGenerator entry, for generators
    key: str = ""


@dataclass
class _Root:
    cluster: str
    directory: str  # "clusters/<c>" or "clusters/<c>/cilium"
    name: str  # "" or "cilium"
    kustomization: File
    units: list[_Unit]


class _Keys:
    """A digest of a file's content and origin, computed once per object (renderers give
    the clusters that share an object the same dict) and once per text."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, str | None, bool], str] = {}
        self._keep: list[Any] = []

    def of(self, file: File) -> str:
        content = file.content
        memo = (id(content), file.origin, file.applied)
        key = self._known.get(memo)
        if key is None:
            if isinstance(content, str):
                data = content.encode()
            else:
                data = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
            digest = hashlib.sha256(data).hexdigest()
            key = self._known[memo] = f"{file.origin or ''}\0{int(file.applied)}\0{digest}"
            self._keep.append(content)  # its id stays unique while we look at it
        return key


def _roots(files: Sequence[File]) -> list[_Root]:
    by_path = {f.path: f for f in files}
    by_cluster: dict[str, list[File]] = defaultdict(list)
    for file in files:
        parts = file.path.split("/", 2)
        if len(parts) == 3 and parts[0] == "clusters":
            by_cluster[parts[1]].append(file)
    keys = _Keys()
    roots = []
    for cluster, own in by_cluster.items():
        base = f"clusters/{cluster}"
        kustomizations = {
            posixpath.dirname(f.path) for f in own if posixpath.basename(f.path) == KUSTOMIZATION
        }
        ours = [d for d in (base, f"{base}/{CILIUM_DIR}") if d in kustomizations]
        for directory in ours:
            kustomization = by_path[f"{directory}/{KUSTOMIZATION}"]
            if not isinstance(kustomization.content, dict):
                continue
            nested = [d for d in kustomizations if d != directory and d.startswith(directory + "/")]
            name = directory[len(base) + 1 :]
            units = _units(directory, kustomization.content, own, nested, by_path, keys)
            roots.append(_Root(cluster, directory, name, kustomization, units))
    return roots


def _units(
    directory: str,
    kustomization: dict[str, Any],
    own: Iterable[File],
    nested: list[str],
    by_path: dict[str, File],
    keys: _Keys,
) -> list[_Unit]:
    units = []
    listed: set[str] = set()
    for rel in kustomization.get("resources", []):
        path = f"{directory}/{rel}"
        file = by_path.get(path)
        if file is None:
            continue
        listed.add(path)
        units.append(_Unit("resource", ((rel, file),), key=f"r\0{rel}\0{keys.of(file)}"))
    for entry in kustomization.get("configMapGenerator", []):
        members = tuple((rel, by_path[f"{directory}/{rel}"]) for rel in entry.get("files", []))
        listed.update(f"{directory}/{rel}" for rel, _ in members)
        generator = tuple(sorted((k, v) for k, v in entry.items() if k != "files"))
        key = "g\0" + repr(generator) + "".join(f"\0{rel}\0{keys.of(f)}" for rel, f in members)
        units.append(_Unit("generator", members, generator, key))
    for file in own:
        if file.applied:
            continue
        path = file.path
        if (
            path in listed
            or not path.startswith(directory + "/")
            or any(path.startswith(d + "/") for d in nested)
        ):
            continue
        rel = path[len(directory) + 1 :]
        units.append(_Unit("other", ((rel, file),), key=f"o\0{rel}\0{keys.of(file)}"))
    return units


def pack(files: Sequence[File], source: str) -> tuple[File, ...]:
    """The files as written: units shared by several clusters moved into ``shared/<id>/``.

    `files` is the logical view (`compiler.render.render`); the result is sorted by path.
    """
    roots = _roots(files)
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    units: dict[tuple[str, str], _Unit] = {}
    for root in roots:
        for unit in root.units:
            users[root.name, unit.key].append(root.cluster)
            units.setdefault((root.name, unit.key), unit)
    sets: dict[tuple[str, tuple[str, ...]], list[_Unit]] = defaultdict(list)
    for (name, key), using in users.items():
        if len(using) > 1:
            sets[name, tuple(sorted(using))].append(units[name, key])
    moved: set[str] = set()  # logical paths now in a piece
    refs: dict[tuple[str, str], list[str]] = defaultdict(list)  # (cluster, root) -> piece ids
    out: dict[str, File] = {}
    for (name, clusters), members in sorted(sets.items()):
        piece, piece_files = _piece(members, source)
        for file in piece_files:
            out.setdefault(file.path, file)
        for cluster in clusters:
            refs[cluster, name].append(piece)
            directory = f"clusters/{cluster}" + (f"/{name}" if name else "")
            for unit in members:
                for rel, _ in unit.files:
                    moved.add(f"{directory}/{rel}")
    kustomizations = {
        root.kustomization.path: _rewritten(root, refs.get((root.cluster, root.name), []), moved)
        for root in roots
    }
    for file in files:
        if file.path in moved:
            continue
        out[file.path] = kustomizations.get(file.path, file)
    return tuple(out[path] for path in sorted(out))


def _piece(members: list[_Unit], source: str) -> tuple[str, list[File]]:
    members = sorted(members, key=lambda u: u.key)
    digest = hashlib.sha256(LAYOUT.encode())
    for unit in members:
        digest.update(b"\n" + unit.key.encode())
    piece = digest.hexdigest()[:ID_LENGTH]
    base = piece_path(piece)
    files = [
        File(f"{base}/{rel}", f.content, f.origin, f.applied) for u in members for rel, f in u.files
    ]
    resources = sorted(rel for u in members if u.kind == "resource" for rel, _ in u.files)
    generators = [
        {**dict(u.generator), "files": [rel for rel, _ in u.files]}
        for u in sorted(members, key=lambda u: u.generator)
        if u.kind == "generator"
    ]
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    if resources:
        kustomization["resources"] = resources
    if generators:
        kustomization["configMapGenerator"] = generators
    origin = f"what several clusters of {source} apply alike (their kustomization.yaml lists it)"
    files.append(File(f"{base}/{KUSTOMIZATION}", kustomization, origin))
    return piece, files


def _rewritten(root: _Root, pieces: list[str], moved: set[str]) -> File:
    """The root's kustomization.yaml without the moved units, referring to its pieces."""
    if not pieces:
        return root.kustomization
    content = root.kustomization.content
    assert isinstance(content, dict)
    up = posixpath.relpath(SHARED_DIR, root.directory)
    resources = [
        rel for rel in content.get("resources", []) if f"{root.directory}/{rel}" not in moved
    ]
    resources += [f"{up}/{piece}" for piece in sorted(pieces)]
    generators = [
        entry
        for entry in content.get("configMapGenerator", [])
        if not any(f"{root.directory}/{rel}" in moved for rel in entry.get("files", []))
    ]
    rewritten = {k: v for k, v in content.items() if k not in ("resources", "configMapGenerator")}
    rewritten["resources"] = resources
    if generators:
        rewritten["configMapGenerator"] = generators
    return File(root.kustomization.path, rewritten, root.kustomization.origin)
