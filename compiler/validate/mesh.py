"""Mesh-wide invariants of the clusters: identity, address ranges, routing, endpoints, versions.

Each check is a plain function ``(doc, fleet, diags) -> None``. A duplicate is reported at the
second occurrence (in file order) with the first as a related position.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from compiler.diagnostics import Diagnostics, Related
from compiler.load import Document, Path, format_path
from compiler.model import Fleet, version_tuple
from compiler.validate.positions import first_here

CLUSTERS: Path = ("spec", "clusters")
OLDEST_SUPPORTED = (1, 16)
# Cilium 1.19 made a peer selector without io.cilium.k8s.policy.cluster mean "this cluster"
# (clustermesh.policyDefaultLocalCluster defaults to true); 1.18 has the option, off.
LOCAL_ONLY_SELECTORS = (1, 19)
POLICY_DEFAULT_SINCE = (1, 18)
# Cilium 1.17 release notes: "Multi-Cluster Service API" (clustermesh.mcsapi.enabled).
MCS_API_SINCE = (1, 17)
NODEPORT_RANGE = (30000, 32767)


def check_cluster_identity(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Unique names and IDs, IDs within maxConnectedClusters, not more clusters than that."""
    limit = fleet.spec.cilium.maxConnectedClusters
    names: dict[str, int] = {}
    ids: dict[int, int] = {}
    free_id_hint = _free_id_hint(fleet, limit)  # once: a fleet may repeat one id many times
    for i, cluster in enumerate(fleet.spec.clusters):
        here = (*CLUSTERS, i)
        if cluster.name in names:
            diags.error(
                "cluster-duplicate-name",
                f"cluster name {cluster.name!r} is used twice",
                doc.position((*here, "name")),
                path=format_path((*here, "name")),
                related=[first_here(doc, (*CLUSTERS, names[cluster.name], "name"))],
            )
        else:
            names[cluster.name] = i
        if cluster.id in ids:
            first = fleet.spec.clusters[ids[cluster.id]].name
            diags.error(
                "cluster-duplicate-id",
                f"cluster id {cluster.id} of {cluster.name!r} is already used by {first!r}",
                doc.position((*here, "id")),
                path=format_path((*here, "id")),
                related=[first_here(doc, (*CLUSTERS, ids[cluster.id], "id"))],
                hint=free_id_hint,
            )
        else:
            ids[cluster.id] = i
        if cluster.id > limit:
            diags.error(
                "cluster-id-out-of-range",
                f"cluster id {cluster.id} of {cluster.name!r} is above maxConnectedClusters"
                f" ({limit})",
                doc.position((*here, "id")),
                path=format_path((*here, "id")),
                hint=f"use an id in 1..{limit}"
                + (", or set spec.cilium.maxConnectedClusters: 511" if limit == 255 else ""),
            )
    if len(fleet.spec.clusters) > limit:
        diags.error(
            "cluster-too-many",
            f"{len(fleet.spec.clusters)} clusters; maxConnectedClusters allows {limit}",
            doc.key_position(CLUSTERS),
            path=format_path(CLUSTERS),
        )


def _free_id_hint(fleet: Fleet, limit: int) -> str:
    used = {c.id for c in fleet.spec.clusters}
    free = next((i for i in range(1, limit + 1) if i not in used), None)
    if free is None:
        return f"every id in 1..{limit} is taken"
    return f"the lowest unused id is {free}"


@dataclass(frozen=True)
class _Range:
    path: Path
    kind: str  # podCIDR | serviceCIDR | nodeCIDR
    cluster: str
    index: int  # of the cluster, so two ranges of one cluster are told apart from duplicates
    net: ipaddress.IPv4Network | ipaddress.IPv6Network

    def describe(self) -> str:
        return f"{self.kind} {self.net} of cluster {self.cluster!r}"


def _conflict(a: _Range, b: _Range) -> bool:
    """Which overlaps break routing. Service ranges are virtual and local to their cluster,
    so two clusters may reuse one; anything else that overlaps would route to the wrong place.
    """
    if a.index != b.index:
        return not (a.kind == "serviceCIDR" and b.kind == "serviceCIDR")
    return True


def check_cidr_overlap(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Pod, service and node ranges must not overlap where traffic could go astray."""
    ranges: list[_Range] = []
    for i, cluster in enumerate(fleet.spec.clusters):
        for field, kind in (
            ("podCIDRs", "podCIDR"),
            ("serviceCIDRs", "serviceCIDR"),
            ("nodeCIDRs", "nodeCIDR"),
        ):
            for j, cidr in enumerate(getattr(cluster, field)):
                net = ipaddress.ip_network(cidr)
                ranges.append(_Range((*CLUSTERS, i, field, j), kind, cluster.name, i, net))
    # Sweep by start address: each range is compared only with ranges still open at its start,
    # so thousands of clusters cost n log n plus the overlaps actually found.
    ordered = sorted(
        ranges,
        key=lambda r: (r.net.version, int(r.net.network_address), -r.net.prefixlen),
    )
    # One finding per range, at the later of each pair, naming the first range (in file order)
    # it collides with: fifty copies of one range give forty-nine errors, not 1,225.
    where = {r.path: doc.position(r.path) for r in ranges}
    earliest: dict[Path, _Range] = {}
    active: list[_Range] = []
    for current in ordered:
        start = int(current.net.network_address)
        active = [
            r
            for r in active
            if r.net.version == current.net.version and int(r.net.broadcast_address) >= start
        ]
        for other in active:
            if not _conflict(other, current):
                continue
            first, second = sorted((other, current), key=lambda r: where[r.path])
            known = earliest.get(second.path)
            if known is None or where[first.path] < where[known.path]:
                earliest[second.path] = first
        active.append(current)
    by_path = {r.path: r for r in ranges}
    for path in sorted(earliest, key=lambda p: where[p]):
        _report_overlap(doc, earliest[path], by_path[path], diags)


def _report_overlap(doc: Document, first: _Range, second: _Range, diags: Diagnostics) -> None:
    same = "is the same range as" if first.net == second.net else "overlaps"
    diags.error(
        "cidr-overlap",
        f"{second.describe()} {same} {first.describe()}",
        doc.position(second.path),
        path=format_path(second.path),
        related=[Related(doc.position(first.path), f"{first.describe()} is here")],
        hint="give every cluster its own pod and node ranges"
        if first.index != second.index
        else "the ranges of one cluster must be disjoint",
    )


def check_routing(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Native routing needs a routing CIDR covering every pod range of its family (one for
    IPv4, one for IPv6); tunnel settings mean nothing there."""
    cilium = fleet.spec.cilium
    base: Path = ("spec", "cilium")
    if cilium.routingMode != "native":
        return
    if doc.exists((*base, "tunnelProtocol")):
        diags.warning(
            "routing-tunnel-protocol-ignored",
            f"tunnelProtocol {cilium.tunnelProtocol} has no effect with routingMode native",
            doc.key_position((*base, "tunnelProtocol")),
            path=format_path((*base, "tunnelProtocol")),
            related=[first_here(doc, (*base, "routingMode"), "routingMode is set here")],
            hint="remove tunnelProtocol, or use routingMode: tunnel",
        )
    if cilium.nativeRoutingCIDR is None and cilium.ipv6NativeRoutingCIDR is None:
        diags.error(
            "routing-native-cidr-missing",
            "routingMode native needs spec.cilium.nativeRoutingCIDR",
            doc.position((*base, "routingMode")),
            path=format_path((*base, "routingMode")),
            hint="set nativeRoutingCIDR to a range containing every cluster's podCIDRs",
        )
        return
    routes: dict[int, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = {}
    for field in ("nativeRoutingCIDR", "ipv6NativeRoutingCIDR"):
        value = getattr(cilium, field)
        if value is not None:
            net = ipaddress.ip_network(value)
            routes[net.version] = (net, field)
    unrouted: set[int] = set()
    for i, cluster in enumerate(fleet.spec.clusters):
        for j, cidr in enumerate(cluster.podCIDRs):
            net = ipaddress.ip_network(cidr)
            if net.version not in routes:
                if net.version not in unrouted:  # once per family: the first such range
                    unrouted.add(net.version)
                    field = "nativeRoutingCIDR" if net.version == 4 else "ipv6NativeRoutingCIDR"
                    diags.warning(
                        "routing-native-family-missing",
                        f"podCIDR {cidr} of cluster {cluster.name!r} is IPv{net.version}, and"
                        f" routingMode native has no spec.cilium.{field}: with masquerading"
                        f" on (Cilium's default) the agent needs one for IPv{net.version}",
                        doc.position((*CLUSTERS, i, "podCIDRs", j)),
                        path=format_path((*CLUSTERS, i, "podCIDRs", j)),
                        hint=f"set {field} to a range containing every cluster's"
                        f" IPv{net.version} podCIDRs",
                    )
                continue
            routing, field = routes[net.version]
            if not net.subnet_of(routing):  # type: ignore[arg-type]  # same version checked
                diags.error(
                    "routing-native-cidr-uncovered",
                    f"podCIDR {cidr} of cluster {cluster.name!r} is outside {field} {routing}",
                    doc.position((*CLUSTERS, i, "podCIDRs", j)),
                    path=format_path((*CLUSTERS, i, "podCIDRs", j)),
                    related=[first_here(doc, (*base, field), f"{field} is set here")],
                    hint=f"widen {field} or move the cluster's pods into it",
                )


def check_mesh_endpoints(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Every endpoint reachable and distinct: no two clusters behind one host and port."""
    seen: dict[tuple[str, int], tuple[Path, int]] = {}
    node_port = fleet.spec.mesh.apiserver.serviceType == "NodePort"
    for i, cluster in enumerate(fleet.spec.clusters):
        here = (*CLUSTERS, i, "meshEndpoint")
        endpoint = cluster.meshEndpoint
        hosts: list[tuple[str, Path]] = []
        if endpoint.address is not None:
            hosts.append((endpoint.address, (*here, "address")))
        for j, ip in enumerate(endpoint.ips or ()):
            addr = ipaddress.ip_address(ip)
            path = (*here, "ips", j)
            if addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_link_local:
                diags.error(
                    "mesh-endpoint-invalid",
                    f"{ip} cannot be reached from another cluster",
                    doc.position(path),
                    path=format_path(path),
                    hint="use the address of the clustermesh-apiserver service",
                )
            hosts.append((ip, path))
        if node_port and not NODEPORT_RANGE[0] <= endpoint.port <= NODEPORT_RANGE[1]:
            port_path = (*here, "port")
            diags.warning(
                "mesh-endpoint-nodeport-range",
                f"port {endpoint.port} is outside the default NodePort range"
                f" {NODEPORT_RANGE[0]}-{NODEPORT_RANGE[1]} (apiserver serviceType is NodePort)",
                doc.position(port_path) if doc.exists(port_path) else doc.key_position(here),
                path=format_path(port_path if doc.exists(port_path) else here),
                hint="set meshEndpoint.port to the apiserver's node port",
            )
        for host, path in hosts:
            key = (host, endpoint.port)
            if key in seen:
                first_path, first_index = seen[key]
                message = (
                    f"mesh endpoint {host}:{endpoint.port} is listed twice for {cluster.name!r}"
                    if first_index == i
                    else f"mesh endpoint {host}:{endpoint.port} of cluster {cluster.name!r} is"
                    f" already used by cluster {fleet.spec.clusters[first_index].name!r}"
                )
                diags.error(
                    "mesh-endpoint-duplicate",
                    message,
                    doc.position(path),
                    path=format_path(path),
                    related=[first_here(doc, first_path, "first used here")],
                )
            else:
                seen[key] = (path, i)


def local_only_selectors(version: tuple[int, int], setting: bool | None) -> bool:
    """Whether a selector without the cluster label means the local cluster only, on a
    cluster of Cilium `version` with the values fleetc renders (see
    `compiler.render.cilium_values`): the fleet's setting where the option exists, else that
    version's default."""
    if version < POLICY_DEFAULT_SINCE:
        return False
    return setting if setting is not None else version >= LOCAL_ONLY_SELECTORS


def _reading(local: bool) -> str:
    return "only the local cluster" if local else "any cluster"


def check_versions(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Unsupported Cilium versions, and mixes across the 1.18/1.19 selector change."""
    fleet_version = version_tuple(fleet.spec.cilium.version)
    fleet_path: Path = ("spec", "cilium", "version")
    versions: list[tuple[tuple[int, int], Path]] = [(fleet_version, fleet_path)]
    for i, cluster in enumerate(fleet.spec.clusters):
        if cluster.ciliumVersion is not None:
            versions.append((version_tuple(cluster.ciliumVersion), (*CLUSTERS, i, "ciliumVersion")))
    for version, path in versions:
        if version < OLDEST_SUPPORTED:
            diags.error(
                "cilium-version-unsupported",
                f"Cilium {version[0]}.{version[1]} is not supported; fleetc needs"
                f" {OLDEST_SUPPORTED[0]}.{OLDEST_SUPPORTED[1]} or later",
                doc.position(path),
                path=format_path(path),
            )
    setting = fleet.spec.cilium.policyDefaultLocalCluster
    fleet_local = local_only_selectors(fleet_version, setting)
    for i, cluster in enumerate(fleet.spec.clusters):
        if cluster.ciliumVersion is None:
            continue
        version = version_tuple(cluster.ciliumVersion)
        local = local_only_selectors(version, setting)
        if local == fleet_local:
            continue
        if version < POLICY_DEFAULT_SINCE and setting is not None:
            why = "it has no policyDefaultLocalCluster option"
        elif setting is None:
            why = f"policyDefaultLocalCluster: {str(local).lower()}, that version's default"
        else:
            why = "spec.cilium.policyDefaultLocalCluster"
        diags.warning(
            "cilium-version-selector-meaning",
            f"cluster {cluster.name!r} runs Cilium {cluster.ciliumVersion}, where a peer"
            f" selector without io.cilium.k8s.policy.cluster means {_reading(local)} ({why});"
            f" on the fleet's Cilium {fleet.spec.cilium.version} it means {_reading(fleet_local)}",
            doc.position((*CLUSTERS, i, "ciliumVersion")),
            path=format_path((*CLUSTERS, i, "ciliumVersion")),
            related=[first_here(doc, fleet_path, "the fleet's Cilium version")],
            hint="fleetc's own policies always name the cluster; label hand-written ones, or set"
            " spec.cilium.policyDefaultLocalCluster (Cilium 1.18 and later)",
        )
    exported = any(s.export for s in fleet.spec.services)
    if fleet.spec.mesh.serviceDiscovery == "mcs-api" and exported:
        for version, path in versions:
            if OLDEST_SUPPORTED <= version < MCS_API_SINCE:
                diags.warning(
                    "cilium-version-mcs-api",
                    f"MCS-API service discovery needs Cilium"
                    f" {MCS_API_SINCE[0]}.{MCS_API_SINCE[1]} or later;"
                    f" this is {version[0]}.{version[1]}",
                    doc.position(path),
                    path=format_path(path),
                    hint="use spec.mesh.serviceDiscovery: annotations",
                )


CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = (
    check_cluster_identity,
    check_cidr_overlap,
    check_routing,
    check_mesh_endpoints,
    check_versions,
)
