"""What the fleet means: may an endpoint reach another on a port, and which rule decides.

This is the specification of fleet policies, written straight from the product semantics and
from nothing the renderer produces: tests compare it with an evaluator of the *rendered*
CiliumNetworkPolicies, so the two must stay independent.

Endpoints are pods of the fleet (`Endpoint`), addresses outside it (`Outside`: ``world``,
``cidr:IP``, ``fqdn:NAME``) and node-side entities of a cluster (`Node`: ``kube-apiserver``,
``host``, ``remote-node``). A flow is decided at each end that is a pod of the fleet: egress
at the source, in the source's cluster, and ingress at the destination, in the destination's.
At each such end, among the policies whose half is enforced there (a policy has an egress half
when its `from` is fleet pods and an ingress half when its `to` is):

1. a `deny` naming the flow denies it (deny wins over allow, at either end);
2. otherwise an `allow` naming the flow allows that end;
3. otherwise that end's default decides: `deny` only in the namespaces fleetc manages in that
   cluster (never the system namespaces); everywhere else traffic passes, as without fleetc.
   DNS to the cluster's own kube-dns stays allowed under an egress default of deny, and a
   pod's own node (``host``) still reaches it under an ingress default of deny (Cilium's
   allow-localhost, for kubelet probes); only a deny naming ``host`` stops it.

The flow passes when every end it has passes. A peer outside the fleet is judged in the
cluster of the pod at the other end: `world` matches every `Outside` address, `cidrs` the
``cidr:`` addresses they contain (less their exceptions), `fqdns` the ``fqdn:`` names their
patterns match; ``kube-apiserver@c`` and ``host@c`` are the `kube-apiserver` and `host`
entities only seen from a pod of cluster c (from elsewhere, a host is a `remote-node` and an
API server is reached only by `all`); `cluster` is every pod, node and API server of the
judging cluster; `all` is everything. An `fqdns` peer matches only where the pod's own DNS lookups reach its
kube-dns (the proxy must see the answers). L7: where every allow naming the flow at an end carries
`http` rules, that end passes only the requests one of them matches (`requests`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from compiler.resolve.model import (
    CIDRSet,
    Entities,
    FQDNs,
    HTTPRule,
    LabelPairs,
    Peer,
    Policy,
    ResolvedFleet,
    WorkloadSet,
)

DNS_NAMESPACE = "kube-system"
DNS_LABELS: LabelPairs = (("k8s-app", "kube-dns"),)
DNS_PORT = 53
DNS_PROTOCOLS = ("TCP", "UDP")
NODE_KINDS = ("kube-apiserver", "host", "remote-node")


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
class Outside:
    """An address outside every fleet range: ``world`` (also outside every CIDR and name a
    policy names), ``cidr:IP`` or ``fqdn:NAME`` (the name's addresses, in no named CIDR)."""

    kind: str
    value: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == "world" else f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Node:
    """A node-side entity of one cluster: its API server, a node (``host``) or another node."""

    kind: str
    cluster: str

    def __str__(self) -> str:
        return f"{self.kind}@{self.cluster}"


Party = Endpoint | Outside | Node
"""Anything a flow can start or end at."""


@dataclass(frozen=True)
class Decision:
    """The answer for one flow.

    `kind` is one of ``deny-rule``, ``allow-rule`` (then `rule` is the deciding policy),
    ``default-deny`` (then `direction`, `cluster` and `namespace` say where), ``dns`` (the
    kube-dns exception to a default of deny) or ``default-allow``. `direction` and `cluster`
    say at which end a rule decided. When each end is allowed by a different rule, `also` is
    the other end's. `l7` lists, per end, the allow rules whose `http` filters the requests.
    """

    allowed: bool
    kind: str
    rule: Policy | None = None
    direction: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    also: Policy | None = None
    l7: tuple[tuple[str, tuple[Policy, ...]], ...] = field(default=(), compare=False)

    @property
    def reason(self) -> str:
        if self.rule is not None:
            reason = f"policy {self.rule.name} ({self.rule.action})"
            if self.also is not None:
                reason += f" and policy {self.also.name} ({self.also.action})"
            return reason
        if self.kind == "default-deny":
            return f"default-deny {self.direction} in namespace {self.namespace}@{self.cluster}"
        if self.kind == "dns":
            return "DNS to the cluster's kube-dns stays allowed under default deny"
        if self.kind == "host":
            return (
                "a pod's own node (host) reaches it under default deny (Cilium's allow-localhost)"
            )
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


def entity_matches(names: tuple[str, ...], party: Party, here: str) -> bool:
    """Whether one of Cilium's entities `names`, judged in cluster `here`, covers `party`."""
    if "all" in names:
        return True
    if isinstance(party, Outside):
        return "world" in names
    if isinstance(party, Endpoint):
        return "cluster" in names and party.cluster == here
    if party.kind == "kube-apiserver":
        return party.cluster == here and ("kube-apiserver" in names or "cluster" in names)
    if party.kind == "host" and party.cluster == here:
        return "host" in names or "cluster" in names
    return "remote-node" in names or "cluster" in names


def fqdn_matches(pattern: str, name: str) -> bool:
    """Cilium's matchName/matchPattern: ``*`` is any run of name characters within one label
    (``*`` alone: any name), a ``**.`` prefix one or more whole labels; no case."""
    name = name.lower().rstrip(".")
    pattern = pattern.lower().rstrip(".")
    if pattern == "*":
        return True
    prefix = ""
    if pattern.startswith("**."):
        prefix, pattern = r"([-a-z0-9_]+\.)+", pattern[3:]
    body = ".".join(
        "[-a-z0-9_]*".join(re.escape(part) for part in label.split("*"))
        for label in pattern.split(".")
    )
    return re.fullmatch(prefix + body, name) is not None


def peer_matches(peer: Peer, party: Party, here: str) -> bool:
    """Whether the other side of a rule, judged in cluster `here`, covers `party`."""
    if isinstance(peer, WorkloadSet):
        return isinstance(party, Endpoint) and in_set(party, peer)
    if isinstance(peer, Entities):
        return entity_matches(peer.names, party, here)
    if isinstance(peer, CIDRSet):
        return isinstance(party, Outside) and party.kind == "cidr" and peer.contains(party.value)
    assert isinstance(peer, FQDNs)
    return (
        isinstance(party, Outside)
        and party.kind == "fqdn"
        and any(fqdn_matches(p, party.value) for p in peer.patterns)
    )


def _port_matches(policy: Policy, protocol: str, port: int) -> bool:
    return policy.ports is None or any(r.contains(protocol, port) for r in policy.ports)


def names_flow(policy: Policy, src: Party, dst: Party, protocol: str, port: int) -> bool:
    """Whether `policy` speaks about this flow at some end: its fleet side holds that end's
    pod, its other side covers the other end, and the port is one of its."""
    if not _port_matches(policy, protocol, port):
        return False
    return any(_half_names(policy, direction, src, dst) for direction in policy.directions)


def _half_names(policy: Policy, direction: str, src: Party, dst: Party) -> bool:
    pod, other = (src, dst) if direction == "egress" else (dst, src)
    return (
        isinstance(pod, Endpoint)
        and in_set(pod, policy.subject(direction))
        and peer_matches(policy.peer(direction), other, pod.cluster)
    )


def _looks_up(resolved: ResolvedFleet, pod: Endpoint) -> bool:
    """Whether `pod`'s DNS lookups reach its cluster's kube-dns: what ``fqdns`` rules match
    against is the answers Cilium's DNS proxy sees."""
    dns = Endpoint(pod.cluster, DNS_NAMESPACE, DNS_LABELS)
    return decide(resolved, pod, dns, "UDP", DNS_PORT).allowed


def _is_dns(src: Party, dst: Party, protocol: str, port: int) -> bool:
    if not isinstance(src, Endpoint) or not isinstance(dst, Endpoint):
        return False
    labels = dict(dst.labels)
    return (
        dst.cluster == src.cluster
        and dst.namespace == DNS_NAMESPACE
        and all(labels.get(k) == v for k, v in DNS_LABELS)
        and port == DNS_PORT
        and protocol in DNS_PROTOCOLS
    )


@dataclass(frozen=True)
class _End:
    decision: Decision
    allows: tuple[Policy, ...] = ()


def _end(
    resolved: ResolvedFleet, direction: str, src: Party, dst: Party, protocol: str, port: int
) -> _End:
    """The verdict at one end of the flow: egress at `src` or ingress at `dst` (a pod)."""
    pod = src if direction == "egress" else dst
    assert isinstance(pod, Endpoint)
    allows: list[Policy] = []
    for policy in resolved.policies:
        if direction not in policy.directions or not _port_matches(policy, protocol, port):
            continue
        if not _half_names(policy, direction, src, dst):
            continue
        if isinstance(policy.peer(direction), FQDNs) and not _looks_up(resolved, pod):
            continue  # the DNS proxy never sees an answer: the names match no address
        if policy.action == "deny":
            return _End(Decision(False, "deny-rule", policy, direction, pod.cluster))
        allows.append(policy)
    if allows:
        return _End(Decision(True, "allow-rule", allows[0], direction, pod.cluster), tuple(allows))
    default = resolved.default_egress if direction == "egress" else resolved.default_ingress
    if default == "deny" and pod.namespace in resolved.namespaces(pod.cluster):
        if _is_dns(src, dst, protocol, port):
            return _End(Decision(True, "dns"))
        if direction == "ingress" and src == Node("host", pod.cluster):
            return _End(Decision(True, "host"))
        return _End(Decision(False, "default-deny", None, direction, pod.cluster, pod.namespace))
    return _End(Decision(True, "default-allow"))


def decide(resolved: ResolvedFleet, src: Party, dst: Party, protocol: str, port: int) -> Decision:
    """May `src` open a connection to `dst` on `port`/`protocol`? See the module docstring.

    At least one of `src` and `dst` is a pod of the fleet (`Endpoint`)."""
    return decide_mixed(lambda _cluster: resolved, src, dst, protocol, port)


def decide_mixed(
    revision: Callable[[str], ResolvedFleet], src: Party, dst: Party, protocol: str, port: int
) -> Decision:
    """`decide` in a fleet whose clusters are at different revisions (a rollout between waves):
    each end is judged by the policies its own cluster has, `revision(cluster)`."""
    ends = [
        _end(revision(party.cluster), direction, src, dst, protocol, port)
        for direction, party in (("egress", src), ("ingress", dst))
        if isinstance(party, Endpoint)
    ]
    if not ends:
        raise ValueError("a flow fleet policies govern starts or ends at a pod of the fleet")
    for kind in ("deny-rule", "default-deny"):
        for end in ends:
            if end.decision.kind == kind:
                return end.decision
    l7 = tuple(
        (str(end.decision.direction), end.allows)
        for end in ends
        if end.allows and all(p.http for p in end.allows)
    )
    rules = [end.decision for end in ends if end.decision.kind == "allow-rule"]
    if rules:
        first = rules[0]
        also = rules[1].rule if len(rules) > 1 and rules[1].rule != first.rule else None
        return Decision(
            True, "allow-rule", first.rule, first.direction, first.cluster, also=also, l7=l7
        )
    for kind in ("dns", "host"):
        if any(end.decision.kind == kind for end in ends):
            return Decision(True, kind)
    return Decision(True, "default-allow")


def requests(decision: Decision, method: str, path: str) -> tuple[bool, Policy | None]:
    """Whether an allowed connection's HTTP request `method path` passes the L7 rules that
    filter it; and the rule that let it through, or the first that filters it when denied."""
    passed_by: Policy | None = None
    for _direction, policies in decision.l7:
        matched = next(
            (p for p in policies if any(_http_matches(r, method, path) for r in p.http or ())),
            None,
        )
        if matched is None:
            return False, policies[0]
        passed_by = passed_by or matched
    return True, passed_by


def _http_matches(rule: HTTPRule, method: str, path: str) -> bool:
    return (rule.method is None or _full(rule.method, method)) and (
        rule.path is None or _full(rule.path, path)
    )


def _full(pattern: str, text: str) -> bool:
    """`pattern` matches the whole of `text`, in RE2's syntax as Cilium's proxy (Envoy) reads
    it; Python's `re` stands in where google-re2 is missing."""
    matcher = _matcher(pattern)
    return matcher is not None and matcher(text)


@cache
def _matcher(pattern: str) -> Callable[[str], bool] | None:
    try:
        import re2  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - cel-python brings it
        try:
            compiled = re.compile(pattern)
        except re.error:
            return None
        return lambda text: compiled.fullmatch(text) is not None
    options = re2.Options()
    options.log_errors = False  # it would write to stderr from C++
    try:
        rx = re2.compile(pattern, options)
    except re2.error:
        return None
    return lambda text: rx.fullmatch(text) is not None
