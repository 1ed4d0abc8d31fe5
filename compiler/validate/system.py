"""Rules that touch the system namespaces, where DNS, Cilium and the mesh live.

`defaults` never reaches a system namespace (kube-system, flux-system, Cilium's, the fleet
guard's and Flux's; `compiler.resolve.system_namespaces`); a rule naming one is rendered as
written, and a note says so. A deny is warned about where it could cut what every cluster
needs (PRODUCT.md, "Policies beyond the fleet"):

- into the system namespaces from outside the pods (world, host, remote-node, cluster, all,
  CIDRs): the clustermesh-apiserver and kube-dns live there;
- to kube-dns on port 53 from pods or nodes of its own cluster;
- from CoreDNS (pods of every namespace) to world or CIDRs, where its upstream resolvers are.

"Could include" is judged from what fleet.yaml says: a namespace of None or kube-system, and
a selector that is absent or a subset of the system pods' labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from compiler.diagnostics import Diagnostic, Diagnostics, Position, Severity
from compiler.load import Document, Path, format_path
from compiler.model import Fleet, PortRange, Service
from compiler.model.fleet import ClusterLabelSelector, Peer, Policy
from compiler.validate.selectors import match_labels

KUBE_DNS = {"k8s-app": "kube-dns"}
CLUSTERMESH_APISERVER = {
    "k8s-app": "clustermesh-apiserver",
    "app.kubernetes.io/name": "clustermesh-apiserver",
    "app.kubernetes.io/part-of": "cilium",
}
DNS_PORTS = (("UDP", 53), ("TCP", 53))
MESH_PORTS = (("TCP", 2379),)
"""The clustermesh-apiserver's etcd port as its pods see it (behind its Service)."""

OUTSIDE_INTO_SYSTEM = ("world", "host", "remote-node", "cluster", "all")
DNS_CLIENTS = ("host", "remote-node", "cluster", "all")
IN_CLUSTER = ("cluster", "all")
UPSTREAM = ("world", "all")


def _system(fleet: Fleet) -> set[str]:
    # compiler.resolve imports this package: import it when the check runs
    from compiler.resolve import system_namespaces

    return system_namespaces(fleet)


def _namespace(peer: Peer, services: dict[str, Service]) -> str | None:
    if peer.service is not None:
        service = services.get(peer.service)
        return service.namespace if service else peer.service.split("/")[0]
    return peer.namespace


def _selector(peer: Peer, services: dict[str, Service]) -> dict[str, str] | None:
    if peer.service is not None:
        service = services.get(peer.service)
        return dict(service.selector) if service else None
    return peer.selector


def _could_be(selector: dict[str, str] | None, *pods: dict[str, str]) -> bool:
    """Pods labelled like one of `pods` could match `selector`."""
    return selector is None or any(
        all(labels.get(k) == v for k, v in selector.items()) for labels in pods
    )


def _covers(ports: list[str] | None, wanted: tuple[tuple[str, int], ...]) -> bool:
    if ports is None:
        return True
    ranges = [PortRange.parse(p) for p in ports]
    return any(r.contains(protocol, port) for r in ranges for protocol, port in wanted)


@dataclass
class _Fleet:
    """The fleet with its services by ``ns/name`` and the clusters of each peer, worked out
    once per selector (fleets repeat selectors across many policies)."""

    fleet: Fleet
    services: dict[str, Service]
    memo: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, fleet: Fleet) -> _Fleet:
        return cls(fleet, {f"{s.namespace}/{s.name}": s for s in fleet.spec.services})

    def clusters(self, peer: Peer) -> frozenset[str]:
        """The clusters a fleet-side peer's pods are in (as far as validate can tell)."""
        selector = peer.clusters
        if peer.service is not None:
            key = "service " + peer.service
        elif isinstance(selector, ClusterLabelSelector):
            key = selector.model_dump_json()
        else:
            key = json.dumps(selector)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = frozenset(self._clusters(peer))
        return found

    def _clusters(self, peer: Peer) -> set[str]:
        clusters = self.fleet.spec.clusters
        everywhere = {c.name for c in clusters}
        if peer.service is not None:
            service = self.services.get(peer.service)
            return set(service.clusters) & everywhere if service else set()
        selector = peer.clusters
        if selector is None:
            return everywhere
        if isinstance(selector, list):
            return set(selector) & everywhere
        if selector.cel is not None:
            from compiler.validate.cel_select import select_clusters

            # errors in the expression are the CEL checks' to report; only the answer counts
            at = Position("", 0, 0)
            return set(select_clusters(selector.cel, list(clusters), at, Diagnostics()) or ())
        return {c.name for c in clusters if match_labels(selector, c.labels)}


def _note(diags: Diagnostics, code: str, message: str, doc: Document, path: Path) -> None:
    diags.add(
        Diagnostic(
            code,
            message,
            doc.position(path),
            Severity.NOTE,
            hint="fleetc leaves system namespaces to their owners: no default policy is"
            " rendered there, whatever defaults say",
            path=format_path(path),
        )
    )


def check_system_namespaces(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """A note at every policy side naming a system namespace."""
    if not fleet.spec.policies:
        return
    system = _system(fleet)
    services = _Fleet.of(fleet).services
    for i, policy in enumerate(fleet.spec.policies):
        for side, peer in (("from", policy.from_), ("to", policy.to)):
            namespace = _namespace(peer, services) if peer.in_fleet else None
            if namespace not in system:
                continue
            key = "service" if peer.service is not None else "namespace"
            _note(
                diags,
                "policy-system-namespace",
                f"{namespace} is a system namespace: defaults never reach it; only this rule"
                " applies there",
                doc,
                ("spec", "policies", i, side, key),
            )


def check_system_denies(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Warn where a deny could cut DNS or the mesh."""
    denies = [(i, p) for i, p in enumerate(fleet.spec.policies) if p.action == "deny"]
    if not denies:
        return
    ctx = _Fleet.of(fleet)
    for i, policy in denies:
        here = ("spec", "policies", i)
        if not _into_system(doc, ctx, policy, here, diags):
            _to_kube_dns(doc, ctx, policy, here, diags)
        _from_coredns(doc, ctx, policy, here, diags)


def _sources(peer: Peer) -> str:
    if peer.entities is not None:
        return "entities " + ", ".join(peer.entities)
    return "cidrs " + ", ".join(peer.cidrs or ())


def _into_system(
    doc: Document,
    ctx: _Fleet,
    policy: Policy,
    here: Path,
    diags: Diagnostics,
) -> bool:
    """(a) A deny from outside the pods into every namespace, or the one of kube-dns or of
    the clustermesh-apiserver."""
    source, target = policy.from_, policy.to
    outside = source.cidrs is not None or any(
        e in OUTSIDE_INTO_SYSTEM for e in source.entities or ()
    )
    if not outside or not target.in_fleet:
        return False
    namespace = _namespace(target, ctx.services)
    selector = _selector(target, ctx.services)
    cut: list[str] = []
    dns = namespace in (None, "kube-system") and _could_be(selector, KUBE_DNS)
    if dns and _covers(target.ports, DNS_PORTS):
        cut.append("kube-dns")
    mesh = ctx.fleet.spec.cilium.release.namespace
    apiserver = namespace in (None, mesh) and _could_be(selector, CLUSTERMESH_APISERVER)
    if apiserver and _covers(target.ports, MESH_PORTS):
        cut.append("the clustermesh-apiserver")
    clusters = sorted(ctx.clusters(target))
    if not cut or not clusters:
        return False
    where = namespace or "every namespace"
    names = f"cluster{'s' if len(clusters) > 1 else ''} {', '.join(clusters)}"
    what = "DNS and the mesh" if len(cut) == 2 else "DNS" if cut[0] == "kube-dns" else "the mesh"
    diags.warning(
        "policy-deny-system-namespaces",
        f"this deny from {_sources(source)} covers {where} in {names} ({' and '.join(cut)}"
        f" run there): it can cut {what}",
        doc.key_position((*here, "to")),
        path=format_path((*here, "to")),
        hint="name the namespace the deny is for (to: {namespace: ...}), or list ports that"
        " leave 53 and 2379 alone",
    )
    return True


def _to_kube_dns(
    doc: Document,
    ctx: _Fleet,
    policy: Policy,
    here: Path,
    diags: Diagnostics,
) -> None:
    """(b) A deny whose destination could be kube-dns on port 53, from its own cluster."""
    source, target = policy.from_, policy.to
    if not _covers(target.ports, DNS_PORTS):
        return
    if target.in_fleet:
        namespace = _namespace(target, ctx.services)
        if namespace not in (None, "kube-system") or not _could_be(
            _selector(target, ctx.services), KUBE_DNS
        ):
            return
        if source.in_fleet:
            shared = ctx.clusters(source) & ctx.clusters(target)
            if not shared:
                return  # pods only ask the kube-dns of their own cluster
        elif not any(e in DNS_CLIENTS for e in source.entities or ()):
            return
    elif not (source.in_fleet and any(e in IN_CLUSTER for e in target.entities or ())):
        return
    who = "the pods it denies" if source.in_fleet else _sources(source)
    diags.warning(
        "policy-deny-dns",
        f"this deny reaches kube-dns (kube-system, k8s-app=kube-dns) on port 53: {who} would"
        " lose DNS",
        doc.key_position((*here, "to")),
        path=format_path((*here, "to")),
        hint="leave DNS out: name the destination namespace, or list the ports the deny is for",
    )


def _from_coredns(
    doc: Document,
    ctx: _Fleet,
    policy: Policy,
    here: Path,
    diags: Diagnostics,
) -> None:
    """(c) A deny from pods of every namespace (CoreDNS among them) to its upstream resolvers."""
    source, target = policy.from_, policy.to
    if not source.in_fleet or not _covers(target.ports, DNS_PORTS):
        return
    if _namespace(source, ctx.services) not in (None, "kube-system"):
        return
    if target.cidrs is not None:
        upstream = f"upstream resolvers in {', '.join(target.cidrs)}, if they are there"
    elif any(e in UPSTREAM for e in target.entities or ()):
        upstream = "its upstream resolvers (world)"
    else:
        return
    if not _could_be(_selector(source, ctx.services), KUBE_DNS) or not ctx.clusters(source):
        return
    diags.warning(
        "policy-deny-upstream-dns",
        "this deny holds for CoreDNS too (kube-system, k8s-app=kube-dns): it could no longer"
        f" forward lookups to {upstream}",
        doc.key_position((*here, "from")),
        path=format_path((*here, "from")),
        hint="name the namespaces the deny is for (from: {namespace: ...}), or list ports that"
        " leave 53 alone",
    )


def check_http_on_dns(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """No HTTP rules on kube-dns's port 53: Cilium's DNS proxy rules sit there (the defaults'
    and every fqdns rule's), and the agent rejects a policy whose L7 rules differ in kind on
    one peer and port."""
    services: dict[str, Service] | None = None
    for i, policy in enumerate(fleet.spec.policies):
        target = policy.to
        if target.http is None or not target.in_fleet:
            continue
        if services is None:
            services = _Fleet.of(fleet).services
        if target.service is not None and target.service not in services:
            continue  # its own error says so
        namespace = _namespace(target, services)
        if namespace not in (None, "kube-system") or not _could_be(
            _selector(target, services), KUBE_DNS
        ):
            continue
        ports = target.ports
        if ports is None:  # the service's ports (none: the http rule's own error)
            service = services.get(target.service) if target.service else None
            ports = [f"{p.port}/{p.protocol}" for p in service.ports] if service else []
        if _covers(ports, (("TCP", 53),)):
            at = ("spec", "policies", i, "to", "http")
            diags.error(
                "policy-http-dns-port",
                "an http rule on port 53 of pods that include kube-dns: Cilium's DNS proxy"
                " rules are there, and Cilium rejects a policy mixing HTTP and DNS rules on"
                " one port",
                doc.key_position(at),
                path=format_path(at),
                hint="name the workloads without kube-dns, or leave port 53 out of this rule",
            )


CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = (
    check_system_namespaces,
    check_system_denies,
    check_http_on_dns,
)
