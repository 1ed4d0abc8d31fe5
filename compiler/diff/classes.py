"""The endpoint and port classes the connectivity diff compares: every selector of either
revision splits them, so one representative of a class decides like any of its members.

Pods: each service in each of its clusters (``ns/svc@c``), each labelled workload set
(``ns/k=v@c``; a selector that names no namespace gives one in each namespace named in that
cluster, and ``*/k=v@c`` in the others), ``ns@c`` for the other pods of a namespace fleet.yaml
names in c, ``*@c`` for a pod of a namespace it never names there, and kube-dns (the one
selector the defaults carry). Outside the fleet: ``world``, one ``cidr:IP`` per CIDR and
exception (an address inside it and outside every more specific one, and outside the fleet's
pod and node ranges), one ``fqdn:NAME`` per distinct set of patterns a concrete name matches;
and each cluster's ``kube-apiserver@c``, ``host@c`` and ``remote-node@c``.

Ports: per protocol, the runs of ports no range of either revision (policy ports, service
ports, DNS) cuts; runs that every range treats alike are one class, so ``1-442,444-65535/TCP``
can be one class and every port no range names is one class across all protocols.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from compiler.model.types import PortRange
from compiler.reach import (
    DNS_LABELS,
    DNS_NAMESPACE,
    DNS_PORT,
    DNS_PROTOCOLS,
    Endpoint,
    Node,
    Outside,
    Party,
    fqdn_matches,
)
from compiler.reach.endpoints import unnamed_namespace
from compiler.reach.model import NODE_KINDS
from compiler.resolve.model import (
    CIDRSet,
    FQDNs,
    LabelPairs,
    ResolvedFleet,
    WorkloadSet,
)

PROTOCOLS = ("TCP", "UDP", "SCTP")
OUTSIDE = "world"
"""What a flow change names as the cluster of an address outside the fleet."""


@dataclass(frozen=True)
class PartyClass:
    """One endpoint class: how the diff writes it (explain's syntax), its representative, and
    the cluster it lives in (`OUTSIDE` for addresses outside the fleet)."""

    label: str
    party: Party
    cluster: str

    @property
    def pod(self) -> bool:
        return isinstance(self.party, Endpoint)


@dataclass(frozen=True)
class PortClass:
    """Ports every range of both revisions treats alike: (protocol, low, high) runs, sorted;
    the representative is the first run's low port."""

    parts: tuple[tuple[str, int, int], ...]

    @property
    def protocol(self) -> str:
        return self.parts[0][0]

    @property
    def port(self) -> int:
        return self.parts[0][1]

    def within(self, ranges: tuple[PortRange, ...] | None) -> bool:
        """Whether these ports are named by `ranges` (None: any port); a class lies wholly
        inside or wholly outside every range, so its representative answers for it."""
        return ranges is None or any(r.contains(self.protocol, self.port) for r in ranges)


def _labels(pairs: LabelPairs) -> str:
    return ",".join(f"{k}={v}" for k, v in pairs)


COMBINATIONS = 256
"""At most this many label sets per namespace and cluster: beyond, pods that two selectors
both pick (a rare shape) are left to the classes of the selectors alone."""


def _combinations(selectors: Iterable[LabelPairs]) -> list[LabelPairs]:
    """No labels, each selector, and every union of selectors that can hold together (no key
    with two values): a pod two selectors pick may be treated like neither."""
    singles = {tuple(sorted(s)) for s in selectors}
    found: set[LabelPairs] = {(), *singles}
    frontier = set(singles)
    while frontier and len(found) < len(singles) + COMBINATIONS:
        grown: set[LabelPairs] = set()
        for a in sorted(frontier):
            for b in sorted(singles):
                merged = dict(a)
                if all(merged.setdefault(k, v) == v for k, v in b):
                    union = tuple(sorted(merged.items()))
                    if union not in found:
                        grown.add(union)
        added = sorted(grown)[: len(singles) + COMBINATIONS - len(found)]
        found.update(added)
        frontier = set(added)
    return sorted(found)


def pod_classes(fleets: tuple[ResolvedFleet, ...], clusters: list[str]) -> list[PartyClass]:
    here = set(clusters)
    named: dict[str, set[str]] = {c: set() for c in clusters}
    selectors: dict[tuple[str, str | None], set[LabelPairs]] = {}
    services: dict[Endpoint, str] = {}
    for fleet in fleets:
        for cluster in clusters:
            named[cluster].update(fleet.namespaces(cluster))
        for service in fleet.services:
            for cluster in here.intersection(service.clusters):
                named[cluster].add(service.namespace)
                ep = Endpoint(cluster, service.namespace, service.selector)
                label = f"{service.ref}@{cluster}"
                services[ep] = min(label, services.get(ep, label))
        for policy in fleet.policies:
            for side in (policy.source, policy.destination):
                if not isinstance(side, WorkloadSet):
                    continue
                for cluster in here.intersection(side.clusters):
                    if side.namespace is not None:
                        named[cluster].add(side.namespace)
                    if side.selector:
                        selectors.setdefault((cluster, side.namespace), set()).add(side.selector)
    unnamed = unnamed_namespace(*fleets)
    out: dict[Endpoint, str] = {}
    for cluster in clusters:
        anywhere = selectors.get((cluster, None), set())
        groups = {unnamed: anywhere}
        for namespace in named[cluster]:
            groups[namespace] = anywhere | selectors.get((cluster, namespace), set())
        for namespace, found in groups.items():
            written = "*" if namespace == unnamed else namespace
            for labels in _combinations(found):
                suffix = f"/{_labels(labels)}" if labels else ""
                out[Endpoint(cluster, namespace, labels)] = f"{written}{suffix}@{cluster}"
        # kube-dns is the one selector the defaults carry (DNS stays allowed)
        dns = {DNS_LABELS} | groups.get(DNS_NAMESPACE, anywhere)
        for labels in _combinations(dns):
            if set(DNS_LABELS) <= set(labels):
                out[Endpoint(cluster, DNS_NAMESPACE, labels)] = (
                    f"{DNS_NAMESPACE}/{_labels(labels)}@{cluster}"
                )
    out.update(services)  # a service reads better than the selector it stands for
    return [PartyClass(label, ep, ep.cluster) for ep, label in out.items()]


def _networks(
    fleets: tuple[ResolvedFleet, ...],
) -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for fleet in fleets:
        for policy in fleet.policies:
            for side in (policy.source, policy.destination):
                if isinstance(side, CIDRSet):
                    nets.update(ipaddress.ip_network(n) for n in (*side.cidrs, *side.excepts))
    return nets


def _address_in(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
    avoid: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str | None:
    """The first address of `net` (its network address last) in none of `avoid`."""
    inside = [a for a in avoid if a.version == net.version and a.overlaps(net)]
    first, last = int(net.network_address), int(net.broadcast_address)
    for start in (first + 1, first) if last > first + 1 else (first,):
        address = start
        while address <= last:
            ip = (
                ipaddress.ip_address(address)
                if net.version == 4
                else ipaddress.IPv6Address(address)
            )
            hit = [a for a in inside if ip in a]
            if not hit:
                return str(ip)
            address = max(int(a.broadcast_address) for a in hit) + 1
    return None


def cidr_classes(fleets: tuple[ResolvedFleet, ...]) -> list[PartyClass]:
    nets = _networks(fleets)
    ranges = {
        ipaddress.ip_network(r)
        for fleet in fleets
        for cluster in fleet.clusters
        for r in (*cluster.pod_cidrs, *cluster.node_cidrs)
    }
    out: dict[str, PartyClass] = {}
    for net in sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen)):
        more_specific = [
            m
            for m in nets
            if m != net and m.version == net.version and m.subnet_of(net)  # type: ignore[arg-type]
        ]
        address = _address_in(net, [*more_specific, *ranges])
        if address is not None:
            label = f"cidr:{address}"
            out.setdefault(label, PartyClass(label, Outside("cidr", address), OUTSIDE))
    return list(out.values())


FILLERS = ("x", "y0", "fleetc-z")


def _instances(pattern: str) -> list[str]:
    """Concrete names `pattern` matches: each ``*`` and the ``**.`` prefix filled in."""
    prefix, body = ("", pattern)
    if pattern.startswith("**."):
        prefix, body = "{}.", pattern[3:]
    out = []
    for filler in FILLERS:
        name = (prefix.format(filler) + body.replace("*", filler)).rstrip(".")
        if fqdn_matches(pattern, name):
            out.append(name)
    return out


def fqdn_classes(fleets: tuple[ResolvedFleet, ...]) -> list[PartyClass]:
    patterns = sorted(
        {
            p
            for fleet in fleets
            for policy in fleet.policies
            for side in (policy.source, policy.destination)
            if isinstance(side, FQDNs)
            for p in side.patterns
        }
    )
    by_signature: dict[frozenset[str], str] = {}
    for pattern in patterns:
        for name in _instances(pattern):
            signature = frozenset(p for p in patterns if fqdn_matches(p, name))
            by_signature.setdefault(signature, name)
    names = sorted(set(by_signature.values()))
    return [PartyClass(f"fqdn:{n}", Outside("fqdn", n), OUTSIDE) for n in names]


def party_classes(fleets: tuple[ResolvedFleet, ...], clusters: list[str]) -> list[PartyClass]:
    """Every endpoint class of these revisions, sorted by label."""
    found = [
        *pod_classes(fleets, clusters),
        PartyClass("world", Outside("world"), OUTSIDE),
        *cidr_classes(fleets),
        *fqdn_classes(fleets),
        *(PartyClass(f"{k}@{c}", Node(k, c), c) for c in clusters for k in NODE_KINDS),
    ]
    return sorted(found, key=lambda p: p.label)


def port_classes(fleets: tuple[ResolvedFleet, ...]) -> list[PortClass]:
    """Every port class of these revisions, the one holding the lowest TCP port first."""
    ranges: set[PortRange] = {PortRange(p, DNS_PORT, DNS_PORT) for p in DNS_PROTOCOLS}
    for fleet in fleets:
        for policy in fleet.policies:
            ranges.update(policy.ports or ())
        for service in fleet.services:
            ranges.update(PortRange(p.protocol, p.port, p.port) for p in service.ports)
    groups: dict[frozenset[PortRange], list[tuple[str, int, int]]] = {}
    for protocol in PROTOCOLS:
        relevant = [r for r in ranges if r.protocol in ("ANY", protocol)]
        cuts = sorted({1, 65536, *(r.low for r in relevant), *(r.high + 1 for r in relevant)})
        for low, end in itertools.pairwise(cuts):
            signature = frozenset(r for r in relevant if r.low <= low <= r.high)
            groups.setdefault(signature, []).append((protocol, low, end - 1))
    return [PortClass(tuple(parts)) for parts in groups.values()]


def port_label(parts: Iterable[tuple[str, int, int]]) -> str:
    """``443/TCP``, ``1-442,444-65535/TCP 1-65535/UDP``; ``.../ANY`` when every protocol has
    the same runs."""
    runs: dict[str, list[tuple[int, int]]] = {}
    for protocol, low, high in sorted(parts):
        merged = runs.setdefault(protocol, [])
        if merged and merged[-1][1] + 1 >= low:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))

    def written(pairs: list[tuple[int, int]]) -> str:
        return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in pairs)

    if len(runs) == len(PROTOCOLS) and len({tuple(v) for v in runs.values()}) == 1:
        return f"{written(runs['TCP'])}/ANY"
    return " ".join(f"{written(runs[p])}/{p}" for p in PROTOCOLS if p in runs)
