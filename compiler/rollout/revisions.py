"""The revision each cluster's output is at, as the output manifest records it.

A revision is the sha256 of the fleet's meaning (the normalized model, as the manifest's
source digest; comments, key order and the wave plan itself change nothing) and the git
commit of fleet.yaml when HEAD holds exactly the bytes rendered (None otherwise).

The manifest of a fleet with waves gets a ``clusters`` member between ``source`` and
``files``: ``{"<cluster>": {"sha256": ..., "commit": ... | null}}``, sorted by cluster. A
manifest without it (written before the fleet had waves) puts every cluster it holds files
for at the manifest's source digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compiler.model import Fleet

SCOPES = ("clusters", "flux", "bootstrap")
"""Top-level output directories whose second path segment is the cluster a file belongs to."""


@dataclass(frozen=True)
class Revision:
    sha256: str
    commit: str | None = None

    def as_data(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "commit": self.commit}

    def same(self, other: Revision | None) -> bool:
        """The same fleet meaning (a commit alone does not make a cluster behind)."""
        return other is not None and other.sha256 == self.sha256


def digest(fleet: Fleet) -> str:
    """sha256 of the fleet's meaning: the normalized model, keys sorted, compact JSON."""
    data = fleet.model_dump(mode="json", by_alias=True)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def owner(path: str) -> str | None:
    """The cluster an output path belongs to (``clusters/<c>/...``), None for shared files."""
    parts = path.split("/", 2)
    if len(parts) == 3 and parts[0] in SCOPES:
        return parts[1]
    return None


def recorded(manifest: Mapping[str, Any] | None) -> dict[str, Revision]:
    """Cluster -> the revision `manifest` records for it (see the module docstring)."""
    if not manifest:
        return {}
    out: dict[str, Revision] = {}
    clusters = manifest.get("clusters")
    if isinstance(clusters, dict):
        for name, rev in clusters.items():
            if isinstance(rev, dict) and isinstance(rev.get("sha256"), str):
                commit = rev.get("commit")
                out[str(name)] = Revision(
                    rev["sha256"], commit if isinstance(commit, str) else None
                )
    source = manifest.get("source")
    fallback = source.get("sha256") if isinstance(source, dict) else None
    if isinstance(fallback, str):
        for entry in manifest.get("files") or ():
            name = owner(str(entry.get("path", ""))) if isinstance(entry, dict) else None
            if name is not None and name not in out:
                out[name] = Revision(fallback)
    return out


def with_clusters(manifest: bytes, revisions: Mapping[str, Revision]) -> bytes:
    """`manifest` (as `compiler.emit.serialize` writes it) with the ``clusters`` record added
    before ``files``, so the long file list is never parsed and dumped again."""
    marker = b'\n  "files": '
    at = manifest.index(marker)
    record = json.dumps(
        {name: revisions[name].as_data() for name in sorted(revisions)}, indent=2, sort_keys=True
    )
    indented = record.replace("\n", "\n  ")
    return manifest[:at] + f'\n  "clusters": {indented},'.encode() + manifest[at:]
