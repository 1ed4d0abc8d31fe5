"""Render fleet policies as CiliumNetworkPolicies: one function, `render_policies`.

1. A fleet policy has up to two halves: egress, in every cluster where its `from` runs, when
   `from` is fleet pods; ingress, in every cluster where its `to` runs, when `to` is. A
   cross-cluster flow between fleet pods is so allowed (or denied) at both ends; a peer
   outside the fleet (entities, CIDRs, DNS names) has no end of ours, and only the fleet
   side's half is rendered, naming the peer as ``to/fromEntities``, ``to/fromCIDRSet`` (with
   ``except``) or ``toFQDNs``.
2. A side with a namespace becomes a CiliumNetworkPolicy there; a side without one spans
   namespaces and becomes a CiliumClusterwideNetworkPolicy. The object is the same in every
   cluster it goes to (selectors name clusters, not the cluster they sit in), so it is built
   once; except an egress half to DNS names, which also carries the rule Cilium's DNS proxy
   needs (egress to that cluster's kube-dns on 53, every lookup allowed) and so is built per
   cluster. Without that rule a ``toFQDNs`` rule never matches.
3. Every rule object sets ``enableDefaultDeny: false`` both ways: in Cilium a policy selecting
   an endpoint otherwise switches it to default-deny, and a fleet rule must allow or deny only
   what it names. L7 ``http`` rules ride on the rule's ports: they restrict the requests of
   the rule's own peers, nobody else's.
4. Default-deny comes from one ``fleetc-defaults`` policy per managed namespace, which also
   keeps DNS to the cluster's kube-dns open under an egress default of deny. System
   namespaces (kube-system, Cilium's, the guard's, Flux's) are never managed: rules naming
   them are rendered, but no default reaches them.
5. Every endpoint peer selector names ``io.cilium.k8s.policy.cluster`` (one name, an ``In``
   list, or ``Exists`` for every cluster), so the output means the same on Cilium 1.18 and
   1.19+.
"""

from __future__ import annotations

from typing import Any

from compiler.plain import PortRange
from compiler.render.cilium_rules import check_policy
from compiler.render.output import File, object_path
from compiler.resolve.model import (
    CIDRSet,
    Entities,
    FQDNs,
    HTTPRule,
    Peer,
    Policy,
    ResolvedFleet,
    WorkloadSet,
)

CLUSTER_LABEL = "io.cilium.k8s.policy.cluster"
NAMESPACE_LABEL = "k8s:io.kubernetes.pod.namespace"
SOURCE_ANNOTATION = "fleetc.dev/source"
COMPONENT = "policies"
MAX_PORTS = 40
"""Cilium accepts at most 40 ports in one PortRule; more go to further PortRules."""

DEFAULTS_NAME = "fleetc-defaults"
_KUBE_DNS = {
    "matchLabels": {
        NAMESPACE_LABEL: "kube-system",
        "k8s-app": "kube-dns",
    }
}


def _metadata(resolved: ResolvedFleet, name: str, namespace: str | None, source: str) -> Any:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "fleetc", "fleetc.dev/fleet": resolved.name},
        "annotations": {SOURCE_ANNOTATION: source},
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def cluster_requirement(
    clusters: tuple[str, ...], every: tuple[str, ...]
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(matchLabels, matchExpressions) naming `clusters`: one name, an In list, or Exists."""
    if len(clusters) == 1:
        return {CLUSTER_LABEL: clusters[0]}, []
    if clusters == every:
        return {}, [{"key": CLUSTER_LABEL, "operator": "Exists"}]
    return {}, [{"key": CLUSTER_LABEL, "operator": "In", "values": list(clusters)}]


def peer_selector(peer: WorkloadSet, every: tuple[str, ...], namespaced: bool) -> dict[str, Any]:
    """The selector for the other side of a rule.

    In a CiliumNetworkPolicy a peer without a namespace label means "this namespace", so a peer
    in any namespace says ``Exists`` explicitly; a clusterwide policy needs no such word.
    """
    labels, expressions = cluster_requirement(peer.clusters, every)
    labels = {**dict(peer.selector or ()), **labels}
    if peer.namespace is not None:
        labels[NAMESPACE_LABEL] = peer.namespace
    elif namespaced:
        expressions.append({"key": NAMESPACE_LABEL, "operator": "Exists"})
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = labels
    if expressions:
        selector["matchExpressions"] = sorted(expressions, key=lambda e: str(e["key"]))
    return selector


def subject_selector(subject: WorkloadSet) -> dict[str, Any]:
    """The endpointSelector: the pods the policy applies to, in the cluster it is applied in.

    A CiliumNetworkPolicy is confined to its namespace by Cilium; a clusterwide one is limited
    to pods (endpoints with a namespace) so it never selects anything the fleet did not name.
    """
    selector: dict[str, Any] = {}
    if subject.selector:
        selector["matchLabels"] = dict(subject.selector)
    if subject.namespace is None:
        selector["matchExpressions"] = [{"key": NAMESPACE_LABEL, "operator": "Exists"}]
    return selector


def port_rules(
    ports: tuple[PortRange, ...], http: tuple[HTTPRule, ...] | None = None
) -> list[dict[str, Any]]:
    """``toPorts``: at most 40 ports per PortRule, each carrying the L7 `http` rules."""
    entries: list[dict[str, Any]] = []
    for r in ports:
        entry: dict[str, Any] = {"port": str(r.low), "protocol": r.protocol}
        if r.high != r.low:
            entry["endPort"] = r.high
        entries.append(entry)
    rules: list[dict[str, Any]] = []
    for i in range(0, len(entries), MAX_PORTS):
        rule: dict[str, Any] = {"ports": entries[i : i + MAX_PORTS]}
        if http:
            rule["rules"] = {"http": [_http(r) for r in http]}
        rules.append(rule)
    return rules


def _http(rule: HTTPRule) -> dict[str, str]:
    out = {}
    if rule.method is not None:
        out["method"] = rule.method
    if rule.path is not None:
        out["path"] = rule.path
    return out


def peer_rule(peer: Peer, direction: str, every: tuple[str, ...], namespaced: bool) -> Any:
    """The peer part of one rule: ``toEndpoints``, ``toEntities``, ``toCIDRSet``, ``toFQDNs``
    (or their ``from`` forms), exactly one of them."""
    prefix = "to" if direction == "egress" else "from"
    if isinstance(peer, WorkloadSet):
        return {f"{prefix}Endpoints": [peer_selector(peer, every, namespaced)]}
    if isinstance(peer, Entities):
        return {f"{prefix}Entities": list(peer.names)}
    if isinstance(peer, CIDRSet):
        cidrs = []
        for cidr in peer.rendered():
            item: dict[str, Any] = {"cidr": cidr}
            excepts = peer.excepts_of(cidr)
            if excepts:
                item["except"] = excepts
            cidrs.append(item)
        return {f"{prefix}CIDRSet": cidrs}
    assert isinstance(peer, FQDNs) and direction == "egress"
    return {
        "toFQDNs": [
            {"matchPattern" if "*" in name else "matchName": name} for name in peer.patterns
        ]
    }


def dns_proxy_rule(cluster: str) -> dict[str, Any]:
    """Egress to the cluster's kube-dns through Cilium's DNS proxy, refusing no lookup: what
    lets the proxy see the answers a ``toFQDNs`` rule is matched against."""
    return {
        "toEndpoints": [{"matchLabels": {**_KUBE_DNS["matchLabels"], CLUSTER_LABEL: cluster}}],
        "toPorts": [
            {
                "ports": [
                    {"port": "53", "protocol": "UDP"},
                    {"port": "53", "protocol": "TCP"},
                ],
                "rules": {"dns": [{"matchPattern": "*"}]},
            }
        ],
    }


def source_of(resolved: ResolvedFleet, policy: Policy) -> str:
    """The annotation value: ``fleet.yaml policy api-calls-payments`` (no line number, so an
    edit elsewhere in fleet.yaml changes no rendered byte)."""
    return f"{resolved.source} policy {policy.name}"


def rule_object(
    resolved: ResolvedFleet,
    policy: Policy,
    direction: str,
    every: tuple[str, ...] | None = None,
    cluster: str | None = None,
) -> dict[str, Any] | None:
    """The object carrying one half (``egress`` or ``ingress``) of a fleet policy, or None
    when the policy has no such half (its side there is outside the fleet) or concerns no
    cluster (a selector that matched none). `every` is the fleet's cluster names, when the
    caller has them at hand. An egress half to DNS names differs per cluster (its DNS rule
    names the cluster's kube-dns): `cluster` says which, and defaults to the first."""
    if direction not in policy.directions:
        return None
    subject = policy.subject(direction)
    peer = policy.peer(direction)
    if not subject.clusters or (isinstance(peer, WorkloadSet) and not peer.clusters):
        return None
    if every is None:
        every = tuple(c.name for c in resolved.clusters)
    namespaced = subject.namespace is not None
    rule: dict[str, Any] = peer_rule(peer, direction, every, namespaced)
    if policy.ports is not None:
        rule["toPorts"] = port_rules(policy.ports, policy.http)
    rules = [rule]
    if isinstance(peer, FQDNs):
        rules.append(dns_proxy_rule(cluster or subject.clusters[0]))
    field = direction if policy.action == "allow" else f"{direction}Deny"
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy" if namespaced else "CiliumClusterwideNetworkPolicy",
        "metadata": _metadata(
            resolved,
            f"fleetc-{policy.name}-{direction}",
            subject.namespace,
            source_of(resolved, policy),
        ),
        "spec": {
            "endpointSelector": subject_selector(subject),
            "enableDefaultDeny": {"egress": False, "ingress": False},
            field: rules,
        },
    }


def defaults_object(resolved: ResolvedFleet, cluster: str, namespace: str) -> dict[str, Any] | None:
    """The default-deny policy of one managed namespace, or None when both defaults allow."""
    ingress = resolved.default_ingress == "deny"
    egress = resolved.default_egress == "deny"
    if not ingress and not egress:
        return None
    spec: dict[str, Any] = {
        "endpointSelector": {},
        "enableDefaultDeny": {"egress": egress, "ingress": ingress},
    }
    if ingress:
        # Cilium's documented "deny all ingress": one rule that selects no peer.
        spec["ingress"] = [{}]
    if egress:
        dns = {"matchLabels": {**_KUBE_DNS["matchLabels"], CLUSTER_LABEL: cluster}}
        spec["egress"] = [
            {
                "toEndpoints": [dns],
                "toPorts": [
                    {
                        "ports": [
                            {"port": "53", "protocol": "UDP"},
                            {"port": "53", "protocol": "TCP"},
                        ],
                        "rules": {"dns": [{"matchPattern": "*"}]},
                    }
                ],
            }
        ]
    source = (
        f"{resolved.source} spec.defaults (ingress: {resolved.default_ingress},"
        f" egress: {resolved.default_egress})"
    )
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": _metadata(resolved, DEFAULTS_NAME, namespace, source),
        "spec": spec,
    }


def render_policies(resolved: ResolvedFleet) -> list[File]:
    """Every policy object of every cluster, checked against Cilium's rules, sorted by path."""
    files: list[File] = []
    # A namespace's defaults name the cluster only for the DNS rule of a default-deny egress;
    # otherwise every cluster gets one shared object (checked once).
    per_cluster = resolved.default_egress == "deny"
    made: dict[tuple[str, str], dict[str, Any] | None] = {}
    for cluster in resolved.clusters:
        for namespace in resolved.namespaces(cluster.name):
            key = (cluster.name if per_cluster else "", namespace)
            if key in made:
                obj = made[key]
            else:
                obj = made[key] = defaults_object(resolved, cluster.name, namespace)
                if obj is not None:
                    check_policy(obj)
            if obj is not None:
                origin = f"spec.defaults ({resolved.source})"
                files.append(File(object_path(cluster.name, COMPONENT, obj), obj, origin))
    every = tuple(c.name for c in resolved.clusters)
    for policy in resolved.policies:
        origin = f"policy {policy.name} ({resolved.source})"
        for direction in policy.directions:
            side = policy.subject(direction)
            if isinstance(policy.peer(direction), FQDNs):
                for name in side.clusters:  # the DNS rule names each cluster's kube-dns
                    obj = rule_object(resolved, policy, direction, every, name)
                    if obj is not None:
                        check_policy(obj)
                        files.append(File(object_path(name, COMPONENT, obj), obj, origin))
                continue
            obj = rule_object(resolved, policy, direction, every)
            if obj is None:
                continue
            check_policy(obj)
            # The same object goes to every cluster of this side (files are never mutated),
            # at the same path below each cluster's directory.
            tail = object_path(side.clusters[0], COMPONENT, obj).split("/", 2)[2]
            files.extend(File(f"clusters/{name}/{tail}", obj, origin) for name in side.clusters)
    files.sort(key=lambda f: f.path)
    return files
