"""A node for the tcx kernel tests: two network namespaces, a veth pair, a Cilium stand-in.

`tcx_node` builds bpf/ (the guard and the loader's attach tool), mounts a private bpffs and
wires a "peer" namespace (a pod of cluster a, 10.1.0.5) to a "node" namespace (a pod of
cluster b, 10.2.0.5) with a veth pair. On the node's end, `n0`, a stand-in for Cilium sits in
the tcx chain of both directions, attached at the tail as Cilium attaches: it counts the UDP
packets it sees per destination port and returns TCX_PASS, which ends the chain. The guard
is then put on `n0` by the real loader script (`TcxNode.load`). Traffic stays inside these
namespaces: static neighbours, IPv6 off, so the only packets are the ones a test sends.
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from compiler.guard import GuardCluster, GuardRule
from compiler.guard.delivery import FLEET_BATCH, LOADER_SCRIPT, SEED_BATCH
from compiler.model.types import PortRange
from tests.conftest import missing, require_tool
from tests.guard_support import (
    BPF_F_AFTER,
    BPF_TCX_EGRESS,
    BPF_TCX_INGRESS,
    bpf_permitted,
    build,
    map_lookup,
    node_batches,
    obj_get,
    obj_id,
    percpu_sum,
    private_bpffs,
    tcx_chain,
    tcx_link,
)

CLUSTERS = (GuardCluster("a", 1, ("10.1.0.0/16",)), GuardCluster("b", 2, ("10.2.0.0/16",)))
RULES = (  # the node is in cluster b: rule 1 is judged on ingress, rule 2 on egress
    GuardRule(1, "a-to-b-dns", (1,), (2,), (PortRange("UDP", 53, 53),)),
    GuardRule(2, "b-to-a-mdns", (2,), (1,), (PortRange("UDP", 5353, 5353),)),
)
PEER_IP, NODE_IP = "10.1.0.5", "10.2.0.5"
PEER_MAC, NODE_MAC = "02:00:00:00:01:05", "02:00:00:00:02:05"
DEV = "n0"
DIRECTIONS = {"ingress": BPF_TCX_INGRESS, "egress": BPF_TCX_EGRESS}

STAND_IN = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

SEC("tc")
int cilium_stand_in(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __u32 port = 0; /* anything that is not IPv4 UDP without options */
    if ((void *)(udp + 1) <= end && eth->h_proto == bpf_htons(ETH_P_IP) && ip->ihl == 5 &&
        ip->protocol == IPPROTO_UDP)
        port = bpf_ntohs(udp->dest);
    __u64 *count = bpf_map_lookup_elem(&seen, &port);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 0; /* TCX_PASS: Cilium's verdict ends the chain */
}

char LICENSE[] SEC("license") = "GPL";
"""

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run the block in network namespace `netns` (this thread only); sockets made in it stay
    there after the block."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
        yield
    finally:
        if _libc.setns(home, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(home)
        os.close(target)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def wire(node: str, peer: str) -> None:
    """The veth pair between the namespaces, addressed, with static neighbours."""
    _ip("link", "add", DEV, "netns", node, "address", NODE_MAC, "type", "veth",
        "peer", "name", "p0", "netns", peer, "address", PEER_MAC)  # fmt: skip
    for name, dev, own, other, mac in (
        (node, DEV, NODE_IP, PEER_IP, PEER_MAC),
        (peer, "p0", PEER_IP, NODE_IP, NODE_MAC),
    ):
        _ip("-n", name, "link", "set", dev, "up")
        _ip("-n", name, "addr", "add", f"{own}/32", "dev", dev)
        _ip("-n", name, "route", "add", f"{other}/32", "dev", dev)
        _ip("-n", name, "neigh", "add", other, "lladdr", mac, "dev", dev, "nud", "permanent")


@dataclass
class TcxNode:
    """The wired namespaces, the stand-in's links and map, and the loader's environment."""

    node: str
    peer: str
    build_dir: Path
    pin_dir: Path
    seeds: Path
    seen_fd: int
    stand_in_prog: int
    ifindex: int
    stand_in_links: list[int]

    def remove_stand_in(self) -> None:
        """Take Cilium's stand-in off the chains (closing its links detaches them)."""
        while self.stand_in_links:
            os.close(self.stand_in_links.pop())

    def load(self, mode: str = "enforce", **env: str) -> str:
        """Run the loader script on the node with a seed of `mode`; its standard output."""
        fleet, own = node_batches(CLUSTERS, RULES, CLUSTERS[1], mode, str(self.pin_dir), "f")
        (self.seeds / FLEET_BATCH).write_text(fleet)
        (self.seeds / SEED_BATCH).write_text(own)
        variables = {
            "PATH": f"{self.build_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/bin')}",
            "BPFFS": str(self.pin_dir.parent),
            "PIN_DIR": str(self.pin_dir),
            "OBJECT": str(self.build_dir / "guard.o"),
            "SEED_DIR": str(self.seeds),
            "FLEET_BATCH": FLEET_BATCH,
            "SEED_BATCH": SEED_BATCH,
            "GUARD_DEVICES": DEV,
            "GUARD_EXTRA_DEVICES": "",
            "GUARD_ONESHOT": "1",
            **env,
        }
        result = subprocess.run(
            ["ip", "netns", "exec", self.node, "sh", "-c", LOADER_SCRIPT],
            env=variables,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def rewire(self) -> None:
        """Delete the veth pair and make it anew, as when a device goes and comes back: the
        links on the old n0 (the stand-in's too) are left defunct."""
        _ip("-n", self.node, "link", "del", DEV)
        wire(self.node, self.peer)
        with inside(self.node):
            self.ifindex = socket.if_nametoindex(DEV)

    def attach_tool(self, *args: str) -> str:
        """Run bpf/guard-attach on the node; its standard output."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.node, str(self.build_dir / "guard-attach"), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def chain(self, direction: str) -> tuple[list[int], list[int], int]:
        """(program ids, link ids, revision) of n0's tcx chain in `direction`, head first."""
        with inside(self.node):
            return tcx_chain(self.ifindex, DIRECTIONS[direction])

    def tc_filters(self, direction: str) -> list[str]:
        """The legacy tc filters on n0 in `direction` (their detail lines)."""
        out = subprocess.run(
            ["ip", "netns", "exec", self.node, "tc", "filter", "show", "dev", DEV, direction],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [line for line in out.splitlines() if " id " in line]

    def guard_prog(self) -> int:
        fd = obj_get(self.pin_dir / "prog")
        try:
            return obj_id(fd)
        finally:
            os.close(fd)

    def link_id(self, name: str) -> int:
        fd = obj_get(self.pin_dir / "links" / name)
        try:
            return obj_id(fd)
        finally:
            os.close(fd)

    def seen(self, port: int) -> int:
        """UDP packets to `port` the stand-in has seen, both directions."""
        return int.from_bytes(map_lookup(self.seen_fd, port.to_bytes(4, "little"), 8), "little")

    def counter(self, rule_id: int) -> int:
        """Packets the guard counted under `rule_id`."""
        fd = obj_get(self.pin_dir / "guard_counters")
        try:
            return percpu_sum(fd, rule_id.to_bytes(4, "little"), 16)[0]
        finally:
            os.close(fd)

    def send(self, inbound: bool, port: int, count: int) -> int:
        """Send `count` UDP datagrams to `port`, peer -> node (inbound, crossing n0's ingress)
        or node -> peer (egress); how many arrived."""
        sender_ns, src, receiver_ns, dst = (
            (self.peer, PEER_IP, self.node, NODE_IP)
            if inbound
            else (self.node, NODE_IP, self.peer, PEER_IP)
        )
        with inside(receiver_ns):
            receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with inside(sender_ns):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with receiver, sender:
            receiver.bind((dst, port))
            sender.bind((src, 0))
            for index in range(count):
                sender.sendto(index.to_bytes(2, "big"), (dst, port))
            received = 0
            # Delivery over a veth is immediate; a dropped datagram never comes, so wait a
            # little for it before concluding.
            while select.select([receiver], [], [], 0.3)[0]:
                receiver.recv(64)
                received += 1
            return received


@contextmanager
def tcx_node(build_dir: Path, tag: str) -> Iterator[TcxNode]:
    """A TcxNode ready for the loader; everything is torn down afterwards."""
    for tool in ("make", "clang", "cc", "bpftool", "ip", "tc", "jq", "sh", "mountpoint"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the tcx tests need root (bpf(), network namespaces, a bpffs)")
    reason = bpf_permitted()
    if reason:
        missing(reason)
    build(build_dir, "all")
    (build_dir / "stand_in.bpf.c").write_text(STAND_IN)
    arch = f"/usr/include/{os.uname().machine}-linux-gnu"
    subprocess.run(
        [
            *("clang", "-target", "bpf", "-O2", "-g", "-Wall", "-Werror", f"-I{arch}"),
            *("-c", str(build_dir / "stand_in.bpf.c"), "-o", str(build_dir / "stand_in.o")),
        ],
        check=True,
        capture_output=True,
    )
    node, peer = f"fgtcx-node-{tag}", f"fgtcx-peer-{tag}"
    with private_bpffs() as fs, ExitStack() as stack:
        for name in (node, peer):
            _ip("netns", "add", name)
            stack.callback(subprocess.run, ["ip", "netns", "del", name], check=False)
            with inside(name):  # /proc/sys/net is the opening thread's namespace's
                for conf in ("all", "default"):
                    Path(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6").write_text("1")
        wire(node, peer)
        stand_in = fs / "stand_in"
        subprocess.run(
            [
                *("bpftool", "prog", "load", str(build_dir / "stand_in.o"), str(stand_in)),
                *("type", "classifier", "pinmaps", str(fs / "stand_in_maps")),
            ],
            check=True,
            capture_output=True,
        )
        prog_fd = obj_get(stand_in)
        stack.callback(os.close, prog_fd)
        seen_fd = obj_get(fs / "stand_in_maps" / "seen")
        stack.callback(os.close, seen_fd)
        links: list[int] = []
        stack.callback(lambda: [os.close(fd) for fd in links])
        with inside(node):
            ifindex = socket.if_nametoindex(DEV)
            for attach_type in DIRECTIONS.values():  # Cilium got there first, at the tail
                links.append(tcx_link(prog_fd, ifindex, attach_type, BPF_F_AFTER))
        seeds = build_dir / f"seeds-{tag}"
        seeds.mkdir(exist_ok=True)
        yield TcxNode(
            node, peer, build_dir, fs / "fleet-guard", seeds, seen_fd, obj_id(prog_fd), ifindex,
            links,
        )  # fmt: skip
