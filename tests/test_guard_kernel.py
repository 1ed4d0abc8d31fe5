"""The fleet guard in a real kernel: seeds applied with bpftool, packets via BPF_PROG_TEST_RUN.

The object is compiled from bpf/, loaded and its maps pinned with bpftool into a bpffs
mounted for this module only. One test applies rendered seed files with `bpftool batch file`
and reads the maps back with `bpftool map dump -j`; the others run crafted Ethernet frames
through the loaded program and compare its verdict, and the per-rule counter it bumps, with
`cluster_verdict` (the model), for hand-picked packets and every header shape the program
parses. Random fleets and packets are in test_guard_differential.py.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from compiler.guard import (
    GuardCluster,
    GuardRule,
    from_fleet,
    layout,
    render_fleet_seed,
    render_seed,
)
from compiler.model.types import PortRange
from tests.conftest import FLEETS
from tests.guard_loaded import Flow, Guard, Probe, check_packet, loaded_guard
from tests.guard_support import (
    DSTOPTS,
    FRAGMENT,
    HOPOPTS,
    IPPROTO_ICMP,
    IPPROTO_SCTP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    ROUTING,
    TCP_ACK,
    TCP_SYN,
    batch_commands,
    map_clear,
    node_batches,
)

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guard]:
    with loaded_guard(tmp_path_factory.mktemp("guard_build")) as loaded:
        yield loaded


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
    """Both seed files of each cluster, applied with bpftool as the loader does (fleet-wide
    first), leave exactly their union in the maps; each JSON twin lists its batch's bytes."""
    clusters, rules = _contoso() if fleet == "contoso" else PORTED_FLEET
    pin_dir = str(guard.maps_dir)
    fleet_batch, fleet_twin = render_fleet_seed(clusters, "enforce", "fleet.yaml", pin_dir)
    fleet_seed = tmp_path / "fleet.batch"
    fleet_seed.write_text(fleet_batch)
    assert _listed(fleet_twin) == set(batch_commands(fleet_batch))
    guard.apply()  # empty maps, zeroed arrays
    for cluster in clusters:
        batch, twin = render_seed(clusters, rules, cluster, "enforce", "fleet.yaml", pin_dir)
        seed = tmp_path / f"{cluster.name}.batch"
        seed.write_text(batch)
        for spec in (layout.CIDRS, layout.PAIRS, layout.POLICY):
            map_clear(guard.maps[spec.name], spec.key.size)
        for path in (fleet_seed, seed):
            subprocess.run(["bpftool", "batch", "file", str(path)], check=True, capture_output=True)
        expected: dict[str, set[tuple[bytes, bytes]]] = {}
        for name, key, value in batch_commands(fleet_batch) + batch_commands(batch):
            expected.setdefault(name, set()).add((key, value))
        for spec in (layout.CIDRS, layout.PAIRS, layout.POLICY):
            assert _dump(guard, spec.name) == expected.get(spec.name, set()), spec.name
        for spec in (layout.DEFAULTS, layout.CONFIG_MAP):
            seeded = expected[spec.name]
            dumped = _dump(guard, spec.name)
            assert seeded <= dumped
            assert {value for key, value in dumped - seeded} <= {bytes(spec.value.size)}
        assert _listed(twin) == set(batch_commands(batch))


def _listed(twin: str) -> set[tuple[str, bytes, bytes]]:
    """(map, key, value) of every entry a JSON twin lists."""
    document = json.loads(twin)
    return {
        (name, bytes.fromhex(e["keyHex"]), bytes.fromhex(e["valueHex"]))
        for name, m in document["maps"].items()
        for e in m["entries"]
    }


def test_guard_contoso_dev_to_prod(guard: Guard) -> None:
    clusters, rules = _contoso()
    local = next(c for c in clusters if c.name == "eu-payments")
    batches = node_batches(clusters, rules, local, "enforce", str(guard.maps_dir))
    ip = ipaddress.ip_address
    dev, prod, api = ip("10.10.0.5"), ip("10.1.3.4"), ip("10.3.0.5")
    dns_query = Probe(prod, dev, IPPROTO_UDP, 53, sport=33000)
    cases = [  # (packet, dropped in enforce mode)
        (Probe(dev, prod, IPPROTO_TCP, 443), True),  # dev pod -> eu-payments pod: SYN
        (Probe(dev, prod, IPPROTO_TCP, 443, tcp_flags=TCP_ACK), False),  # not an opening
        (Probe(dev, prod, IPPROTO_ICMP), True),  # a deny without ports: ping too
        (Probe(dev, prod, IPPROTO_ICMP, icmp_type=3), False),  # an ICMP error: related
        (Probe(prod, dev, IPPROTO_TCP, 443), False),  # prod -> dev is not denied
        (Probe(prod, dev, IPPROTO_TCP, 443).reply(), False),  # and dev's SYN-ACK passes
        (dns_query, False),  # prod asks dev over UDP: allowed, remembered ...
        (dns_query.reply(), False),  # ... so dev's answer is a reply, not a new flow
        (Probe(dev, prod, IPPROTO_UDP, 33000, sport=54), True),  # same ports, not a reply
        (Probe(ip("172.16.10.7"), prod, IPPROTO_TCP, 443), False),  # dev node: no workload
        (Probe(dev, ip("172.16.1.9"), IPPROTO_UDP, 8472), False),  # to a prod node
        (Probe(ip("192.168.0.1"), prod, IPPROTO_TCP, 443), False),  # not fleet traffic
        (Probe(api, prod, IPPROTO_TCP, 443), False),  # us-api -> eu-payments
    ]
    for mode in ("audit", "enforce"):
        guard.apply(*batches)
        guard.set_mode(mode)
        flows: set[Flow] = set()
        for probe, dropped in cases:
            drop = check_packet(guard, clusters, rules, local.id, mode, probe, flows)
            assert drop == dropped, probe


def test_guard_parses_every_header_shape(guard: Guard) -> None:
    """Directed packets for each parsing path, on PORTED_FLEET seeded for cluster a."""
    clusters, rules = PORTED_FLEET
    guard.apply(*node_batches(clusters, rules, clusters[0], "enforce", str(guard.maps_dir)))
    guard.set_mode("enforce")
    ip = ipaddress.ip_address
    # c -> a: rule 2 denies port 53 on TCP, UDP and SCTP
    v4 = Probe(ip("10.3.0.9"), ip("10.1.0.9"), IPPROTO_UDP, 53)
    v6 = Probe(ip("fd00:3::9"), ip("fd00:1::9"), IPPROTO_UDP, 53, sport=41000)
    four = ((HOPOPTS, 1), (ROUTING, 0), (FRAGMENT, 0), (DSTOPTS, 2))
    cases = [
        (v4, True),
        (replace(v4, options=12), True),  # IPv4 options: the port is found after them
        (replace(v4, later_fragment=True), False),  # no L4 header: not judged
        (replace(v4, truncate=True), False),
        (replace(v6, proto=IPPROTO_SCTP), True),
        (replace(v6, ext=four), True),  # four extension headers are walked
        (replace(v6, ext=four[:1], later_fragment=True), False),
        (replace(v6, ext=(*four, (DSTOPTS, 0))), False),  # a fifth is not: not judged
        (replace(v6, proto=IPPROTO_TCP, tcp_flags=TCP_SYN | TCP_ACK), False),
        (replace(v6, proto=47), False),  # GRE: no port, and rule 2 names ports
    ]
    flows: set[Flow] = set()
    for probe, dropped in cases:
        assert check_packet(guard, clusters, rules, 1, "enforce", probe, flows) == dropped, probe
