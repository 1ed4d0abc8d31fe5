"""The guard's renderer: `ResolvedFleet -> list[File]`, like every module of compiler.render.

Per cluster: the map seeds (``guard/seeds/guard.batch``, which the Flux wiring turns into the
ConfigMap the loader mounts), their JSON twin (``guard/guard.json``), and, when
``spec.guard.enabled``, the loader DaemonSet. Seeds are rendered even when the guard is
disabled, so enabling it later changes only the DaemonSet.
"""

from __future__ import annotations

from compiler.guard import render_seeds
from compiler.guard.delivery import (
    SEED_BATCH_PATH,
    SEED_JSON_PATH,
    guard_devices,
    loader_daemonset,
)
from compiler.guard.fleet import from_resolved
from compiler.render.output import File, object_path
from compiler.resolve.model import ResolvedFleet

COMPONENT = "guard"


def seed_path(cluster: str) -> str:
    """Where a cluster's guard seed file is rendered (relative to the output directory)."""
    return f"clusters/{cluster}/{SEED_BATCH_PATH}"


def render(resolved: ResolvedFleet) -> list[File]:
    clusters, rules = from_resolved(resolved)
    seeds = render_seeds(clusters, rules, resolved.guard.mode, resolved.source)
    cilium = resolved.cilium
    devices = guard_devices(cilium.routing_mode, cilium.tunnel_protocol, cilium.encryption)
    files = []
    for cluster in resolved.clusters:
        batch, twin = seeds[cluster.name]
        origin = f"cluster {cluster.name} and its cluster-level denies in {resolved.source}"
        base = f"clusters/{cluster.name}"
        files.append(File(seed_path(cluster.name), batch, origin))
        files.append(File(f"{base}/{SEED_JSON_PATH}", twin, origin, applied=False))
        daemonset = loader_daemonset(resolved.guard, devices, resolved.name)
        if daemonset is not None:
            path = object_path(cluster.name, COMPONENT, daemonset)
            files.append(File(path, daemonset, f"spec.guard in {resolved.source}"))
    return files
