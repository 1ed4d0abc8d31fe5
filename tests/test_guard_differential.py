"""Differential test of the fleet guard: the kernel against the model, on random input.

Random fleets (1-5 clusters with v4/v6 pod ranges, host bits left in, node ranges, ranges
claimed twice or nested) and random cluster-level denies (cluster sets, port ranges around
a few ports, ANY, no ports) are rendered to a seed for one cluster and applied; random
packets (v4 and v6; TCP with SYN, ACK or SYN-ACK, UDP, SCTP, ICMP echo/reply/error, GRE;
IPv4 options, later fragments, truncated headers, IPv6 extension header chains), some
followed by their replies, run through the loaded program with BPF_PROG_TEST_RUN in audit
and then enforce mode. Verdict and per-rule counters must equal `cluster_verdict`, with the
flows the guard let through tracked alongside (`check_packet`). The counts are printed."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compiler.guard import GuardCluster, GuardRule
from compiler.guard.model import IPAddress, expand_protocol
from compiler.model.types import PortRange
from tests.guard_loaded import Flow, Guard, Probe, check_packet, loaded_guard
from tests.guard_support import (
    DSTOPTS,
    FRAGMENT,
    HOPOPTS,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_SCTP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    ROUTING,
    TCP_ACK,
    TCP_SYN,
    node_batches,
)

pytestmark = pytest.mark.kernel

PORTED = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP)
OTHER = 47  # GRE: a protocol without ports


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guard]:
    with loaded_guard(tmp_path_factory.mktemp("guard_build")) as loaded:
        yield loaded


# Random fleets and packets. Clusters get v4 and v6 pod ranges (host bits left in, to be
# normalised), sometimes node ranges, sometimes a range two clusters claim or a cluster's pod
# range nested in another's; rules get random cluster sets and port ranges around a few
# ports that the packets then probe on and around every boundary.
INTERESTING = (1, 53, 80, 443, 8000, 8100, 32768, 65535)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[tuple[GuardCluster, ...], tuple[GuardRule, ...]]:
    count = draw(st.integers(1, 5))
    ids = draw(st.lists(st.integers(1, 511), min_size=count, max_size=count, unique=True))
    clusters = []
    for index, cluster_id in enumerate(ids):
        pods = []
        if draw(st.booleans()) or index == 0:
            length = draw(st.integers(16, 28))
            host = draw(st.integers(0, 255))
            pods.append(f"10.{index}.{host}.{draw(st.integers(0, 255))}/{length}")
        if draw(st.booleans()) or not pods:
            length = draw(st.integers(48, 120))
            pods.append(f"fd00:{index}::{draw(st.integers(0, 0xFFFF)):x}/{length}")
        nodes = []
        if draw(st.booleans()):
            nodes.append(f"172.16.{index}.0/24")
        if draw(st.integers(0, 5)) == 0:
            nodes.append("172.31.0.0/16")  # claimed by every cluster that draws it
        if draw(st.integers(0, 5)) == 0 and index > 0:
            pods.append("10.0.200.0/24")  # nested inside cluster 0's range when it is a /16
        clusters.append(GuardCluster(f"c{index}", cluster_id, tuple(pods), tuple(nodes)))
    rules = []
    for rule_id in range(1, draw(st.integers(0, 4)) + 1):
        src = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
        dst = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
        ports: tuple[PortRange, ...] | None = None
        if draw(st.integers(0, 3)) > 0:
            ranges = []
            for _ in range(draw(st.integers(1, 3))):
                low = draw(st.sampled_from(INTERESTING) | st.integers(1, 65535))
                high = min(65535, low + draw(st.sampled_from((0, 1, 100, 3000))))
                protocol = draw(st.sampled_from(("TCP", "UDP", "SCTP", "ANY")))
                ranges.append(PortRange(protocol, low, high))
            ports = tuple(sorted(set(ranges)))
        rules.append(GuardRule(rule_id, f"r{rule_id}", tuple(src), tuple(dst), ports))
    return tuple(clusters), tuple(rules)


def _address(
    draw: st.DrawFn,
    clusters: Sequence[GuardCluster],
    version: int,
    among: Sequence[int] | None = None,
) -> IPAddress:
    # Mostly pod addresses (where rules apply), some node and outside addresses.
    kind = draw(st.sampled_from(("pod", "pod", "pod", "pod", "node", "outside")))
    networks = [
        ipaddress.ip_network(cidr, strict=False)
        for cluster in clusters
        if among is None or cluster.id in among
        for cidr in (cluster.pod_cidrs if kind == "pod" else cluster.node_cidrs)
    ]
    networks = [n for n in networks if n.version == version]
    if networks and kind != "outside":
        network = draw(st.sampled_from(networks))
        offset = draw(st.integers(0, network.num_addresses - 1))
        return network.network_address + offset
    outside = "192.168.0.0/16" if version == 4 else "2001:db8::/32"
    network = ipaddress.ip_network(outside)
    return network.network_address + draw(st.integers(0, network.num_addresses - 1))


@st.composite
def probes(draw: st.DrawFn, clusters: Sequence[GuardCluster], rules: Sequence[GuardRule]) -> Probe:
    """A packet aimed, half the time, at a rule's clusters, protocols and port edges."""
    version = draw(st.sampled_from((4, 6)))
    icmp = IPPROTO_ICMP if version == 4 else IPPROTO_ICMPV6
    edges = [
        p for r in rules for pr in r.ports or () for p in (pr.low - 1, pr.low, pr.high, pr.high + 1)
    ]
    ports = [p for p in (*edges, *INTERESTING) if 0 <= p <= 65535]
    protocols: Sequence[int] = (*PORTED, icmp, icmp, OTHER)
    among: tuple[Sequence[int] | None, Sequence[int] | None] = (None, None)
    if rules and draw(st.booleans()):
        rule = draw(st.sampled_from(rules))
        among = (rule.src, rule.dst)
        if rule.ports:
            target = draw(st.sampled_from(rule.ports))
            protocols = expand_protocol(target.protocol)
            edge = (target.low - 1, target.low, (target.low + target.high) // 2, target.high)
            ports = [p for p in (*edge, target.high + 1) if 0 <= p <= 65535]
    probe = Probe(
        src=_address(draw, clusters, version, among[0]),
        dst=_address(draw, clusters, version, among[1]),
        proto=draw(st.sampled_from(protocols)),
        dport=draw(st.sampled_from(ports)),
        sport=draw(st.sampled_from((40000, 53, 443, 8000))),  # few, so flows meet again
        tcp_flags=draw(st.sampled_from((TCP_SYN, TCP_SYN, TCP_SYN, TCP_ACK, TCP_SYN | TCP_ACK))),
        icmp_type=draw(st.sampled_from((None, None, None, 0, 3, 129))),
        truncate=draw(st.integers(0, 9)) == 0,
    )
    shape = draw(st.integers(0, 5))
    if shape == 1:
        return replace(probe, later_fragment=True)
    if version == 4:
        return replace(probe, options=4 * draw(st.integers(0, 10))) if shape == 2 else probe
    if shape > 2:
        kinds = draw(st.lists(st.sampled_from((HOPOPTS, ROUTING, DSTOPTS, FRAGMENT)), max_size=5))
        return replace(probe, ext=tuple((kind, draw(st.integers(0, 2))) for kind in kinds))
    return probe


# CI runs a bounded number; set FLEETC_GUARD_EXAMPLES for longer runs (e.g. 2000).
EXAMPLES = int(os.environ.get("FLEETC_GUARD_EXAMPLES", "60"))
CASES = {"fleets": 0, "packets": 0, "judged": 0, "drops": 0, "remembered": 0}


# No shrinking: against the kernel it takes minutes, and the assertion already prints the
# packet, the addresses and the model's verdict.
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_guard_kernel_matches_model(guard: Guard, data: st.DataObject) -> None:
    clusters, rules = data.draw(fleets())
    named = sorted({i for rule in rules for i in (*rule.src, *rule.dst)})
    local = data.draw(st.sampled_from(named or [c.id for c in clusters]))
    cluster = next(c for c in clusters if c.id == local)
    guard.apply(*node_batches(clusters, rules, cluster, "audit", str(guard.maps_dir)))
    sequence, later = [], []
    for probe in data.draw(st.lists(probes(clusters, rules), min_size=15, max_size=30)):
        sequence.append(probe)
        answer = data.draw(st.integers(0, 3))  # its reply: right after, at the end, or none
        if answer == 0:
            sequence.append(probe.reply())
        elif answer == 1:
            later.append(probe.reply())
    sequence.extend(later)
    CASES["fleets"] += 1
    flows: set[Flow] = set()  # the guard's memory of flows it let through, in both modes
    for mode in ("audit", "enforce"):
        guard.set_mode(mode)
        for probe in sequence:
            drop = check_packet(guard, clusters, rules, local, mode, probe, flows)
            CASES["packets"] += 1
            CASES["drops"] += drop and mode == "enforce"
            CASES["judged"] += probe.judged
    assert guard.flows() == flows  # the guard remembers exactly the flows the model does
    CASES["remembered"] += len(flows)


def test_guard_kernel_cases_reported() -> None:
    # Runs after the property test (file order): proves it ran, and says how much it covered.
    if CASES["fleets"] == 0:
        pytest.skip("the differential test did not run")
    print(f"\nguard differential: {CASES}")
    assert CASES["packets"] >= 30 * CASES["fleets"]
