"""The guard next to a Cilium on tcx, in a real kernel: attached ahead of it by the loader.

Cilium (1.16+, Linux >= 6.6) appends its programs to each device's tcx chain and returns
TCX_PASS, which ends the chain. Here a stand-in does the same on a veth in a network
namespace (tests/guard_tcx.py); the loader script the DaemonSet runs then attaches the guard,
and UDP datagrams cross the veth both ways. The guard must sit at the head of both chains,
count every fleet packet, drop the denied flows in enforce mode and hand every other packet
on to the stand-in; rerunning the loader must change nothing, switching it off must detach
it, and on a kernel without tcx (forced here with GUARD_HOOK=tc) legacy tc is the fallback.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guard_tcx import TcxNode, tcx_node

pytestmark = pytest.mark.kernel

SENT = 20
ALLOWED_IN, DENIED_IN = 8080, 53  # peer (cluster a) -> node (cluster b); rule 1 denies 53
ALLOWED_OUT, DENIED_OUT = 9090, 5353  # node -> peer; rule 2 denies 5353
_TAGS = itertools.count()
FLOWS = ((True, ALLOWED_IN), (True, DENIED_IN), (False, ALLOWED_OUT), (False, DENIED_OUT))


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tcx_build")


@pytest.fixture
def node(build_dir: Path) -> Iterator[TcxNode]:
    tag = f"{os.getpid()}-{next(_TAGS)}"
    with tcx_node(build_dir, tag) as wired:
        yield wired


def _traffic(node: TcxNode) -> dict[int, tuple[int, int, int]]:
    """Send SENT datagrams per flow; per port: (delivered, seen by the stand-in, counted by
    the guard under the flow's rule: 1 or 2 for the denied ports, 0 for the others)."""
    rule = {ALLOWED_IN: 0, DENIED_IN: 1, ALLOWED_OUT: 0, DENIED_OUT: 2}
    before = {port: (node.seen(port), node.counter(rule[port])) for _, port in FLOWS}
    delivered = {port: node.send(inbound, port, SENT) for inbound, port in FLOWS}
    out = {}
    for _, port in FLOWS:
        seen, counted = node.seen(port), node.counter(rule[port])
        out[port] = (delivered[port], seen - before[port][0], counted - before[port][1])
    return out


def _unguarded(node: TcxNode) -> dict[int, tuple[int, int]]:
    """Per port: (delivered, seen by the stand-in), with no guard pinned to ask."""
    before = {port: node.seen(port) for _, port in FLOWS}
    delivered = {port: node.send(inbound, port, SENT) for inbound, port in FLOWS}
    return {port: (delivered[port], node.seen(port) - before[port]) for _, port in FLOWS}


def _chains(node: TcxNode) -> dict[str, tuple[list[int], list[int], int]]:
    return {direction: node.chain(direction) for direction in ("ingress", "egress")}


def test_guard_tcx_attaches_ahead_of_cilium_and_enforces(node: TcxNode) -> None:
    output = node.load("enforce")
    guard = node.guard_prog()
    chains = _chains(node)
    for direction, (progs, links, _) in chains.items():
        # Head of the chain, before the stand-in that was there first; the pinned link is it.
        assert progs == [guard, node.stand_in_prog], direction
        assert links[0] == node.link_id(f"n0-{direction}"), direction
        assert f"attached {node.pin_dir}/links/n0-{direction}" in output
        assert node.tc_filters(direction) == []  # no legacy filter besides
    assert "on: n0(tcx)" in output
    # Enforce: denied flows dropped, in both directions; everything else reaches Cilium.
    # The guard counts both the passes (rule 0: 2 x SENT allowed datagrams) and the drops.
    counted_zero = node.counter(0)
    result = _traffic(node)
    assert result[ALLOWED_IN] == (SENT, SENT, result[ALLOWED_IN][2])
    assert result[ALLOWED_OUT] == (SENT, SENT, result[ALLOWED_OUT][2])
    assert node.counter(0) - counted_zero == 2 * SENT
    assert result[DENIED_IN] == (0, 0, SENT)
    assert result[DENIED_OUT] == (0, 0, SENT)

    # A second run of the loader (a pod restart, a seed roll) changes nothing on the chains:
    # the same links and programs, and the same revision (any attach or detach bumps it).
    output = node.load("enforce")
    assert _chains(node) == chains
    assert node.guard_prog() == guard
    assert f"kept {node.pin_dir}/links/n0-ingress" in output
    assert "attached" not in output

    # Audit: a seed change only. Nothing is dropped, the denies are still counted, and the
    # stand-in sees every datagram.
    node.load("audit")
    assert _chains(node) == chains
    result = _traffic(node)
    for port in (DENIED_IN, DENIED_OUT):
        assert result[port] == (SENT, SENT, SENT), port
    for port in (ALLOWED_IN, ALLOWED_OUT):
        assert result[port][:2] == (SENT, SENT), port


def test_guard_tcx_switched_off_detaches(node: TcxNode) -> None:
    node.load("enforce")
    assert _traffic(node)[DENIED_IN][0] == 0
    output = node.load("enforce", GUARD_ENABLED="false")
    assert "detached" in output
    for direction in ("ingress", "egress"):
        progs, links, _ = node.chain(direction)
        assert progs == [node.stand_in_prog], direction  # only Cilium's is left
        assert len(links) == 1
    assert not node.pin_dir.exists()  # program, maps and links unpinned
    assert set(_unguarded(node).values()) == {(SENT, SENT)}
    # Off twice is still off; on again attaches afresh at the head.
    node.load("enforce", GUARD_ENABLED="false")
    node.load("enforce")
    assert node.chain("ingress")[0] == [node.guard_prog(), node.stand_in_prog]
    assert _traffic(node)[DENIED_IN][:2] == (0, 0)


def test_guard_tcx_legacy_tc_runs_after_cilium_so_the_loader_moves_to_tcx(
    node: TcxNode,
) -> None:
    """GUARD_HOOK=tc is what a kernel without tcx gets; with Cilium on tcx it is too late."""
    output = node.load("enforce", GUARD_HOOK="tc")
    assert "on: n0(tc)" in output
    guard = node.guard_prog()
    for direction in ("ingress", "egress"):
        assert node.chain(direction)[0] == [node.stand_in_prog]
        assert len(node.tc_filters(direction)) == 1
        assert f" id {guard} " in node.tc_filters(direction)[0]
    counted = node.counter(1)
    assert _traffic(node)[DENIED_IN] == (SENT, SENT, 0)  # TCX_PASS ended it: never judged
    assert node.counter(1) == counted
    node.load("enforce", GUARD_HOOK="tc")  # rerun: still one filter
    assert [len(node.tc_filters(d)) for d in ("ingress", "egress")] == [1, 1]

    # Detection picks tcx here; the loader moves the guard there and drops its tc filter.
    output = node.load("enforce")
    assert "removed tc filter n0 ingress" in output and "on: n0(tcx)" in output
    for direction in ("ingress", "egress"):
        assert node.chain(direction)[0] == [guard, node.stand_in_prog]
        assert node.tc_filters(direction) == []
    assert _traffic(node)[DENIED_IN] == (0, 0, SENT)

    # Without a tcx program in front, legacy tc enforces; back to it, the links go.
    node.remove_stand_in()
    output = node.load("enforce", GUARD_HOOK="tc")
    assert "detached" in output
    for direction in ("ingress", "egress"):
        assert node.chain(direction)[0] == []
        assert len(node.tc_filters(direction)) == 1
    result = _traffic(node)
    assert result[DENIED_IN][::2] == (0, SENT)
    assert result[DENIED_OUT][::2] == (0, SENT)
    assert result[ALLOWED_IN][0] == SENT


def test_guard_tcx_link_follows_device_and_program(node: TcxNode, build_dir: Path) -> None:
    """A device that goes and comes back gets a new link; a new program keeps the old place."""
    node.load("enforce")
    node.rewire()  # n0 anew: the pinned links are defunct, the new chains empty
    assert node.chain("ingress")[0] == []
    output = node.load("enforce")
    assert f"attached {node.pin_dir}/links/n0-ingress" in output
    guard = node.guard_prog()
    for direction in ("ingress", "egress"):
        assert node.chain(direction)[:2] == ([guard], [node.link_id(f"n0-{direction}")])
    assert _unguarded(node)[DENIED_IN] == (0, 0)  # enforcing again (no stand-in left)

    # Another program for the same pin (the guard reloaded): swapped in the link, in place.
    other = node.pin_dir.parent / "other"
    subprocess.run(
        [
            *("bpftool", "prog", "load", str(build_dir / "guard.o"), str(other)),
            *("type", "classifier", "pinmaps", str(node.pin_dir.parent / "other_maps")),
        ],
        check=True,
        capture_output=True,
    )
    link = node.link_id("n0-ingress")
    pin = str(node.pin_dir / "links" / "n0-ingress")
    assert node.attach_tool("attach", str(other), "n0", "ingress", pin) == f"updated {pin}\n"
    progs, links, _ = node.chain("ingress")
    assert links == [link] and progs != [guard] and len(progs) == 1
    assert _unguarded(node)[DENIED_IN] == (SENT, 0)  # the new program's maps are empty
    assert "updated" in node.load("enforce")  # and the loader puts its own back
    assert node.chain("ingress")[:2] == ([guard], [link])
