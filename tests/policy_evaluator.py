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
- a flow passes when egress at the source, in the source's cluster, and ingress at the
  destination, in the destination's cluster, both pass.

Unknown fields raise: the evaluator must understand everything the renderer writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "io.kubernetes.pod.namespace"
CLUSTER = "io.cilium.k8s.policy.cluster"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."


@dataclass(frozen=True)
class Pod:
    cluster: str
    namespace: str
    labels: tuple[tuple[str, str], ...] = ()

    def identity(self) -> dict[str, str]:
        labels = {f"k8s:{k}": v for k, v in self.labels}
        labels[f"k8s:{NAMESPACE}"] = self.namespace
        labels[f"k8s:{CLUSTER}"] = self.cluster
        return labels


def _split(key: str) -> tuple[str, str]:
    """``k8s:app`` -> (k8s, app); ``app`` -> (any, app)."""
    source, colon, name = key.partition(":")
    return (source, name) if colon else ("any", key)


@dataclass(frozen=True)
class Selector:
    """An endpoint selector after Cilium's parsing: (source, key) -> requirement."""

    labels: tuple[tuple[str, str, str], ...]
    expressions: tuple[tuple[str, str, str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Selector:
        unknown = set(raw) - {"matchLabels", "matchExpressions"}
        if unknown:
            raise ValueError(f"unknown selector fields {sorted(unknown)}")
        labels = tuple((*_split(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items())
        expressions = tuple(
            (*_split(e["key"]), e["operator"], tuple(e.get("values") or ()))
            for e in raw.get("matchExpressions") or ()
        )
        return cls(labels, expressions)

    def has_key(self, name: str) -> bool:
        return any(n == name and s in ("k8s", "any") for s, n, _ in self.labels) or any(
            n == name and s in ("k8s", "any") for s, n, _, _ in self.expressions
        )

    def has_key_prefix(self, prefix: str) -> bool:
        names = [n for _, n, _ in self.labels] + [n for _, n, _, _ in self.expressions]
        return any(n.startswith(prefix) for n in names)

    def with_label(self, name: str, value: str) -> Selector:
        return Selector((*self.labels, ("k8s", name, value)), self.expressions)

    def with_exists(self, name: str) -> Selector:
        return Selector(self.labels, (*self.expressions, ("k8s", name, "Exists", ())))

    def matches(self, identity: Mapping[str, str]) -> bool:
        def lookup(source: str, name: str) -> str | None:
            if source == "any":
                for key, value in identity.items():
                    if key.partition(":")[2] == name:
                        return value
                return None
            return identity.get(f"{source}:{name}")

        for source, name, value in self.labels:
            if lookup(source, name) != value:
                return False
        for source, name, op, values in self.expressions:
            found = lookup(source, name)
            ok = {
                "In": found is not None and found in values,
                "NotIn": found is None or found not in values,
                "Exists": found is not None,
                "DoesNotExist": found is None,
            }[op]
            if not ok:
                return False
        return True


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
class PeerRule:
    peers: tuple[Selector, ...] | None
    """None: no L3 peer named (every peer, if ports are named)."""
    ports: tuple[PortMatch, ...] | None
    """None: every port."""

    def matches(self, peer: Mapping[str, str], protocol: str, port: int) -> bool:
        if self.peers is None and self.ports is None:
            return False  # an empty rule selects nothing
        if self.peers is not None and not any(s.matches(peer) for s in self.peers):
            return False
        return self.ports is None or any(p.covers(protocol, port) for p in self.ports)


@dataclass
class Rule:
    subject: Selector
    rules: dict[str, list[PeerRule]] = field(default_factory=dict)
    default_deny: dict[str, bool] = field(default_factory=dict)


RULE_FIELDS = {"ingress", "ingressDeny", "egress", "egressDeny"}
SPEC_FIELDS = {"endpointSelector", "enableDefaultDeny", "description", *RULE_FIELDS}
PEER_FIELDS = {"fromEndpoints", "toEndpoints"}


def _ports(raw: list[dict[str, Any]]) -> tuple[PortMatch, ...]:
    out = []
    for port_rule in raw:
        if set(port_rule) - {"ports", "rules"}:
            raise ValueError(f"unknown port rule fields {sorted(port_rule)}")
        for p in port_rule.get("ports") or ():
            low = int(p.get("port", "0"))
            out.append(PortMatch(p.get("protocol", "ANY"), low, int(p.get("endPort", low))))
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
        parsed = []
        for item in spec[name]:
            if set(item) - PEER_FIELDS - {"toPorts"}:
                raise ValueError(f"unknown rule fields {sorted(item)}")
            raw_peers = item.get("toEndpoints", item.get("fromEndpoints"))
            peers = None if raw_peers is None else tuple(peer(p) for p in raw_peers)
            ports = _ports(item["toPorts"]) if "toPorts" in item else None
            parsed.append(PeerRule(peers, ports))
        rule.rules[name] = parsed
    explicit = spec.get("enableDefaultDeny") or {}
    for direction in ("ingress", "egress"):
        has_rules = bool(spec.get(direction)) or bool(spec.get(f"{direction}Deny"))
        rule.default_deny[direction] = bool(explicit.get(direction, has_rules))
    return rule


class Evaluator:
    """Rendered objects per cluster -> verdicts for flows between abstract pods."""

    def __init__(
        self, objects: Mapping[str, Iterable[Mapping[str, Any]]], default_local_cluster: bool = True
    ) -> None:
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

    def verdict(self, direction: str, pod: Pod, peer: Pod, protocol: str, port: int) -> bool:
        """Whether `pod`'s policies in its cluster let traffic to/from `peer` pass."""
        me, other = pod.identity(), peer.identity()
        selecting = [r for r in self.rules.get(pod.cluster, []) if r.subject.matches(me)]
        for rule in selecting:
            if any(
                p.matches(other, protocol, port) for p in rule.rules.get(f"{direction}Deny", [])
            ):
                return False
        for rule in selecting:
            if any(p.matches(other, protocol, port) for p in rule.rules.get(direction, [])):
                return True
        return not any(r.default_deny[direction] for r in selecting)

    def allowed(self, src: Pod, dst: Pod, protocol: str, port: int) -> bool:
        return self.verdict("egress", src, dst, protocol, port) and self.verdict(
            "ingress", dst, src, protocol, port
        )


def by_cluster(files: Iterable[Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Rendered `File`s (path ``clusters/<cluster>/...``) grouped by cluster."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for f in files:
        parts = f.path.split("/")
        if parts[0] == "clusters" and isinstance(f.content, dict):
            out.setdefault(parts[1], []).append(f.content)
    return out


# --- test glue: the compiler side, kept apart from the evaluator above ----------------------


def resolve_text(text: str, name: str = "fleet.yaml") -> Any:
    """fleet.yaml text -> ResolvedFleet, failing the test with every diagnostic on errors."""
    from compiler.diagnostics import Diagnostics
    from compiler.pipeline import check
    from compiler.resolve import resolve

    diags = Diagnostics()
    checked = check(text.encode(), name, diags)
    if checked is None or diags.has_errors:
        raise AssertionError("\n".join(f"{d.position}: {d.code}: {d.message}" for d in diags))
    resolved = resolve(checked.doc, checked.fleet, diags)
    if diags.has_errors:
        raise AssertionError("\n".join(f"{d.position}: {d.code}: {d.message}" for d in diags))
    return resolved
