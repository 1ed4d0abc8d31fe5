"""Stage 4, resolve: a validated Fleet -> the frozen, sorted `ResolvedFleet` renderers read.

Cluster selectors are evaluated here, once per selector (CEL only when a fleet uses it), and
services named by policies are expanded to their namespace, pods and clusters. Resolve runs
only on a fleet that validated without errors, so every reference is known to exist.
"""

from __future__ import annotations

from typing import Any

from compiler.diagnostics import Diagnostics, Position
from compiler.load import Document
from compiler.model import Fleet, PortRange, version_tuple
from compiler.model.fleet import ClusterLabelSelector, Target
from compiler.model.fleet import Peer as ModelPeer
from compiler.resolve.model import (
    CIDRSet,
    CiliumSettings,
    Cluster,
    Endpoint,
    Entities,
    FluxDependency,
    FluxSettings,
    FQDNs,
    GuardSettings,
    HTTPRule,
    LabelPairs,
    Mesh,
    Peer,
    Policy,
    Port,
    ResolvedFleet,
    Service,
    WorkloadSet,
)
from compiler.validate.selectors import match_labels

__all__ = ["ResolvedFleet", "resolve", "select_clusters", "system_namespaces"]


def _pairs(labels: dict[str, str] | None) -> LabelPairs:
    return tuple(sorted((labels or {}).items()))


def select_clusters(
    selector: Any, clusters: tuple[Cluster, ...], fleet: Fleet, at: Position, diags: Diagnostics
) -> tuple[str, ...]:
    """The sorted names of the clusters a `clusters:` selector picks."""
    if selector is None:
        return tuple(c.name for c in clusters)
    if isinstance(selector, list):
        return tuple(sorted(set(selector)))
    assert isinstance(selector, ClusterLabelSelector)
    if selector.cel is not None:
        from compiler.validate.cel_select import select_clusters as cel_select

        chosen = cel_select(selector.cel, list(fleet.spec.clusters), at, diags)
        return tuple(sorted(chosen or ()))
    return tuple(c.name for c in clusters if match_labels(selector, c.label_map))


def resolve(doc: Document, fleet: Fleet, diags: Diagnostics) -> ResolvedFleet:
    spec = fleet.spec
    cilium = spec.cilium
    clusters = tuple(
        sorted(
            (
                Cluster(
                    name=c.name,
                    id=c.id,
                    region=c.region,
                    labels=_pairs(c.labels),
                    cilium_version=version_tuple(c.ciliumVersion or cilium.version),
                    pod_cidrs=tuple(c.podCIDRs),
                    service_cidrs=tuple(c.serviceCIDRs),
                    node_cidrs=tuple(c.nodeCIDRs),
                    endpoint=Endpoint(
                        c.meshEndpoint.address,
                        tuple(c.meshEndpoint.ips or ()),
                        c.meshEndpoint.port,
                    ),
                    origin=doc.position(("spec", "clusters", i)),
                )
                for i, c in enumerate(spec.clusters)
            ),
            key=lambda c: c.name,
        )
    )
    services = tuple(
        sorted(
            (
                Service(
                    name=s.name,
                    namespace=s.namespace,
                    selector=_pairs(s.selector),
                    ports=tuple(
                        sorted(
                            (Port(p.name, p.port, p.protocol) for p in s.ports),
                            key=lambda p: (p.port, p.protocol, p.name or ""),
                        )
                    ),
                    clusters=tuple(sorted(set(s.clusters))),
                    export=s.export,
                    affinity=s.affinity,
                    shared=s.shared,
                    origin=doc.position(("spec", "services", i)),
                )
                for i, s in enumerate(spec.services)
            ),
            key=lambda s: (s.namespace, s.name),
        )
    )
    by_ref = {s.ref: s for s in services}

    def workload(peer: ModelPeer, at: Position) -> Peer:
        if peer.entities is not None:
            return Entities(tuple(sorted(set(peer.entities))))
        if peer.cidrs is not None:
            return CIDRSet(tuple(sorted(set(peer.cidrs))), tuple(sorted(set(peer.except_ or ()))))
        if peer.fqdns is not None:
            return FQDNs(tuple(sorted(set(peer.fqdns))))
        if peer.service is not None:
            service = by_ref[peer.service]
            return WorkloadSet(
                clusters=service.clusters,
                namespace=service.namespace,
                selector=service.selector,
                service=service.ref,
            )
        return WorkloadSet(
            clusters=select_clusters(peer.clusters, clusters, fleet, at, diags),
            namespace=peer.namespace,
            selector=_pairs(peer.selector) if peer.selector is not None else None,
            all_clusters=peer.clusters is None,
        )

    def ports(target: Target) -> tuple[PortRange, ...] | None:
        if target.ports is not None:
            return tuple(sorted({PortRange.parse(p) for p in target.ports}))
        if target.service is not None and by_ref[target.service].ports:
            return tuple(
                sorted(
                    {PortRange(p.protocol, p.port, p.port) for p in by_ref[target.service].ports}
                )
            )
        return None

    policies = tuple(
        Policy(
            name=p.name,
            action=p.action,
            source=workload(p.from_, doc.position(("spec", "policies", i, "from"))),
            destination=workload(p.to, doc.position(("spec", "policies", i, "to"))),
            ports=ports(p.to),
            index=i,
            origin=doc.position(("spec", "policies", i)),
            http=tuple(HTTPRule(r.method, r.path) for r in p.to.http) if p.to.http else None,
        )
        for i, p in enumerate(spec.policies)
    )

    system = system_namespaces(fleet)
    managed: dict[str, set[str]] = {c.name: set() for c in clusters}
    for service in services:
        for name in service.clusters:
            managed[name].add(service.namespace)
    for policy in policies:
        for side in (policy.source, policy.destination):
            if isinstance(side, WorkloadSet) and side.namespace is not None:
                for name in side.clusters:
                    managed[name].add(side.namespace)
    for names in managed.values():
        names -= system

    mesh = spec.mesh
    issuer = mesh.tls.issuerRef
    helm = cilium.helmRelease
    return ResolvedFleet(
        name=fleet.metadata.name,
        source=doc.source.name,
        cilium=CiliumSettings(
            version=version_tuple(cilium.version),
            max_connected_clusters=cilium.maxConnectedClusters,
            routing_mode=cilium.routingMode,
            tunnel_protocol=cilium.tunnelProtocol,
            native_routing_cidr=cilium.nativeRoutingCIDR,
            encryption=cilium.encryption,
            release_name=cilium.release.name,
            release_namespace=cilium.release.namespace,
            helm_release=helm.enabled,
            chart_version=helm.chartVersion,
            chart_source=(helm.sourceRef.kind, helm.sourceRef.name, helm.sourceRef.namespace),
            chart_interval=helm.interval,
            ipv6_native_routing_cidr=cilium.ipv6NativeRoutingCIDR,
            policy_default_local_cluster=cilium.policyDefaultLocalCluster,
            chart_timeout=helm.timeout,
            chart_retries=helm.retries,
        ),
        mesh=Mesh(
            domain=mesh.domain,
            service_discovery=mesh.serviceDiscovery,
            apiserver_service_type=mesh.apiserver.serviceType,
            apiserver_annotations=_pairs(mesh.apiserver.annotations),
            tls_method=mesh.tls.method,
            issuer_kind=issuer.kind if issuer else None,
            issuer_name=issuer.name if issuer else None,
            issuer_group=issuer.group if issuer else None,
        ),
        default_ingress=spec.defaults.ingress,
        default_egress=spec.defaults.egress,
        clusters=clusters,
        services=services,
        policies=policies,
        flux=FluxSettings(
            source_kind=spec.flux.sourceRef.kind,
            source_name=spec.flux.sourceRef.name,
            source_namespace=spec.flux.sourceRef.namespace,
            path=spec.flux.path,
            namespace=spec.flux.namespace,
            interval=spec.flux.interval,
            retry_interval=spec.flux.retryInterval,
            timeout=spec.flux.timeout,
            depends_on=tuple(FluxDependency(d.name, d.namespace) for d in spec.flux.dependsOn),
        ),
        guard=GuardSettings(
            enabled=spec.guard.enabled,
            mode=spec.guard.mode,
            image=spec.guard.image,
            namespace=spec.guard.namespace,
        ),
        defaults_origin=doc.key_position(("spec", "defaults"))
        if doc.exists(("spec", "defaults"))
        else None,
        managed_namespaces=tuple((name, tuple(sorted(ns))) for name, ns in sorted(managed.items())),
        system_namespaces=tuple(sorted(system)),
    )


def system_namespaces(fleet: Fleet) -> set[str]:
    """Namespaces `defaults` never reaches: kube-system (DNS, the API server's helpers),
    Cilium's (the agent and the clustermesh-apiserver), the fleet guard's and Flux's."""
    spec = fleet.spec
    return {
        "kube-system",
        "flux-system",
        spec.cilium.release.namespace,
        spec.guard.namespace,
        spec.flux.namespace,
        spec.flux.sourceRef.namespace,
    }
