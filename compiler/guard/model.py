"""What the fleet guard decides, at cluster level: its inputs and the reference verdict.

`GuardCluster` and `GuardRule` are the guard's whole view of a fleet: which addresses belong
to which cluster, and which cluster-level denies exist. `cluster_verdict` is the model the
kernel program is tested against, written from the rules' meaning (no map encoding): a packet
that opens a flow between two pods of fleet clusters is dropped exactly when some
cluster-level deny names both clusters and covers its protocol and port. `port_blocks` is the one piece of encoding logic
shared with the seeds, because it decides which rule a packet is counted under.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from compiler.guard.layout import (
    KIND_NODE,
    KIND_NONE,
    KIND_POD,
    POLICY_FULL_BITS,
    POLICY_PAIR_BITS,
    RULE_DEFAULT,
)
from compiler.plain import PortRange

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PROTOCOLS = {"TCP": 6, "UDP": 17, "SCTP": 132}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}


@dataclass(frozen=True)
class GuardCluster:
    """A fleet cluster as the guard sees it: an id and the addresses of its pods and nodes."""

    name: str
    id: int
    pod_cidrs: tuple[str, ...]
    node_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuardRule:
    """A cluster-level deny: every pod of `src` clusters to every pod of `dst` clusters.

    `ports` None means every packet (any protocol, ICMP included); otherwise only the listed
    port ranges, where protocol ANY stands for TCP, UDP and SCTP. `id` is what the per-rule
    counters are keyed by.
    """

    id: int
    name: str
    src: tuple[int, ...]
    dst: tuple[int, ...]
    ports: tuple[PortRange, ...] | None = None


@dataclass(frozen=True, order=True)
class AddressEntry:
    """One row of the address table: a normalised CIDR and what it belongs to."""

    network: IPNetwork
    cluster_id: int
    kind: int
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    """The guard's decision for one packet.

    `fleet` is False when either end is not a pod of a fleet cluster: the guard passes it
    untouched and counts nothing. Otherwise the packet is counted under `rule_id` (0 for the
    destination cluster's default) and `drop` says whether a cluster-level deny forbids it.
    """

    fleet: bool
    drop: bool
    rule_id: int | None = None
    src_cluster: int | None = None
    dst_cluster: int | None = None


def address_table(clusters: Sequence[GuardCluster]) -> tuple[AddressEntry, ...]:
    """Every cluster's pod and node CIDRs, host bits masked, sorted.

    The same prefix claimed twice resolves towards passing: pod and node in one cluster is
    a node range (its addresses may be hosts), and two clusters make it ambiguous (id 0).
    """
    claims: dict[IPNetwork, list[tuple[int, int, str]]] = {}
    for cluster in clusters:
        for kind, cidrs in ((KIND_POD, cluster.pod_cidrs), (KIND_NODE, cluster.node_cidrs)):
            for cidr in cidrs:
                network = ipaddress.ip_network(cidr, strict=False)
                label = f"{cluster.name} {'podCIDR' if kind == KIND_POD else 'nodeCIDR'} {cidr}"
                claims.setdefault(network, []).append((cluster.id, kind, label))
    entries = []
    for network, owners in claims.items():
        ids = sorted({owner[0] for owner in owners})
        if len(ids) > 1:
            cluster_id, kind = 0, KIND_NONE
        else:
            cluster_id = ids[0]
            kind = KIND_NODE if any(owner[1] == KIND_NODE for owner in owners) else KIND_POD
        entries.append(AddressEntry(network, cluster_id, kind, tuple(sorted(o[2] for o in owners))))
    return tuple(sorted(entries, key=_network_order))


def _network_order(entry: AddressEntry) -> tuple[int, int, int]:
    network = entry.network
    return network.version, int(network.network_address), network.prefixlen


def lookup_address(table: Sequence[AddressEntry], address: IPAddress) -> AddressEntry | None:
    """Longest-prefix match, as the kernel's LPM trie does it."""
    best: AddressEntry | None = None
    for entry in table:
        if (
            address.version == entry.network.version
            and address in entry.network
            and (best is None or entry.network.prefixlen > best.network.prefixlen)
        ):
            best = entry
    return best


def port_blocks(low: int, high: int) -> tuple[tuple[int, int], ...]:
    """The fewest aligned power-of-two blocks covering ``low..high`` exactly.

    Each block is ``(first port, bits)``: ``2**bits`` ports starting at an address aligned
    to that size, which is one LPM prefix of ``64 - bits`` in guard_policy.
    """
    blocks = []
    port = low
    while port <= high:
        bits = 0
        while bits < 16 and port % (1 << (bits + 1)) == 0 and port + (1 << (bits + 1)) - 1 <= high:
            bits += 1
        blocks.append((port, bits))
        port += 1 << bits
    return tuple(blocks)


def expand_protocol(protocol: str) -> tuple[int, ...]:
    """IP protocol numbers a port spec's protocol stands for (ANY = TCP, UDP and SCTP)."""
    if protocol == "ANY":
        return tuple(sorted(PROTOCOLS.values()))
    return (PROTOCOLS[protocol],)


def rule_specificity(rule: GuardRule, proto: int, dport: int) -> int | None:
    """The prefix length of `rule`'s longest policy-map entry covering (proto, dport).

    None when the rule does not cover the packet. A rule without ports is one entry of the
    source/destination pair; otherwise the port block holding `dport`. This is what makes a
    kernel counter name the most specific matching rule.
    """
    if rule.ports is None:
        return POLICY_PAIR_BITS
    best: int | None = None
    for ports in rule.ports:
        if proto not in expand_protocol(ports.protocol) or not ports.low <= dport <= ports.high:
            continue
        length = next(
            POLICY_FULL_BITS - bits
            for first, bits in port_blocks(ports.low, ports.high)
            if first <= dport < first + (1 << bits)
        )
        best = length if best is None else max(best, length)
    return best


def cluster_verdict(
    clusters: Sequence[GuardCluster],
    rules: Sequence[GuardRule],
    src: IPAddress,
    dst: IPAddress,
    proto: int,
    dport: int,
    local: int | None = None,
    judged: bool = True,
) -> Verdict:
    """The verdict the guard must reach for a packet (`dport` 0 when it has no port).

    `local` is the cluster whose nodes run the seed (None: a fleet-wide seed); a node only
    holds the denies of flows from or to its own cluster, so other flows pass there (they are
    enforced at their own ends). `judged` False: the packet does not open a flow (a TCP
    segment other than a bare SYN, a later fragment, an ICMP error or reply, a reply the
    guard recognises), so it passes, counted under the default, whatever the rules say:
    denies forbid opening flows, as Cilium's (stateful) policies do.
    """
    table = address_table(clusters)
    src_entry, dst_entry = lookup_address(table, src), lookup_address(table, dst)
    if src_entry is None or dst_entry is None:
        return Verdict(fleet=False, drop=False)
    if src_entry.kind != KIND_POD or dst_entry.kind != KIND_POD:
        return Verdict(fleet=False, drop=False)
    pair = (src_entry.cluster_id, dst_entry.cluster_id)
    best: tuple[int, int] | None = None  # (-specificity, rule id): most specific, then first
    if judged and (local is None or local in pair):
        for rule in rules:
            if pair[0] not in rule.src or pair[1] not in rule.dst:
                continue
            length = rule_specificity(rule, proto, dport)
            if length is not None and (best is None or (-length, rule.id) < best):
                best = (-length, rule.id)
    if best is None:
        return Verdict(True, False, RULE_DEFAULT, *pair)
    return Verdict(True, True, best[1], *pair)
