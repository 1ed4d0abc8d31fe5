"""The fleet guard in a real kernel: seeds applied with bpftool, packets via BPF_PROG_TEST_RUN.

The object is compiled from bpf/, loaded and its maps pinned with bpftool into a bpffs
mounted for this module only. One test applies rendered seed files with `bpftool batch file`
and reads the maps back with `bpftool map dump -j`; the others run crafted Ethernet frames
through the loaded program and compare its verdict, and the per-rule counter it bumps, with
`cluster_verdict` (the model), for hand-picked packets and for random fleets and packets.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compiler.guard import GuardCluster, GuardRule, cluster_verdict, from_fleet, layout, render_seed
from compiler.guard.model import IPAddress, expand_protocol
from compiler.model.types import PortRange
from tests.conftest import FLEETS, missing, require_tool
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
    TC_ACT_SHOT,
    TC_ACT_UNSPEC,
    batch_commands,
    bpf_permitted,
    build,
    ipv4,
    ipv6,
    l4_header,
    map_clear,
    map_update,
    obj_get,
    percpu_sum,
    private_bpffs,
    prog_run,
)

pytestmark = pytest.mark.kernel

PORTED = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP)


@dataclass
class Guard:
    """The loaded program and its pinned maps (fds stay open for the module)."""

    maps_dir: Path
    prog: int
    maps: dict[str, int]

    def apply(self, batch: str) -> None:
        """Reset the seeded maps and apply a seed's entries (the rendered text, parsed)."""
        for spec in (layout.CIDRS, layout.POLICY):
            map_clear(self.maps[spec.name], spec.key.size)
        zero = layout.VERDICT.encode({})
        for index in range(layout.MAX_CLUSTERS):
            map_update(self.maps[layout.DEFAULTS.name], index.to_bytes(4, "little"), zero)
        for name, key, value in batch_commands(batch):
            map_update(self.maps[name], key, value)

    def set_mode(self, mode: str) -> None:
        value = layout.CONFIG.encode({"mode": layout.MODES[mode]})
        map_update(self.maps[layout.CONFIG_MAP.name], bytes(4), value)

    def counter(self, rule_id: int) -> tuple[int, ...]:
        fd = self.maps[layout.COUNTERS.name]
        return percpu_sum(fd, rule_id.to_bytes(4, "little"), layout.COUNTER.size)


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guard]:
    for tool in ("make", "clang", "bpftool", "mount", "umount"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the guard's kernel tests need root (bpf(), mounting a bpffs)")
    reason = bpf_permitted()
    if reason:
        missing(reason)
    obj = build(tmp_path_factory.mktemp("guard_build"))
    with private_bpffs() as fs:
        maps_dir = fs / "maps"
        subprocess.run(
            [
                "bpftool",
                "prog",
                "load",
                str(obj),
                str(fs / "prog"),
                "type",
                "classifier",
                "pinmaps",
                str(maps_dir),
            ],
            check=True,
            capture_output=True,
        )
        fds = {spec.name: obj_get(maps_dir / spec.name) for spec in layout.MAPS}
        prog = obj_get(fs / "prog")
        try:
            yield Guard(maps_dir, prog, fds)
        finally:
            for fd in (prog, *fds.values()):
                os.close(fd)


def _contoso() -> tuple[tuple[GuardCluster, ...], tuple[GuardRule, ...]]:
    from compiler.diagnostics import Diagnostics
    from compiler.load import load
    from compiler.model import parse

    path = FLEETS / "contoso" / "fleet.yaml"
    fleet = parse(load(path.read_bytes(), "fleet.yaml"), Diagnostics())
    assert fleet is not None
    return from_fleet(fleet)


PORTED_FLEET = (
    (
        GuardCluster("a", 1, ("10.1.0.0/16", "fd00:1::/48"), ("172.16.1.0/24",)),
        GuardCluster("b", 2, ("10.2.7.9/16",), ("fd00:ff:2::/64",)),  # host bits: normalised
        GuardCluster("c", 511, ("10.3.0.0/16", "fd00:3::/48")),
    ),
    (
        GuardRule(1, "a-to-b-ranges", (1,), (2,), (PortRange("TCP", 8000, 8100),)),
        GuardRule(2, "c-to-all-dns", (511,), (1, 2, 511), (PortRange("ANY", 53, 53),)),
        GuardRule(3, "b-to-a", (2,), (1,), None),
    ),
)


def _dump(guard: Guard, name: str) -> set[tuple[bytes, bytes]]:
    out = subprocess.run(
        ["bpftool", "map", "dump", "pinned", str(guard.maps_dir / name), "-j"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = json.loads(out)
    return {
        (bytes(int(b, 16) for b in row["key"]), bytes(int(b, 16) for b in row["value"]))
        for row in rows
    }


@pytest.mark.parametrize("fleet", ["contoso", "ported"])
def test_guard_bpftool_batch_applies_exactly_the_seed(
    guard: Guard, tmp_path: Path, fleet: str
) -> None:
    clusters, rules = _contoso() if fleet == "contoso" else PORTED_FLEET
    guard.apply("")  # empty maps, zeroed arrays
    for cluster in clusters:
        batch, twin = render_seed(
            clusters, rules, cluster, "enforce", "fleet.yaml", str(guard.maps_dir)
        )
        seed = tmp_path / f"{cluster.name}.batch"
        seed.write_text(batch)
        for spec in (layout.CIDRS, layout.POLICY):
            map_clear(guard.maps[spec.name], spec.key.size)
        subprocess.run(["bpftool", "batch", "file", str(seed)], check=True, capture_output=True)
        expected: dict[str, set[tuple[bytes, bytes]]] = {}
        for name, key, value in batch_commands(batch):
            expected.setdefault(name, set()).add((key, value))
        for spec in (layout.CIDRS, layout.POLICY):
            assert _dump(guard, spec.name) == expected.get(spec.name, set()), spec.name
        for spec in (layout.DEFAULTS, layout.CONFIG_MAP):
            seeded = expected[spec.name]
            dumped = _dump(guard, spec.name)
            assert seeded <= dumped
            assert {value for key, value in dumped - seeded} <= {bytes(spec.value.size)}
        # The JSON twin lists the same bytes.
        document = json.loads(twin)
        listed = {
            (name, bytes.fromhex(e["keyHex"]), bytes.fromhex(e["valueHex"]))
            for name, m in document["maps"].items()
            for e in m["entries"]
        }
        assert listed == {(n, k, v) for n, k, v in batch_commands(batch)}


def _frame(src: IPAddress, dst: IPAddress, proto: int, dport: int) -> bytes:
    if src.version == 4:
        return ipv4(src.packed, dst.packed, proto, l4_header(proto, dport))
    return ipv6(src.packed, dst.packed, proto, l4_header(proto, dport))


def _check(
    guard: Guard,
    clusters: Sequence[GuardCluster],
    rules: Sequence[GuardRule],
    local: int | None,
    mode: str,
    frame: bytes,
    addresses: tuple[IPAddress, IPAddress],
    effective: tuple[int, int],
) -> bool:
    """Run `frame`, assert verdict and counters equal the model's; whether it was a drop."""
    verdict = cluster_verdict(clusters, rules, *addresses, *effective, local=local)
    watched = sorted({0, *(rule.id for rule in rules)})
    before = {rule_id: guard.counter(rule_id) for rule_id in watched}
    retval, _ = prog_run(guard.prog, frame)
    after = {rule_id: guard.counter(rule_id) for rule_id in watched}
    expected_retval = TC_ACT_SHOT if verdict.drop and mode == "enforce" else TC_ACT_UNSPEC
    assert retval == expected_retval, (verdict, addresses, effective, mode)
    for rule_id in watched:
        bumped = (1, len(frame)) if rule_id == verdict.rule_id else (0, 0)
        delta = tuple(a - b for a, b in zip(after[rule_id], before[rule_id], strict=True))
        assert delta == bumped, (rule_id, verdict, addresses, effective)
    return verdict.drop


def test_guard_contoso_dev_to_prod(guard: Guard) -> None:
    clusters, rules = _contoso()
    by_name = {c.name: c for c in clusters}
    local = by_name["eu-payments"]
    batch, _ = render_seed(clusters, rules, local, "enforce", "fleet.yaml", str(guard.maps_dir))
    guard.apply(batch)
    ip = ipaddress.ip_address
    cases = [
        # (src, dst, proto, dport, dropped in enforce mode)
        ("10.10.0.5", "10.1.3.4", IPPROTO_TCP, 443, True),  # dev pod -> eu-payments pod
        ("10.10.0.5", "10.1.3.4", IPPROTO_ICMP, 0, True),  # a deny without ports: ICMP too
        ("10.1.3.4", "10.10.0.5", IPPROTO_TCP, 443, False),  # prod -> dev is not denied
        ("172.16.10.7", "10.1.3.4", IPPROTO_TCP, 443, False),  # dev node: not a workload
        ("10.10.0.5", "172.16.1.9", IPPROTO_UDP, 8472, False),  # to a prod node
        ("192.168.0.1", "10.1.3.4", IPPROTO_TCP, 443, False),  # not fleet traffic
        ("10.3.0.5", "10.1.3.4", IPPROTO_TCP, 443, False),  # us-api -> eu-payments
    ]
    for mode in ("audit", "enforce"):
        guard.set_mode(mode)
        for src, dst, proto, dport, dropped in cases:
            addresses = (ip(src), ip(dst))
            frame = _frame(*addresses, proto, dport)
            drop = _check(guard, clusters, rules, local.id, mode, frame, addresses, (proto, dport))
            assert drop == dropped, (src, dst, proto, dport)


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
            drop = _check(guard, clusters, rules, local, mode, frame, addresses, effective)
            CASES["packets"] += 1
            CASES["drops"] += drop and mode == "enforce"


def test_guard_kernel_cases_reported() -> None:
    # Runs after the property test (file order): proves it ran, and says how much it covered.
    if CASES["fleets"] == 0:
        pytest.skip("the differential test did not run")
    print(f"\nguard differential: {CASES}")
    assert CASES["packets"] >= 20 * CASES["fleets"]


def test_guard_parses_every_header_shape(guard: Guard) -> None:
    """Directed packets for each parsing path, on PORTED_FLEET seeded for cluster a."""
    clusters, rules = PORTED_FLEET
    batch, _ = render_seed(
        clusters, rules, clusters[0], "enforce", "fleet.yaml", str(guard.maps_dir)
    )
    guard.apply(batch)
    guard.set_mode("enforce")
    ip = ipaddress.ip_address
    v4 = (ip("10.3.0.9"), ip("10.1.0.9"))  # c -> a: rule 2 denies 53 on TCP, UDP and SCTP
    v6 = (ip("fd00:3::9"), ip("fd00:1::9"))
    udp53 = l4_header(IPPROTO_UDP, 53)
    cases: list[tuple[bytes, tuple[IPAddress, IPAddress], tuple[int, int], bool]] = [
        (ipv4(v4[0].packed, v4[1].packed, IPPROTO_UDP, udp53), v4, (IPPROTO_UDP, 53), True),
        (
            ipv4(v4[0].packed, v4[1].packed, IPPROTO_UDP, udp53, options=bytes(12)),
            v4,
            (IPPROTO_UDP, 53),
            True,
        ),
        (ipv4(v4[0].packed, v4[1].packed, IPPROTO_UDP, udp53, frag=8), v4, (IPPROTO_UDP, 0), False),
        (ipv4(v4[0].packed, v4[1].packed, IPPROTO_UDP, udp53[:3]), v4, (IPPROTO_UDP, 0), False),
        (
            ipv6(v6[0].packed, v6[1].packed, IPPROTO_SCTP, l4_header(IPPROTO_SCTP, 53)),
            v6,
            (IPPROTO_SCTP, 53),
            True,
        ),
    ]
    four = ((HOPOPTS, 1), (ROUTING, 0), (FRAGMENT, 0), (DSTOPTS, 2))
    cases.append(
        (ipv6(*(a.packed for a in v6), IPPROTO_UDP, udp53, four), v6, (IPPROTO_UDP, 53), True)
    )
    later = ((HOPOPTS, 0), (FRAGMENT, 3))
    cases.append(
        (ipv6(*(a.packed for a in v6), IPPROTO_UDP, udp53, later), v6, (IPPROTO_UDP, 0), False)
    )
    five = (*four, (DSTOPTS, 0))
    cases.append((ipv6(*(a.packed for a in v6), IPPROTO_UDP, udp53, five), v6, (DSTOPTS, 0), False))
    for frame, addresses, effective, dropped in cases:
        assert _check(guard, clusters, rules, 1, "enforce", frame, addresses, effective) == dropped
