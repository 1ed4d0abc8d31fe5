"""Parties and selectors for the independent policy evaluator: pods and endpoint selectors,
and beyond pods identities, entities, CIDR sets, DNS name patterns and L7 rules, each as
Cilium's documentation defines it.

Like `tests.policy_evaluator`, this reads nothing of fleetc: it describes what the agent of a
cluster sees of a pod (see the evaluator for selectors) or of something other than a pod.

- An `Outside` party is an address outside every cluster: the agent gives it the
  ``reserved:world`` identity (the `world` entity is "identical to allowing 0.0.0.0/0"), and
  CIDR selectors match it by address. When it was reached by a DNS name (`name`), a
  ``toFQDNs`` selector matches it only if the DNS proxy saw that name's answer for the pod.
- A `Node` party is a node-side identity of a cluster, as the agent of the judging cluster
  (`here`) sees it: the local host is ``reserved:host``; any other node of any cluster of the
  mesh is ``reserved:remote-node``; the local API server (one off the worker nodes, as managed
  control planes run it) is ``reserved:kube-apiserver``; an API server of another cluster
  carries no label this agent knows (only `all` covers it).
- Entities select reserved labels; `cluster` is the local cluster's pods (by the cluster
  label) plus every node-side and other reserved identity but `world`; `all` is everything.
- CIDR selectors (``cidr`` less its ``except`` prefixes) never match pods or nodes: those
  carry identities of their own.
- ``matchName`` is an exact name; ``matchPattern``'s ``*`` is zero or more DNS characters
  within one label (alone: every name), a ``**.`` prefix one or more whole labels; no case.
- HTTP rules are regular expressions that must match the whole method and path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NAMESPACE = "io.kubernetes.pod.namespace"
CLUSTER = "io.cilium.k8s.policy.cluster"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
WORLD = "reserved:world"
RESERVED = ("host", "remote-node", "kube-apiserver", "health", "ingress", "init", "unmanaged")
CLUSTER_LABEL = "k8s:io.cilium.k8s.policy.cluster"
ENTITIES = frozenset({"all", "world", "world-ipv4", "world-ipv6", "cluster", "none", *RESERVED})
NODE_KINDS = ("host", "remote-node", "kube-apiserver")
DNS_CHARS = "[-a-z0-9_]"


@dataclass(frozen=True)
class Pod:
    """An abstract pod: its cluster, namespace and labels (sorted pairs)."""

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
class Outside:
    """An address outside every cluster; `name`: the DNS name it was looked up by."""

    ip: str
    name: str | None = None


@dataclass(frozen=True)
class Node:
    """A node-side identity of `cluster`: ``host``, ``remote-node`` or ``kube-apiserver``."""

    kind: str
    cluster: str

    def __post_init__(self) -> None:
        if self.kind not in NODE_KINDS:
            raise ValueError(f"unknown node kind {self.kind!r}")


def identity(party: Pod | Outside | Node, here: str) -> dict[str, str]:
    """The labels of `party`'s identity as the agent of cluster `here` knows them (a pod's
    own are the same everywhere)."""
    if isinstance(party, Pod):
        return party.identity()
    if isinstance(party, Outside):
        return {WORLD: ""}
    if party.kind == "kube-apiserver":
        return {"reserved:kube-apiserver": ""} if party.cluster == here else {}
    if party.kind == "host" and party.cluster == here:
        return {"reserved:host": ""}
    return {"reserved:remote-node": ""}


def entity_covers(entity: str, labels: Mapping[str, str], here: str) -> bool:
    """Whether Cilium's `entity`, in the agent of cluster `here`, selects the identity."""
    if entity == "all":
        return True
    if entity in ("world", "world-ipv4", "world-ipv6"):
        return WORLD in labels  # the parties here are IPv4 or IPv6 alike: no split
    if entity == "cluster":
        return labels.get(CLUSTER_LABEL) == here or any(f"reserved:{r}" in labels for r in RESERVED)
    if entity == "none":
        return False
    return f"reserved:{entity}" in labels


def parse_entities(raw: list[Any]) -> tuple[str, ...]:
    for entity in raw:
        if entity not in ENTITIES:
            raise ValueError(f"unknown entity {entity!r}")
    return tuple(raw)


IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CIDRRule:
    """One ``toCIDRSet``/``fromCIDRSet`` entry (or a plain ``toCIDR`` prefix)."""

    cidr: IPNet
    excepts: tuple[IPNet, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> CIDRRule:
        if isinstance(raw, str):
            return cls(ipaddress.ip_network(raw))
        unknown = set(raw) - {"cidr", "except"}
        if unknown:
            raise ValueError(f"unknown CIDR rule fields {sorted(unknown)}")
        cidr = ipaddress.ip_network(raw["cidr"])
        excepts = tuple(ipaddress.ip_network(e) for e in raw.get("except") or ())
        for e in excepts:
            # Cilium requires exceptions inside their prefix; anything else is not modelled
            if e.version != cidr.version or not e.subnet_of(cidr):  # type: ignore[arg-type]
                raise ValueError(f"except {e} is not inside {cidr}")
        return cls(cidr, excepts)

    def contains(self, party: object) -> bool:
        if not isinstance(party, Outside):
            return False
        ip = ipaddress.ip_address(party.ip)
        return ip in self.cidr and not any(ip in e for e in self.excepts)


@dataclass(frozen=True)
class NamePattern:
    """A ``matchName`` (exact) or ``matchPattern`` (wildcards) of toFQDNs or a DNS rule."""

    value: str
    pattern: bool

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> NamePattern:
        if set(raw) not in ({"matchName"}, {"matchPattern"}):
            raise ValueError(f"a name selector has one of matchName, matchPattern: {raw}")
        if "matchName" in raw:
            return cls(str(raw["matchName"]), False)
        return cls(str(raw["matchPattern"]), True)

    def matches(self, name: str) -> bool:
        name = name.lower().rstrip(".")
        value = self.value.lower().rstrip(".")
        if not self.pattern:
            return name == value
        if value == "*":
            return True
        head = ""
        if value.startswith("**."):
            head, value = rf"(?:{DNS_CHARS}+\.)+", value[3:]
        labels = [
            f"{DNS_CHARS}*".join(map(re.escape, label.split("*"))) for label in value.split(".")
        ]
        return re.fullmatch(head + r"\.".join(labels), name) is not None


@dataclass(frozen=True)
class L7:
    """The L7 rules of one port rule: ``http`` (method, path regexes) or ``dns`` names."""

    kind: str
    http: tuple[tuple[str | None, str | None], ...] = ()
    dns: tuple[NamePattern, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> L7:
        if set(raw) == {"http"}:
            rules = []
            for rule in raw["http"]:
                if set(rule) - {"method", "path"}:
                    raise ValueError(f"unknown http rule fields {sorted(rule)}")
                rules.append((rule.get("method"), rule.get("path")))
            return cls("http", http=tuple(rules))
        if set(raw) == {"dns"}:
            return cls("dns", dns=tuple(NamePattern.parse(r) for r in raw["dns"]))
        raise ValueError(f"unknown or mixed L7 rules {sorted(raw)}")

    def allows_request(self, method: str, path: str) -> bool:
        return self.kind == "http" and any(
            _full(m, method) and _full(p, path) for m, p in self.http
        )

    def allows_lookup(self, name: str) -> bool:
        return self.kind == "dns" and any(p.matches(name) for p in self.dns)


def _full(pattern: str | None, text: str) -> bool:
    """Envoy matches Cilium's HTTP regexes against the whole value; absent or empty: any."""
    return not pattern or re.fullmatch(pattern, text) is not None
