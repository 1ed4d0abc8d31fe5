"""Render fleet policies as CiliumNetworkPolicies: one function, `render_policies`.

Per fleet policy and side: the egress half goes to every cluster where the source runs, the
ingress half to every cluster where the destination runs, so a cross-cluster flow is allowed
(or denied) at both ends. A side with a namespace becomes a CiliumNetworkPolicy there; a side
without one spans namespaces and becomes a CiliumClusterwideNetworkPolicy. The object is the
same in every cluster it goes to (selectors name clusters, not the cluster they sit in), so it
is built once.

Every rule object sets ``enableDefaultDeny: false`` both ways: in Cilium a policy selecting an
endpoint otherwise switches it to default-deny, and a fleet rule must allow or deny only what
it names. Default-deny comes from one ``fleetc-defaults`` policy per managed namespace, which
also keeps DNS to the cluster's kube-dns open under an egress default of deny (and, when the
fleet manages kube-system itself under an ingress default of deny, ``fleetc-defaults-kube-dns``
lets the cluster's pods in).

Every peer selector names ``io.cilium.k8s.policy.cluster`` (one name, an ``In`` list, or
``Exists`` for every cluster), so the output means the same on Cilium 1.18 and 1.19+.
"""

from __future__ import annotations

from typing import Any

from compiler.model.types import PortRange
from compiler.render.cilium_rules import check_policy
from compiler.render.output import File, object_path
from compiler.resolve.model import Policy, ResolvedFleet, WorkloadSet

CLUSTER_LABEL = "io.cilium.k8s.policy.cluster"
NAMESPACE_LABEL = "k8s:io.kubernetes.pod.namespace"
SOURCE_ANNOTATION = "fleetc.dev/source"
COMPONENT = "policies"
MAX_PORTS = 40
"""Cilium accepts at most 40 ports in one PortRule; more go to further PortRules."""

DEFAULTS_NAME = "fleetc-defaults"
DNS_NAME = "fleetc-defaults-kube-dns"
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


def port_rules(ports: tuple[PortRange, ...]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for r in ports:
        entry: dict[str, Any] = {"port": str(r.low), "protocol": r.protocol}
        if r.high != r.low:
            entry["endPort"] = r.high
        entries.append(entry)
    return [{"ports": entries[i : i + MAX_PORTS]} for i in range(0, len(entries), MAX_PORTS)]


def source_of(resolved: ResolvedFleet, policy: Policy) -> str:
    """The annotation value: ``fleet.yaml:93 policy api-calls-payments``."""
    return f"{resolved.source}:{policy.origin.line} policy {policy.name}"


def rule_object(
    resolved: ResolvedFleet,
    policy: Policy,
    direction: str,
    every: tuple[str, ...] | None = None,
) -> dict[str, Any] | None:
    """The object carrying one side (``egress`` or ``ingress``) of a fleet policy, or None
    when the policy concerns no cluster (a selector that matched none). `every` is the
    fleet's cluster names, when the caller has them at hand."""
    if not policy.source.clusters or not policy.destination.clusters:
        return None
    if every is None:
        every = tuple(c.name for c in resolved.clusters)
    subject, peer = (
        (policy.source, policy.destination)
        if direction == "egress"
        else (policy.destination, policy.source)
    )
    namespaced = subject.namespace is not None
    rule: dict[str, Any] = {
        "toEndpoints" if direction == "egress" else "fromEndpoints": [
            peer_selector(peer, every, namespaced)
        ]
    }
    if policy.ports is not None:
        rule["toPorts"] = port_rules(policy.ports)
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
            field: [rule],
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
        f"{resolved.defaults_source} spec.defaults (ingress: {resolved.default_ingress},"
        f" egress: {resolved.default_egress})"
    )
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": _metadata(resolved, DEFAULTS_NAME, namespace, source),
        "spec": spec,
    }


def dns_object(resolved: ResolvedFleet, cluster: str) -> dict[str, Any]:
    """Ingress to kube-dns from every pod of its own cluster, for when the fleet manages
    kube-system with an ingress default of deny: name resolution must keep working."""
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": _metadata(
            resolved,
            DNS_NAME,
            "kube-system",
            f"{resolved.defaults_source} spec.defaults (ingress: {resolved.default_ingress})",
        ),
        "spec": {
            "endpointSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "enableDefaultDeny": {"egress": False, "ingress": False},
            "ingress": [
                {
                    "fromEndpoints": [
                        {
                            "matchLabels": {CLUSTER_LABEL: cluster},
                            "matchExpressions": [{"key": NAMESPACE_LABEL, "operator": "Exists"}],
                        }
                    ],
                    "toPorts": [
                        {
                            "ports": [
                                {"port": "53", "protocol": "UDP"},
                                {"port": "53", "protocol": "TCP"},
                            ]
                        }
                    ],
                }
            ],
        },
    }


def render_policies(resolved: ResolvedFleet) -> list[File]:
    """Every policy object of every cluster, checked against Cilium's rules, sorted by path."""
    files: list[File] = []
    for cluster in resolved.clusters:
        for namespace in resolved.namespaces(cluster.name):
            obj = defaults_object(resolved, cluster.name, namespace)
            if obj is not None:
                check_policy(obj)
                origin = f"spec.defaults ({resolved.source})"
                files.append(File(object_path(cluster.name, COMPONENT, obj), obj, origin))
                if namespace == "kube-system" and resolved.default_ingress == "deny":
                    dns = dns_object(resolved, cluster.name)
                    check_policy(dns)
                    files.append(File(object_path(cluster.name, COMPONENT, dns), dns, origin))
    every = tuple(c.name for c in resolved.clusters)
    for policy in resolved.policies:
        origin = f"policy {policy.name} ({resolved.source}:{policy.origin.line})"
        for direction, side in (("egress", policy.source), ("ingress", policy.destination)):
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
