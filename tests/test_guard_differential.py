"""Differential test of the fleet guard: the kernel against the model, on random input.

Random fleets (1-5 clusters with v4/v6 pod ranges, host bits left in, node ranges, ranges
claimed twice or nested) and random cluster-level denies (cluster sets, port ranges around
a few ports, ANY, no ports) are rendered to a seed for one cluster and applied; random
packets (v4 and v6; TCP, UDP, SCTP, ICMP; IPv4 options and later fragments; IPv6 extension
header chains) run through the loaded program with BPF_PROG_TEST_RUN in audit and enforce
mode. Verdict and per-rule counters must equal `cluster_verdict`. The counts are printed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compiler.guard import GuardCluster, GuardRule, render_seed
from compiler.guard.model import IPAddress, expand_protocol
from compiler.model.types import PortRange
from tests.guard_loaded import Guard, check_packet, loaded_guard
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
    ipv4,
    ipv6,
    l4_header,
)

pytestmark = pytest.mark.kernel

PORTED = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP)


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
def packets(
    draw: st.DrawFn, clusters: Sequence[GuardCluster], rules: Sequence[GuardRule]
) -> tuple[bytes, tuple[IPAddress, IPAddress], tuple[int, int]]:
    """A frame, its addresses, and the (protocol, port) the guard should look up for it."""
    version = draw(st.sampled_from((4, 6)))
    icmp = IPPROTO_ICMP if version == 4 else IPPROTO_ICMPV6
    edges = [
        p for r in rules for pr in r.ports or () for p in (pr.low - 1, pr.low, pr.high, pr.high + 1)
    ]
    ports = [p for p in (*edges, *INTERESTING) if 0 <= p <= 65535]
    protocols: Sequence[int] = (*PORTED, icmp)
    among: tuple[Sequence[int] | None, Sequence[int] | None] = (None, None)
    if rules and draw(st.booleans()):  # aim at a rule: its clusters, protocols, port edges
        rule = draw(st.sampled_from(rules))
        among = (rule.src, rule.dst)
        if rule.ports:
            target = draw(st.sampled_from(rule.ports))
            protocols = expand_protocol(target.protocol)
            edge = (target.low - 1, target.low, (target.low + target.high) // 2, target.high)
            ports = [p for p in (*edge, target.high + 1) if 0 <= p <= 65535]
    src = _address(draw, clusters, version, among[0])
    dst = _address(draw, clusters, version, among[1])
    proto = draw(st.sampled_from(protocols))
    dport = draw(st.sampled_from(ports))
    payload = l4_header(proto, dport)
    effective = (proto, dport if proto in PORTED else 0)
    shape = draw(st.integers(0, 5))
    if version == 4:
        if shape == 1:
            return (
                ipv4(src.packed, dst.packed, proto, payload, options=bytes(8)),
                (src, dst),
                effective,
            )
        if shape == 2:  # a later fragment: no port to see
            return ipv4(src.packed, dst.packed, proto, payload, frag=185), (src, dst), (proto, 0)
        return ipv4(src.packed, dst.packed, proto, payload), (src, dst), effective
    if shape == 0:
        return ipv6(src.packed, dst.packed, proto, payload), (src, dst), effective
    kinds = draw(
        st.lists(st.sampled_from((HOPOPTS, ROUTING, DSTOPTS, FRAGMENT)), min_size=1, max_size=5)
    )
    later = False
    ext = []
    for kind in kinds:
        arg = draw(st.integers(0, 2))
        later |= kind == FRAGMENT and arg > 0
        ext.append((kind, arg))
    frame = ipv6(src.packed, dst.packed, proto, payload, tuple(ext))
    if len(kinds) > 4:  # more than the program walks: the fifth header is the "protocol"
        return frame, (src, dst), (kinds[4], 0)
    return frame, (src, dst), (proto, 0 if later else effective[1])


CASES = {"fleets": 0, "packets": 0, "drops": 0}


# No shrinking: against the kernel it takes minutes, and the assertion already prints the
# packet, the addresses and the model's verdict.
@settings(
    max_examples=60,
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
    batch, _ = render_seed(clusters, rules, cluster, "audit", "fleet.yaml", str(guard.maps_dir))
    guard.apply(batch)
    drawn = data.draw(st.lists(packets(clusters, rules), min_size=20, max_size=40))
    CASES["fleets"] += 1
    for mode in ("audit", "enforce"):
        guard.set_mode(mode)
        for frame, addresses, effective in drawn:
            drop = check_packet(guard, clusters, rules, local, mode, frame, addresses, effective)
            CASES["packets"] += 1
            CASES["drops"] += drop and mode == "enforce"


def test_guard_kernel_cases_reported() -> None:
    # Runs after the property test (file order): proves it ran, and says how much it covered.
    if CASES["fleets"] == 0:
        pytest.skip("the differential test did not run")
    print(f"\nguard differential: {CASES}")
    assert CASES["packets"] >= 20 * CASES["fleets"]
