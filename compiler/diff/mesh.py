"""Mesh-level changes between two resolved fleets: what joins, leaves, or changes identity.

A cluster's name and ID are baked into every Cilium identity it allocates; changing either on
a running cluster means restarting its workloads, so those changes are flagged disruptive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from compiler.resolve.model import ResolvedFleet

MeshChangeKind = Literal[
    "cluster-joined",
    "cluster-left",
    "cluster-id-changed",
    "cluster-renamed",
    "mesh-setting-changed",
    "service-global",
    "service-withdrawn",
]


@dataclass(frozen=True, order=True)
class MeshChange:
    kind: MeshChangeKind
    subject: str
    message: str
    disruptive: bool = False


def diff_mesh(base: ResolvedFleet | None, head: ResolvedFleet | None) -> list[MeshChange]:
    changes: list[MeshChange] = []
    old = {c.name: c for c in base.clusters} if base else {}
    new = {c.name: c for c in head.clusters} if head else {}
    old_by_id = {c.id: c for c in old.values()}
    renamed: set[str] = set()
    for name, cluster in sorted(new.items()):
        if name in old:
            if old[name].id != cluster.id:
                changes.append(
                    MeshChange(
                        "cluster-id-changed",
                        name,
                        f"cluster {name} changes ID {old[name].id} -> {cluster.id}; every"
                        " workload in it must restart to get new identities",
                        disruptive=True,
                    )
                )
            continue
        previous = old_by_id.get(cluster.id)
        if previous is not None and previous.name not in new:
            renamed.add(previous.name)
            changes.append(
                MeshChange(
                    "cluster-renamed",
                    name,
                    f"cluster ID {cluster.id} is renamed {previous.name} -> {name}; its"
                    " workloads must restart and peers re-learn it",
                    disruptive=True,
                )
            )
            continue
        changes.append(
            MeshChange("cluster-joined", name, f"cluster {name} (ID {cluster.id}) joins the mesh")
        )
    for name in sorted(old.keys() - new.keys() - renamed):
        changes.append(
            MeshChange(
                "cluster-left",
                name,
                f"cluster {name} (ID {old[name].id}) leaves the mesh",
                disruptive=True,
            )
        )
    if base and head:
        for label, before, after in (
            (
                "maxConnectedClusters",
                base.cilium.max_connected_clusters,
                head.cilium.max_connected_clusters,
            ),
            ("routingMode", base.cilium.routing_mode, head.cilium.routing_mode),
            ("tunnelProtocol", base.cilium.tunnel_protocol, head.cilium.tunnel_protocol),
            ("encryption", base.cilium.encryption, head.cilium.encryption),
        ):
            if before != after:
                changes.append(
                    MeshChange(
                        "mesh-setting-changed",
                        label,
                        f"{label} changes {before} -> {after} on every cluster",
                        disruptive=label in ("maxConnectedClusters", "routingMode"),
                    )
                )
    old_global = _global_placements(base)
    new_global = _global_placements(head)
    for ref, clusters in sorted(new_global.items()):
        added = sorted(clusters - old_global.get(ref, set()))
        if added:
            changes.append(
                MeshChange(
                    "service-global",
                    ref,
                    f"service {ref} becomes global in {', '.join(added)}",
                )
            )
    for ref, clusters in sorted(old_global.items()):
        removed = sorted(clusters - new_global.get(ref, set()))
        if removed:
            changes.append(
                MeshChange(
                    "service-withdrawn",
                    ref,
                    f"service {ref} is no longer exported from {', '.join(removed)}",
                )
            )
    return sorted(changes)


def _global_placements(fleet: ResolvedFleet | None) -> dict[str, set[str]]:
    if fleet is None:
        return {}
    return {s.ref: set(s.clusters) for s in fleet.services if s.export}
