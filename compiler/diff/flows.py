"""Connectivity changes between two resolved fleets: every flow newly allowed or newly denied.

Flows are compared between the endpoint and port classes of `compiler.diff.classes`, which
every selector of both revisions splits, so one representative answers for its class and the
report has one line per class pair, never one per pod. Only what a change can affect is
asked: the two sides of every policy that differs between the revisions, on its ports; when a
default or the namespaces it covers changed, every pair with a pod in such a namespace. The
reachability model decides each flow (a flow neither end of which is a pod has no fleet
policy to decide it and is skipped), and the port classes of one pair that change alike,
for the same reasons, are one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from compiler.diff.classes import (
    PartyClass,
    PortClass,
    party_classes,
    port_classes,
    port_label,
)
from compiler.reach import Decision, Endpoint, decide, entity_matches, in_set, peer_matches
from compiler.resolve.model import Entities, Peer, Policy, ResolvedFleet, WorkloadSet


@dataclass(frozen=True, order=True)
class FlowChange:
    source: str
    destination: str
    port: str
    source_cluster: str
    destination_cluster: str
    before: bool
    after: bool
    rule_before: str
    rule_after: str

    def as_json(self) -> dict[str, object]:
        """The flow as ``fleetc diff -o json`` lists it."""
        return {
            "from": self.source,
            "to": self.destination,
            "port": self.port,
            "before": self.before,
            "after": self.after,
            "ruleBefore": self.rule_before,
            "ruleAfter": self.rule_after,
        }


def _could_match(peer: Peer, cls: PartyClass) -> bool:
    """Whether `peer` may cover the class judged in some cluster (entities depend on where:
    asking in the class's own cluster and in another covers both answers)."""
    if isinstance(peer, WorkloadSet):
        return isinstance(cls.party, Endpoint) and in_set(cls.party, peer)
    if isinstance(peer, Entities):
        return any(entity_matches(peer.names, cls.party, here) for here in (cls.cluster, ""))
    return peer_matches(peer, cls.party, "")


def _signature(policy: Policy) -> tuple[object, ...]:
    return (policy.name, policy.action, policy.source, policy.destination, policy.ports)


def _changed_policies(base: ResolvedFleet, head: ResolvedFleet) -> list[Policy]:
    before = {_signature(p): p for p in base.policies}
    after = {_signature(p): p for p in head.policies}
    gone = [(p.name, p.index, 0, p) for k, p in before.items() if k not in after]
    came = [(p.name, p.index, 1, p) for k, p in after.items() if k not in before]
    return [p for *_key, p in sorted(gone + came, key=lambda t: t[:3])]


def _default_reach(
    base: ResolvedFleet, head: ResolvedFleet, direction: str, cluster: str
) -> set[str]:
    """The namespaces of `cluster` whose default for `direction` differs between revisions."""

    def deny_in(fleet: ResolvedFleet) -> set[str]:
        default = fleet.default_egress if direction == "egress" else fleet.default_ingress
        return set(fleet.namespaces(cluster)) if default == "deny" else set()

    return deny_in(base) ^ deny_in(head)


Region = tuple[list[int], list[int], list[int]]
"""Source classes x destination classes x port classes (indices) a change can affect."""


def _regions(
    base: ResolvedFleet, head: ResolvedFleet, parties: list[PartyClass], ports: list[PortClass]
) -> Iterator[Region]:
    everyone = list(range(len(parties)))
    every_port = list(range(len(ports)))
    for direction in ("egress", "ingress"):
        clusters = {cls.cluster for cls in parties if cls.pod}
        reach = {c: _default_reach(base, head, direction, c) for c in sorted(clusters)}
        moved = [
            i
            for i, cls in enumerate(parties)
            if isinstance(cls.party, Endpoint) and cls.party.namespace in reach[cls.cluster]
        ]
        if moved:
            yield (
                (moved, everyone, every_port)
                if direction == "egress"
                else (
                    everyone,
                    moved,
                    every_port,
                )
            )
    for policy in _changed_policies(base, head):
        sources = [i for i, c in enumerate(parties) if _could_match(policy.source, c)]
        destinations = [i for i, c in enumerate(parties) if _could_match(policy.destination, c)]
        named = [i for i, p in enumerate(ports) if p.within(policy.ports)]
        yield sources, destinations, named


class _Judge:
    """`decide` on one revision, given only the policies that could name the pair (the
    verdict is the same: a policy naming a flow has its source on one side and its
    destination on the other), so a pair costs its own policies, not the fleet's."""

    def __init__(self, fleet: ResolvedFleet, parties: list[PartyClass]) -> None:
        self.fleet = fleet
        self.parties = parties
        self.as_source: dict[int, frozenset[int]] = {}
        self.as_destination: dict[int, frozenset[int]] = {}
        self.fleets: dict[frozenset[int], ResolvedFleet] = {}

    def _side(self, cache: dict[int, frozenset[int]], index: int, source: bool) -> frozenset[int]:
        found = cache.get(index)
        if found is None:
            cls = self.parties[index]
            found = frozenset(
                i
                for i, p in enumerate(self.fleet.policies)
                if _could_match(p.source if source else p.destination, cls)
            )
            cache[index] = found
        return found

    def __call__(self, src: int, dst: int, port: PortClass) -> Decision:
        relevant = self._side(self.as_source, src, True) & self._side(
            self.as_destination, dst, False
        )
        fleet = self.fleets.get(relevant)
        if fleet is None:
            policies = tuple(p for i, p in enumerate(self.fleet.policies) if i in relevant)
            fleet = dataclasses.replace(self.fleet, policies=policies)
            self.fleets[relevant] = fleet
        party = self.parties
        return decide(fleet, party[src].party, party[dst].party, port.protocol, port.port)


def _merged(
    parties: list[PartyClass],
    ports: list[PortClass],
    found: dict[tuple[int, int], list[tuple[int, Decision, Decision]]],
) -> Iterable[FlowChange]:
    """One line per pair and outcome: its port classes that change alike, for the same
    reasons, under one port label."""
    for (src, dst), changes in found.items():
        alike: dict[tuple[bool, bool, str, str], list[int]] = {}
        for port, before, after in changes:
            key = (before.allowed, after.allowed, before.reason, after.reason)
            alike.setdefault(key, []).append(port)
        for (was, now, why_before, why_after), indices in alike.items():
            yield FlowChange(
                parties[src].label,
                parties[dst].label,
                port_label(part for i in indices for part in ports[i].parts),
                parties[src].cluster,
                parties[dst].cluster,
                was,
                now,
                why_before,
                why_after,
            )


def diff_flows(
    base: ResolvedFleet | None, head: ResolvedFleet | None, limit: int
) -> tuple[list[FlowChange], bool]:
    """Flows whose verdict differs; and whether the `limit` on decisions cut the search."""
    if base is None or head is None:
        return [], False
    common = {c.name for c in base.clusters} & {c.name for c in head.clusters}
    clusters = sorted(common)
    parties = party_classes((base, head), clusters)
    ports = port_classes((base, head))
    before, after = _Judge(base, parties), _Judge(head, parties)
    found: dict[tuple[int, int], list[tuple[int, Decision, Decision]]] = {}
    asked, truncated = flows_to_ask(base, head, parties, ports, limit)
    for src, dst, port in asked:
        was = before(src, dst, ports[port])
        now = after(src, dst, ports[port])
        if was.allowed != now.allowed:
            found.setdefault((src, dst), []).append((port, was, now))
    return sorted(_merged(parties, ports, found)), truncated


def flows_to_ask(
    base: ResolvedFleet,
    head: ResolvedFleet,
    parties: list[PartyClass],
    ports: list[PortClass],
    limit: int,
) -> tuple[list[tuple[int, int, int]], bool]:
    """The (source, destination, port) class triples a change between `base` and `head` can
    affect, each once and at least one end a pod, at most `limit` of them; and whether the
    limit cut the list."""
    asked: dict[tuple[int, int, int], None] = {}
    for sources, destinations, named in _regions(base, head, parties, ports):
        for src in sources:
            for dst in destinations:
                if not (parties[src].pod or parties[dst].pod):
                    continue
                for port in named:
                    if (src, dst, port) in asked:
                        continue
                    if len(asked) >= limit:
                        return list(asked), True
                    asked[(src, dst, port)] = None
    return list(asked), False
