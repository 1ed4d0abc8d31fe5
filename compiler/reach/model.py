"""What the fleet means: may an endpoint reach another on a port, and which rule decides.

This is the specification of fleet policies, written straight from the product semantics and
from nothing the renderer produces: tests compare it with an evaluator of the *rendered*
CiliumNetworkPolicies, so the two must stay independent.

The order of the questions is the semantics:

1. a `deny` policy naming the flow denies it (deny wins, wherever it is written);
2. otherwise an `allow` policy naming the flow allows it;
3. otherwise each side's default decides: the source's egress default in its namespace, then
   the destination's ingress default. A default is `deny` only in the namespaces fleetc
   manages in that cluster; everywhere else traffic is allowed, as without fleetc. DNS to
   the cluster's own kube-dns stays allowed under either default (kube-system is managed
   only when the fleet names it).
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.resolve.model import LabelPairs, Policy, ResolvedFleet, WorkloadSet

DNS_NAMESPACE = "kube-system"
DNS_LABELS: LabelPairs = (("k8s-app", "kube-dns"),)
DNS_PORT = 53
DNS_PROTOCOLS = ("TCP", "UDP")


@dataclass(frozen=True)
class Endpoint:
    """An abstract pod: the cluster it runs in, its namespace and its labels (sorted pairs)."""

    cluster: str
    namespace: str
    labels: LabelPairs = ()

    def __str__(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in self.labels)
        return f"{self.namespace}{'/' + labels if labels else ''}@{self.cluster}"


@dataclass(frozen=True)
class Decision:
    """The answer for one flow.

    `kind` is one of ``deny-rule``, ``allow-rule`` (then `rule` is the deciding policy),
    ``default-deny`` (then `direction`, `cluster` and `namespace` say where), ``dns`` (the
    kube-dns exception to a default of deny) or ``default-allow``.
    """

    allowed: bool
    kind: str
    rule: Policy | None = None
    direction: str | None = None
    cluster: str | None = None
    namespace: str | None = None

    @property
    def reason(self) -> str:
        if self.rule is not None:
            return f"policy {self.rule.name} ({self.rule.action})"
        if self.kind == "default-deny":
            return f"default-deny {self.direction} in namespace {self.namespace}@{self.cluster}"
        if self.kind == "dns":
            return "DNS to the cluster's kube-dns stays allowed under default deny"
        return "default allow"


def in_set(endpoint: Endpoint, workloads: WorkloadSet) -> bool:
    """Whether `endpoint` is one of the pods the workload set (or service) stands for."""
    if endpoint.cluster not in workloads.clusters:
        return False
    if workloads.namespace is not None and endpoint.namespace != workloads.namespace:
        return False
    if workloads.selector is None:
        return True
    labels = dict(endpoint.labels)
    return all(labels.get(key) == value for key, value in workloads.selector)


def names_flow(policy: Policy, src: Endpoint, dst: Endpoint, protocol: str, port: int) -> bool:
    """Whether `policy` speaks about this flow: both sides match and the port is one of its."""
    if policy.ports is not None and not any(r.contains(protocol, port) for r in policy.ports):
        return False
    return in_set(src, policy.source) and in_set(dst, policy.destination)


def _is_dns(src: Endpoint, dst: Endpoint, protocol: str, port: int) -> bool:
    labels = dict(dst.labels)
    return (
        dst.cluster == src.cluster
        and dst.namespace == DNS_NAMESPACE
        and all(labels.get(k) == v for k, v in DNS_LABELS)
        and port == DNS_PORT
        and protocol in DNS_PROTOCOLS
    )


def decide(
    resolved: ResolvedFleet, src: Endpoint, dst: Endpoint, protocol: str, port: int
) -> Decision:
    """May `src` open a connection to `dst` on `port`/`protocol`? See the module docstring."""
    allow: Policy | None = None
    for policy in resolved.policies:
        if not names_flow(policy, src, dst, protocol, port):
            continue
        if policy.action == "deny":
            return Decision(False, "deny-rule", policy)
        if allow is None:
            allow = policy
    if allow is not None:
        return Decision(True, "allow-rule", allow)
    dns = False
    if resolved.default_egress == "deny" and src.namespace in resolved.namespaces(src.cluster):
        if not _is_dns(src, dst, protocol, port):
            return Decision(False, "default-deny", None, "egress", src.cluster, src.namespace)
        dns = True
    if resolved.default_ingress == "deny" and dst.namespace in resolved.namespaces(dst.cluster):
        if not _is_dns(src, dst, protocol, port):
            return Decision(False, "default-deny", None, "ingress", dst.cluster, dst.namespace)
        dns = True
    return Decision(True, "dns") if dns else Decision(True, "default-allow")
