"""The guard's renderer: `ResolvedFleet -> list[File]`, like every module of compiler.render.

Per cluster: the fleet-wide map seeds (``guard/fleet/fleet.batch``, byte-identical in every
cluster of the fleet) and the cluster's own (``guard/seeds/guard.batch``), which the Flux
wiring turns into the two ConfigMaps the loader mounts, their JSON twins
(``guard/fleet/fleet.json``, ``guard/guard.json``), and, when ``spec.guard.enabled``, the
loader DaemonSet. Seeds are rendered even when the guard is disabled, so enabling it later
changes only the DaemonSet.
"""

from __future__ import annotations

from compiler.guard import render_fleet_seed, render_seeds
from compiler.guard.delivery import (
    FLEET_BATCH_PATH,
    FLEET_JSON_PATH,
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
    """Where a cluster's own guard seed file (its policy entries) is rendered (relative to
    the output directory)."""
    return f"clusters/{cluster}/{SEED_BATCH_PATH}"


def fleet_seed_path(cluster: str) -> str:
    """Where the fleet-wide guard seed file is rendered in `cluster`'s directory."""
    return f"clusters/{cluster}/{FLEET_BATCH_PATH}"


def render(resolved: ResolvedFleet) -> list[File]:
    clusters, rules = from_resolved(resolved)
    mode, source = resolved.guard.mode, resolved.source
    fleet_batch, fleet_twin = render_fleet_seed(clusters, mode, source)
    seeds = render_seeds(clusters, rules, mode, source)
    cilium = resolved.cilium
    devices = guard_devices(cilium.routing_mode, cilium.tunnel_protocol, cilium.encryption)
    # The header of the fleet-wide files must not name a cluster: they are byte-identical.
    # Their size grows with spec.clusters, where an oversize finding points (ObjectSizes).
    fleet_origin = f"the ranges of spec.clusters and spec.guard.mode in {source}"
    files = []
    for cluster in resolved.clusters:
        batch, twin = seeds[cluster.name]
        origin = f"cluster {cluster.name} and its cluster-level denies in {source}"
        base = f"clusters/{cluster.name}"
        files.append(File(fleet_seed_path(cluster.name), fleet_batch, fleet_origin))
        files.append(File(f"{base}/{FLEET_JSON_PATH}", fleet_twin, fleet_origin, applied=False))
        files.append(File(seed_path(cluster.name), batch, origin))
        files.append(File(f"{base}/{SEED_JSON_PATH}", twin, origin, applied=False))
        daemonset = loader_daemonset(resolved.guard, devices, resolved.name)
        if daemonset is not None:
            path = object_path(cluster.name, COMPONENT, daemonset)
            files.append(File(path, daemonset, f"spec.guard in {source}"))
    return files
