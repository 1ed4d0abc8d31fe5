"""A loaded fleet guard for the kernel tests: build, load and pin, seed, run and compare.

`loaded_guard` compiles bpf/, mounts a private bpffs, loads the program with bpftool and
opens its pinned maps; `check_packet` runs one frame with BPF_PROG_TEST_RUN and asserts the
verdict and the per-rule counters equal `compiler.guard.cluster_verdict`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from ipaddress import ip_address
from pathlib import Path

from compiler.guard import GuardCluster, GuardRule, Verdict, cluster_verdict, layout
from compiler.guard.layout import RULE_DEFAULT
from compiler.guard.model import IPAddress
from tests.conftest import missing, require_tool
from tests.guard_support import (
    FRAGMENT,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_SCTP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TC_ACT_SHOT,
    TC_ACT_UNSPEC,
    TCP_ACK,
    TCP_SYN,
    batch_commands,
    bpf_permitted,
    build,
    ipv4,
    ipv6,
    l4_header,
    map_clear,
    map_keys,
    map_update,
    obj_get,
    percpu_sum,
    private_bpffs,
    prog_run,
)


@dataclass
class Guard:
    """The loaded program and its pinned maps (fds stay open for the module)."""

    maps_dir: Path
    prog: int
    maps: dict[str, int]

    def apply(self, *batches: str) -> None:
        """Reset the seeded maps and apply the seed files' entries (the rendered text, parsed),
        in order, as the loader does (`node_batches`)."""
        for spec in (layout.CIDRS, layout.PAIRS, layout.POLICY, layout.FLOWS):
            map_clear(self.maps[spec.name], spec.key.size)
        zero = layout.VERDICT.encode({})
        for index in range(layout.MAX_CLUSTERS):
            map_update(self.maps[layout.DEFAULTS.name], index.to_bytes(4, "little"), zero)
        for batch in batches:
            for name, key, value in batch_commands(batch):
                map_update(self.maps[name], key, value)

    def set_mode(self, mode: str) -> None:
        value = layout.CONFIG.encode({"mode": layout.MODES[mode]})
        map_update(self.maps[layout.CONFIG_MAP.name], bytes(4), value)

    def flows(self) -> set[Flow]:
        """The flows in guard_flows, as `check_packet` tracks them."""
        out: set[Flow] = set()
        for key in map_keys(self.maps[layout.FLOWS.name], layout.FLOW_KEY.size):
            fields = layout.FLOW_KEY.decode(key)
            family, saddr, daddr = fields["family"], fields["saddr"], fields["daddr"]
            assert isinstance(family, int) and isinstance(saddr, bytes) and isinstance(daddr, bytes)
            width = 4 if family == 4 else 16
            src, dst = ip_address(saddr[:width]), ip_address(daddr[:width])
            ports = (int(fields["sport"]), int(fields["dport"]))  # type: ignore[call-overload]
            out.add((family, int(fields["proto"]), *ports, src, dst))  # type: ignore[call-overload]
        return out

    def counter(self, rule_id: int) -> tuple[int, ...]:
        fd = self.maps[layout.COUNTERS.name]
        return percpu_sum(fd, rule_id.to_bytes(4, "little"), layout.COUNTER.size)


@contextmanager
def loaded_guard(build_dir: Path) -> Iterator[Guard]:
    """The guard loaded and pinned in a private bpffs; skips (fails in CI) when it cannot be."""
    for tool in ("make", "clang", "bpftool", "mount", "umount"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the guard's kernel tests need root (bpf(), mounting a bpffs)")
    reason = bpf_permitted()
    if reason:
        missing(reason)
    obj = build(build_dir)
    with private_bpffs() as fs:
        maps_dir = fs / "maps"
        subprocess.run(
            [
                *("bpftool", "prog", "load", str(obj), str(fs / "prog")),
                *("type", "classifier", "pinmaps", str(maps_dir)),
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


# A flow as guard_flows keys it: (family, protocol, source port, destination port, source,
# destination); ports 0 for protocols without ports.
Flow = tuple[int, int, int, int, IPAddress, IPAddress]
PORTED = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP)


@dataclass(frozen=True)
class Probe:
    """A test packet, and the test's own statement of how the guard must read it."""

    src: IPAddress
    dst: IPAddress
    proto: int
    dport: int = 0
    sport: int = 40000
    tcp_flags: int = TCP_SYN
    icmp_type: int | None = None  # None: the echo request of the protocol
    options: int = 0  # IPv4 option bytes
    later_fragment: bool = False
    ext: tuple[tuple[int, int], ...] = ()  # IPv6 extension headers: (type, argument)
    truncate: bool = False  # cut the L4 header to 3 bytes

    def _icmp(self) -> int:
        if self.icmp_type is not None:
            return self.icmp_type
        return ICMPV6_ECHO_REQUEST if self.proto == IPPROTO_ICMPV6 else ICMP_ECHO_REQUEST

    def frame(self) -> bytes:
        l4 = l4_header(self.proto, self.dport, self.sport, self.tcp_flags, self._icmp())
        if self.truncate:
            l4 = l4[:3]
        if self.src.version == 4:
            frag = 185 if self.later_fragment else 0
            return ipv4(self.src.packed, self.dst.packed, self.proto, l4, bytes(self.options), frag)
        ext = (*self.ext, (FRAGMENT, 3)) if self.later_fragment else self.ext
        return ipv6(self.src.packed, self.dst.packed, self.proto, l4, ext)

    @property
    def judged(self) -> bool:
        """Whether the packet may open a flow, so that policy applies to it."""
        if self.later_fragment or len(self.ext) > 4:
            return False
        if any(kind == FRAGMENT and offset for kind, offset in self.ext):
            return False  # a later fragment, spelt as one of the extension headers
        if self.truncate and self.proto in PORTED:  # ICMP needs only its type byte
            return False
        if self.proto == IPPROTO_TCP:
            return bool(self.tcp_flags & TCP_SYN) and not self.tcp_flags & TCP_ACK
        if self.proto == IPPROTO_ICMP:
            return self._icmp() == ICMP_ECHO_REQUEST
        if self.proto == IPPROTO_ICMPV6:
            return self._icmp() == ICMPV6_ECHO_REQUEST
        return True

    @property
    def ports(self) -> tuple[int, int]:
        """(source, destination) port as the guard reads them: 0 without ports."""
        return (self.sport, self.dport) if self.proto in PORTED else (0, 0)

    @property
    def flow(self) -> Flow:
        return (self.src.version, self.proto, *self.ports, self.src, self.dst)

    def reply(self) -> Probe:
        """The answer to this packet: addresses and ports swapped, SYN-ACK, echo reply."""
        reply_type = ICMPV6_ECHO_REPLY if self.proto == IPPROTO_ICMPV6 else ICMP_ECHO_REPLY
        return replace(
            self,
            src=self.dst,
            dst=self.src,
            sport=self.dport,
            dport=self.sport,
            tcp_flags=TCP_SYN | TCP_ACK,
            icmp_type=reply_type
            if self._icmp() in (ICMP_ECHO_REQUEST, ICMPV6_ECHO_REQUEST)
            else None,
        )


def check_packet(
    guard: Guard,
    clusters: Sequence[GuardCluster],
    rules: Sequence[GuardRule],
    local: int | None,
    mode: str,
    probe: Probe,
    flows: set[Flow],
) -> bool:
    """Run `probe`, assert verdict and counters equal the model's; whether it was a drop.

    `flows` is what the guard has let through so far, kept in step with its LRU map: a judged
    non-TCP packet whose reverse flow is in it is a reply and passes. Only flows whose way
    back some deny in the node's seed covers are remembered (guard_pairs).
    """
    family, proto, sport, dport, src, dst = probe.flow
    judged = probe.judged
    verdict = cluster_verdict(clusters, rules, src, dst, proto, dport, local, judged=judged)
    if verdict.fleet and judged and proto != IPPROTO_TCP:
        if verdict.drop and (family, proto, dport, sport, dst, src) in flows:
            verdict = Verdict(True, False, RULE_DEFAULT, verdict.src_cluster, verdict.dst_cluster)
        elif not verdict.drop and _covered(rules, local, verdict.dst_cluster, verdict.src_cluster):
            flows.add(probe.flow)
    frame = probe.frame()
    watched = sorted({0, *(rule.id for rule in rules)})
    before = {rule_id: guard.counter(rule_id) for rule_id in watched}
    retval, _ = prog_run(guard.prog, frame)
    after = {rule_id: guard.counter(rule_id) for rule_id in watched}
    expected_retval = TC_ACT_SHOT if verdict.drop and mode == "enforce" else TC_ACT_UNSPEC
    assert retval == expected_retval, (verdict, probe, judged, mode)
    for rule_id in watched:
        bumped = (1, len(frame)) if rule_id == verdict.rule_id else (0, 0)
        delta = tuple(a - b for a, b in zip(after[rule_id], before[rule_id], strict=True))
        assert delta == bumped, (rule_id, verdict, probe, judged)
    return verdict.drop


def _covered(
    rules: Sequence[GuardRule], local: int | None, src: int | None, dst: int | None
) -> bool:
    """Whether the seed of cluster `local` has the pair (src, dst) in guard_pairs."""
    if local is not None and local not in (src, dst):
        return False
    return any(src in rule.src and dst in rule.dst for rule in rules)
