"""An independent evaluator of rendered CiliumNetworkPolicies on abstract pods.

It reads only the rendered objects (plain dicts, as they would be applied) and implements
Cilium's selection rules as the agent applies them, not as fleetc means them:

- a pod's identity labels are its own labels plus ``k8s:io.kubernetes.pod.namespace`` and
  ``k8s:io.cilium.k8s.policy.cluster``; a selector key without a source prefix matches any
  source, ``k8s:`` only Kubernetes labels;
- a CiliumNetworkPolicy's endpointSelector is confined to the policy's namespace; its peer
  selectors without a namespace key mean the policy's namespace; a clusterwide policy's peer
  selectors without one mean "any pod" (namespace Exists);
- peer selectors without a cluster key mean the local cluster when `default_local_cluster`
  (Cilium 1.19+ default), any cluster otherwise (1.18);
- per direction, deny rules beat allow rules; an endpoint is default-deny in a direction when
  a policy selecting it asks for it (``enableDefaultDeny``, which defaults to "this policy has
  rules in that direction"); otherwise unmatched traffic passes;
- a rule without ``toPorts`` covers every port, a port entry covers ``port``..``endPort``
  (``0`` or absent: every port) for its protocol (``ANY``: every protocol); a rule with no
  peer and no port selects nothing (Cilium's "deny all" idiom);
- peers beyond pods (``to/fromEntities``, ``to/fromCIDR(Set)`` with ``except``,
  ``toFQDNs``) follow `tests.policy_peers`; a ``toFQDNs`` rule matches a name only when the
  DNS proxy saw its answer for that pod (`Evaluator.looked_up`): without an egress rule to
  kube-dns on 53 with DNS rules allowing the lookup, it never matches;
- L7: a request passes an end when a rule allowing the peer on that port has no L7 rules, or
  one of the ``http`` rules of the allowing rules matches it; an L7 rule restricts only the
  peers of its own rule;
- on ingress, the local host reaches local pods whatever the policy but a deny
  (``--allow-localhost``, "always" on Kubernetes);
- a flow passes when every end that is a pod passes: egress at the source, in the source's
  cluster, and ingress at the destination, in the destination's cluster. Addresses and nodes
  have no CiliumNetworkPolicy of theirs.

Unknown fields raise: the evaluator must understand everything the renderer writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.policy_peers import (
    CLUSTER,
    L7,
    NAMESPACE,
    NAMESPACE_LABELS_PREFIX,
    CIDRRule,
    NamePattern,
    Node,
    Outside,
    Pod,
    Selector,
    entity_covers,
    identity,
    parse_entities,
)

DNS_NAMESPACE = "kube-system"
DNS_LABELS = (("k8s-app", "kube-dns"),)
"""Every cluster's DNS server: kube-dns (CoreDNS keeps the label), which pods query."""


Party = Pod | Outside | Node
"""Anything a flow can start or end at: see `tests.policy_peers` for the non-pods."""


@dataclass(frozen=True)
class PortMatch:
    protocol: str
    low: int
    high: int

    def covers(self, protocol: str, port: int) -> bool:
        if self.protocol not in ("ANY", protocol):
            return False
        return self.low == 0 or self.low <= port <= self.high


@dataclass(frozen=True)
class PortRule:
    """One ``toPorts`` entry: its ports and the L7 rules riding on them (None: none)."""

    ports: tuple[PortMatch, ...]
    l7: L7 | None

    def covers(self, protocol: str, port: int) -> bool:
        return any(p.covers(protocol, port) for p in self.ports)


@dataclass(frozen=True)
class PeerRule:
    """One item of a rule list: at most one kind of peer, and ports."""

    kind: str | None
    """endpoints, entities, cidrs or fqdns; None: no L3 peer named (every peer, if ports are)."""
    selectors: tuple[Selector, ...] = ()
    entities: tuple[str, ...] = ()
    cidrs: tuple[CIDRRule, ...] = ()
    names: tuple[NamePattern, ...] = ()
    ports: tuple[PortRule, ...] | None = None
    """None: every port, without L7 rules."""

    def peer_matches(
        self, peer: Party, labels: Mapping[str, str], here: str, seen: Callable[[str], bool]
    ) -> bool:
        if self.kind == "endpoints":
            return any(s.matches(labels) for s in self.selectors)
        if self.kind == "entities":
            return any(entity_covers(e, labels, here) for e in self.entities)
        if self.kind == "cidrs":
            return any(c.contains(peer) for c in self.cidrs)
        if self.kind == "fqdns":
            # The DNS proxy hands toFQDNs the addresses of the answers it saw, nothing else.
            return (
                isinstance(peer, Outside)
                and peer.name is not None
                and any(n.matches(peer.name) for n in self.names)
                and seen(peer.name)
            )
        return True

    def filters(
        self,
        peer: Party,
        labels: Mapping[str, str],
        here: str,
        protocol: str,
        port: int,
        seen: Callable[[str], bool],
    ) -> list[L7 | None] | None:
        """None when this item does not cover the flow; else the L7 rules of the port rules
        that cover it (None: that port rule has none)."""
        if self.kind is None and self.ports is None:
            return None  # an empty rule selects nothing
        if not self.peer_matches(peer, labels, here, seen):
            return None
        if self.ports is None:
            return [None]
        covering = [r.l7 for r in self.ports if r.covers(protocol, port)]
        return covering or None


@dataclass
class Rule:
    subject: Selector
    rules: dict[str, list[PeerRule]] = field(default_factory=dict)
    default_deny: dict[str, bool] = field(default_factory=dict)


RULE_FIELDS = {"ingress", "ingressDeny", "egress", "egressDeny"}
SPEC_FIELDS = {"endpointSelector", "enableDefaultDeny", "description", *RULE_FIELDS}
PEER_FIELDS = {
    "ingress": {
        "fromEndpoints": "endpoints",
        "fromEntities": "entities",
        "fromCIDR": "cidrs",
        "fromCIDRSet": "cidrs",
    },
    "egress": {
        "toEndpoints": "endpoints",
        "toEntities": "entities",
        "toCIDR": "cidrs",
        "toCIDRSet": "cidrs",
        "toFQDNs": "fqdns",
    },
}


def _port_rules(raw: list[dict[str, Any]], list_name: str) -> tuple[PortRule, ...]:
    out = []
    for port_rule in raw:
        if set(port_rule) - {"ports", "rules"}:
            raise ValueError(f"unknown port rule fields {sorted(port_rule)}")
        if not port_rule.get("ports"):
            raise ValueError("a port rule without ports is not modelled")
        ports = []
        for p in port_rule["ports"]:
            if set(p) - {"port", "endPort", "protocol"}:
                raise ValueError(f"unknown port fields {sorted(p)}")
            low = int(p.get("port", "0"))
            ports.append(PortMatch(p.get("protocol", "ANY"), low, int(p.get("endPort", low))))
        l7 = L7.parse(port_rule["rules"]) if port_rule.get("rules") else None
        if l7 is not None and list_name.endswith("Deny"):
            raise ValueError("Cilium has no L7 deny rules")
        if l7 is not None and l7.kind == "dns" and list_name != "egress":
            raise ValueError("DNS rules are egress rules")
        out.append(PortRule(tuple(ports), l7))
    return tuple(out)


def _parse_rule(
    spec: Mapping[str, Any], namespace: str | None, cluster: str, default_local_cluster: bool
) -> Rule:
    unknown = set(spec) - SPEC_FIELDS
    if unknown:
        raise ValueError(f"unknown spec fields {sorted(unknown)}")
    subject = Selector.parse(spec["endpointSelector"])
    if namespace is not None:
        subject = subject.with_label(NAMESPACE, namespace)

    def peer(raw: Mapping[str, Any]) -> Selector:
        selector = Selector.parse(raw)
        if not selector.has_key(NAMESPACE):
            if namespace is None:
                selector = selector.with_exists(NAMESPACE)
            elif not selector.has_key_prefix(NAMESPACE_LABELS_PREFIX):
                selector = selector.with_label(NAMESPACE, namespace)
        if default_local_cluster and not selector.has_key(CLUSTER):
            selector = selector.with_label(CLUSTER, cluster)
        return selector

    rule = Rule(subject)
    for name in RULE_FIELDS & set(spec):
        kinds = PEER_FIELDS[name.removesuffix("Deny")]
        if name == "egressDeny":
            kinds = {k: v for k, v in kinds.items() if k != "toFQDNs"}  # Cilium has none
        parsed = []
        for item in spec[name]:
            if set(item) - set(kinds) - {"toPorts"}:
                raise ValueError(f"unknown {name} rule fields {sorted(item)}")
            named = [k for k in kinds if k in item]
            if len(named) > 1:
                raise ValueError(f"one peer kind per rule, found {named}")
            ports = _port_rules(item["toPorts"], name) if "toPorts" in item else None
            if not named:
                parsed.append(PeerRule(None, ports=ports))
                continue
            key = named[0]
            kind, raw = kinds[key], item[key]
            parsed.append(
                PeerRule(
                    kind,
                    selectors=tuple(peer(p) for p in raw) if kind == "endpoints" else (),
                    entities=parse_entities(raw) if kind == "entities" else (),
                    cidrs=tuple(CIDRRule.parse(c) for c in raw) if kind == "cidrs" else (),
                    names=tuple(NamePattern.parse(n) for n in raw) if kind == "fqdns" else (),
                    ports=ports,
                )
            )
        rule.rules[name] = parsed
    explicit = spec.get("enableDefaultDeny") or {}
    for direction in ("ingress", "egress"):
        has_rules = bool(spec.get(direction)) or bool(spec.get(f"{direction}Deny"))
        rule.default_deny[direction] = bool(explicit.get(direction, has_rules))
    return rule


@dataclass(frozen=True)
class End:
    """An end's verdict when it lets the flow pass: the L7 rules of the rules that allow it
    (empty: no rule allowed it, the end's default or the agent did; then no L7 applies)."""

    filters: tuple[L7 | None, ...] = ()

    def passes_request(self, method: str, path: str) -> bool:
        """A rule allowing the peer on the port without L7 rules lets every request through
        (Cilium's proxy then allows all for it); otherwise one HTTP rule must match."""
        if not self.filters or any(f is None for f in self.filters):
            return True
        return any(f is not None and f.allows_request(method, path) for f in self.filters)


class Evaluator:
    """Rendered objects per cluster -> verdicts for flows between pods, addresses and nodes.

    `allow_localhost`: the agent's ``--allow-localhost``; Cilium's default on Kubernetes is
    "always" (the local host may reach local pods, so kubelet probes work), False is
    ``policy``. `dns_flow`: a DNS answer is seen only when the lookup itself passes (egress at
    the pod and ingress at kube-dns, as any flow); False only asks for the proxy rule.
    """

    def __init__(
        self,
        objects: Mapping[str, Iterable[Mapping[str, Any]]],
        default_local_cluster: bool = True,
        allow_localhost: bool = True,
        dns_flow: bool = True,
    ) -> None:
        self.allow_localhost = allow_localhost
        self.dns_flow = dns_flow
        self.rules: dict[str, list[Rule]] = {}
        for cluster, objs in objects.items():
            parsed = self.rules.setdefault(cluster, [])
            for obj in objs:
                kind = obj["kind"]
                if kind not in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
                    continue
                namespace = obj["metadata"].get("namespace")
                if (kind == "CiliumNetworkPolicy") != (namespace is not None):
                    raise ValueError(f"{kind} with namespace {namespace!r}")
                specs = [obj["spec"]] if "spec" in obj else list(obj["specs"])
                parsed.extend(
                    _parse_rule(s, namespace, cluster, default_local_cluster) for s in specs
                )

    def _selecting(self, pod: Pod) -> list[Rule]:
        me = pod.identity()
        return [r for r in self.rules.get(pod.cluster, []) if r.subject.matches(me)]

    def _filters(
        self, rules: list[Rule], field_name: str, pod: Pod, peer: Party, protocol: str, port: int
    ) -> list[L7 | None] | None:
        """The L7 rules of every item of `field_name` covering the flow; None: no item does."""
        labels = identity(peer, pod.cluster)
        found: list[L7 | None] | None = None
        for rule in rules:
            for item in rule.rules.get(field_name, []):
                filters = item.filters(
                    peer, labels, pod.cluster, protocol, port, lambda n: self.looked_up(pod, n)
                )
                if filters is not None:
                    found = (found or []) + filters
        return found

    def end(self, direction: str, pod: Pod, peer: Party, protocol: str, port: int) -> End | None:
        """`pod`'s policies in its cluster on traffic to/from `peer`: None when they drop it."""
        selecting = self._selecting(pod)
        if self._filters(selecting, f"{direction}Deny", pod, peer, protocol, port) is not None:
            return None
        allowing = self._filters(selecting, direction, pod, peer, protocol, port)
        if allowing is not None:
            kinds = {f.kind for f in allowing if f is not None}
            if len(kinds) > 1:
                # "If the type differs, the policy is rejected": the agent refuses it
                raise ValueError(f"{pod}: {direction} on {port}/{protocol} mixes L7 {kinds}")
            return End(tuple(allowing))
        if (
            direction == "ingress"
            and self.allow_localhost
            and "reserved:host" in identity(peer, pod.cluster)
        ):
            return End()
        if any(r.default_deny[direction] for r in selecting):
            return None
        return End()

    def verdict(self, direction: str, pod: Pod, peer: Party, protocol: str, port: int) -> bool:
        """Whether `pod`'s policies in its cluster let traffic to/from `peer` pass."""
        return self.end(direction, pod, peer, protocol, port) is not None

    def ends(self, src: Party, dst: Party, protocol: str, port: int) -> list[End | None]:
        """The verdict at each end that is a pod: egress at `src`, ingress at `dst`."""
        out = []
        if isinstance(src, Pod):
            out.append(self.end("egress", src, dst, protocol, port))
        if isinstance(dst, Pod):
            out.append(self.end("ingress", dst, src, protocol, port))
        if not out:
            raise ValueError("no end of this flow is a pod: no CiliumNetworkPolicy applies")
        return out

    def allowed(self, src: Party, dst: Party, protocol: str, port: int) -> bool:
        return all(e is not None for e in self.ends(src, dst, protocol, port))

    def request(
        self, src: Party, dst: Party, protocol: str, port: int, method: str, path: str
    ) -> bool:
        """Whether the HTTP request `method path` on that connection reaches `dst`."""
        return all(
            e is not None and e.passes_request(method, path)
            for e in self.ends(src, dst, protocol, port)
        )

    def looked_up(self, pod: Pod, name: str) -> bool:
        """Whether Cilium's DNS proxy sees the answer when `pod` looks `name` up at its
        cluster's kube-dns (over UDP, as resolvers do): the lookup must be redirected to the
        proxy (an allowing egress rule to kube-dns on 53 carries DNS rules), the proxy must let
        the name through, and (`dns_flow`) the lookup must pass like any flow."""
        dns = Pod(pod.cluster, DNS_NAMESPACE, DNS_LABELS)
        if self.dns_flow and not self.allowed(pod, dns, "UDP", 53):
            return False
        filters = self._filters(self._selecting(pod), "egress", pod, dns, "UDP", 53) or []
        if not any(f is not None and f.kind == "dns" for f in filters):
            return False  # not redirected: the proxy never sees the answer
        return any(f is None or f.allows_lookup(name) for f in filters)


def by_cluster(files: Iterable[Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Rendered `File`s (path ``clusters/<cluster>/...``) grouped by cluster."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for f in files:
        parts = f.path.split("/")
        if parts[0] == "clusters" and isinstance(f.content, dict):
            out.setdefault(parts[1], []).append(f.content)
    return out


# --- test glue: the compiler side, kept apart from the evaluator above ----------------------


def resolve_text(text: str, name: str = "fleet.yaml", tolerate: Iterable[str] = ()) -> Any:
    """fleet.yaml text -> ResolvedFleet, failing the test with every diagnostic on errors
    (but those whose code is in `tolerate`)."""
    from compiler.diagnostics import Diagnostics, Severity
    from compiler.pipeline import check
    from compiler.resolve import resolve

    tolerated = set(tolerate)

    def fail_on_errors(diags: Diagnostics) -> None:
        errors = [
            d for d in diags.items if d.severity is Severity.ERROR and d.code not in tolerated
        ]
        if errors:
            raise AssertionError("\n".join(f"{d.position}: {d.code}: {d.message}" for d in diags))

    diags = Diagnostics()
    checked = check(text.encode(), name, diags)
    fail_on_errors(diags)
    assert checked is not None
    resolved = resolve(checked.doc, checked.fleet, diags)
    fail_on_errors(diags)
    return resolved


__all__ = ["End", "Evaluator", "Node", "Outside", "Party", "Pod", "by_cluster", "resolve_text"]
