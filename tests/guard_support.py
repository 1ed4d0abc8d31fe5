"""Helpers for the fleet guard tests and benchmark: build, a private bpffs, bpf() via ctypes.

The kernel side is exercised for real: the object is compiled with clang, loaded and pinned
with bpftool into a bpffs mounted just for the test, and packets go through the loaded
program with BPF_PROG_TEST_RUN, called through the raw bpf() syscall (no libbpf binding).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from compiler.guard import GuardCluster, GuardRule, render_fleet_seed, render_seed

ROOT = Path(__file__).resolve().parents[1]
BPF_DIR = ROOT / "bpf"

TC_ACT_UNSPEC = 0xFFFFFFFF  # -1 as the u32 retval
TC_ACT_SHOT = 2

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_BPF_MAP_LOOKUP_ELEM, _BPF_MAP_UPDATE_ELEM, _BPF_MAP_DELETE_ELEM = 1, 2, 3
_BPF_MAP_GET_NEXT_KEY, _BPF_OBJ_GET, _BPF_PROG_TEST_RUN = 4, 7, 10
_BPF_OBJ_GET_INFO_BY_FD, _BPF_PROG_QUERY, _BPF_LINK_CREATE = 15, 16, 28
# tcx (Linux >= 6.6): attach types and the mprog placement flag, as in linux/bpf.h.
BPF_TCX_INGRESS, BPF_TCX_EGRESS = 46, 47
BPF_F_AFTER = 1 << 4  # with no relative program: the tail of the chain

_libc = ctypes.CDLL(None, use_errno=True)


def build(out_dir: Path, target: str = "object") -> Path:
    """Build bpf/ with the project's Makefile into `out_dir`: the program object (the path
    returned), or with `target` "all" the loader's attach tool beside it too."""
    subprocess.run(
        ["make", "-s", "-C", str(BPF_DIR), f"BUILD={out_dir}", target],
        check=True,
        capture_output=True,
        text=True,
    )
    return out_dir / "guard.o"


def bpf_permitted() -> str | None:
    """None when bpf() can create a map here; otherwise why not."""
    try:
        fd = _map_create_probe()
    except OSError as exc:
        return f"bpf() is not permitted here: {exc}"
    os.close(fd)
    return None


def _map_create_probe() -> int:
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIII", attr, 0, 2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY, 4-byte key/value
    return _bpf(0, attr)  # BPF_MAP_CREATE


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"no bpf() syscall number for {platform.machine()}")
    result = int(_libc.syscall(number, cmd, attr, len(attr)))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


@contextmanager
def private_bpffs() -> Iterator[Path]:
    """A bpffs mounted on a fresh directory (no dots: libbpf rewrites them in pin paths)."""
    directory = Path(tempfile.mkdtemp(prefix="fleetguard_", dir="/tmp"))
    subprocess.run(["mount", "-t", "bpf", "bpf", str(directory)], check=True, capture_output=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False, capture_output=True)
        directory.rmdir()


def obj_get(path: Path) -> int:
    attr = ctypes.create_string_buffer(128)
    name = ctypes.create_string_buffer(str(path).encode())
    struct.pack_into("=Q", attr, 0, ctypes.addressof(name))
    return _bpf(_BPF_OBJ_GET, attr)


def obj_id(fd: int) -> int:
    """The id of a program or link (both info structs start with type, id)."""
    attr = ctypes.create_string_buffer(16)
    info = ctypes.create_string_buffer(8)
    struct.pack_into("=IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    _bpf(_BPF_OBJ_GET_INFO_BY_FD, attr)
    return int(struct.unpack_from("=I", info, 4)[0])


def tcx_chain(ifindex: int, attach_type: int) -> tuple[list[int], list[int], int]:
    """(program ids, link ids, revision) of a device's tcx chain, head first (this thread's
    network namespace)."""
    attr = ctypes.create_string_buffer(64)
    progs, links = (ctypes.c_uint32 * 64)(), (ctypes.c_uint32 * 64)()
    struct.pack_into("=IIIIQI", attr, 0, ifindex, attach_type, 0, 0, ctypes.addressof(progs), 64)
    struct.pack_into("=Q", attr, 40, ctypes.addressof(links))
    _bpf(_BPF_PROG_QUERY, attr)
    count = struct.unpack_from("=I", attr, 24)[0]
    revision = struct.unpack_from("=Q", attr, 56)[0]
    return list(progs[:count]), list(links[:count]), int(revision)


def tcx_link(prog_fd: int, ifindex: int, attach_type: int, flags: int) -> int:
    """A bpf_link attaching `prog_fd` to a device's tcx chain; the link's fd."""
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("=IIIIIIQ", attr, 0, prog_fd, ifindex, attach_type, flags, 0, 0, 0)
    return _bpf(_BPF_LINK_CREATE, attr)


def prog_run(prog_fd: int, packet: bytes, repeat: int = 1) -> tuple[int, int]:
    """(retval, average duration in ns) of the program on one Ethernet frame."""
    attr = ctypes.create_string_buffer(128)
    data = ctypes.create_string_buffer(packet, len(packet))
    struct.pack_into(
        "=IIIIQQII", attr, 0, prog_fd, 0, len(packet), 0, ctypes.addressof(data), 0, repeat, 0
    )
    _bpf(_BPF_PROG_TEST_RUN, attr)
    retval, duration = struct.unpack_from("=I", attr, 4)[0], struct.unpack_from("=I", attr, 36)[0]
    return retval, duration


def _elem(cmd: int, map_fd: int, key: bytes, value: ctypes.Array[ctypes.c_char] | None) -> None:
    attr = ctypes.create_string_buffer(128)
    key_buf = ctypes.create_string_buffer(key, len(key))
    value_addr = ctypes.addressof(value) if value is not None else 0
    struct.pack_into("=IIQQQ", attr, 0, map_fd, 0, ctypes.addressof(key_buf), value_addr, 0)
    _bpf(cmd, attr)


def map_update(map_fd: int, key: bytes, value: bytes) -> None:
    _elem(_BPF_MAP_UPDATE_ELEM, map_fd, key, ctypes.create_string_buffer(value, len(value)))


def map_lookup(map_fd: int, key: bytes, size: int) -> bytes:
    out = ctypes.create_string_buffer(size)
    _elem(_BPF_MAP_LOOKUP_ELEM, map_fd, key, out)
    return out.raw


def map_keys(map_fd: int, key_size: int) -> list[bytes]:
    keys: list[bytes] = []
    current: bytes | None = None
    while True:
        attr = ctypes.create_string_buffer(128)
        key_buf = ctypes.create_string_buffer(current or b"", key_size)
        next_buf = ctypes.create_string_buffer(key_size)
        key_addr = ctypes.addressof(key_buf) if current is not None else 0
        struct.pack_into("=IIQQ", attr, 0, map_fd, 0, key_addr, ctypes.addressof(next_buf))
        try:
            _bpf(_BPF_MAP_GET_NEXT_KEY, attr)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return keys
            raise
        current = next_buf.raw
        keys.append(current)


def map_clear(map_fd: int, key_size: int) -> None:
    for key in map_keys(map_fd, key_size):
        _elem(_BPF_MAP_DELETE_ELEM, map_fd, key, None)


def possible_cpus() -> int:
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    total = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        total += int(high or low) - int(low) + 1
    return total


def percpu_sum(map_fd: int, key: bytes, value_size: int) -> tuple[int, ...]:
    """A per-CPU value's u64 fields summed over every possible CPU."""
    stride = (value_size + 7) // 8 * 8
    cpus = possible_cpus()
    raw = map_lookup(map_fd, key, stride * cpus)
    width = value_size // 8
    sums = [0] * width
    for cpu in range(cpus):
        for index, value in enumerate(struct.unpack_from(f"<{width}Q", raw, cpu * stride)):
            sums[index] += value
    return tuple(sums)


def node_batches(
    clusters: Sequence[GuardCluster],
    rules: Sequence[GuardRule],
    cluster: GuardCluster,
    mode: str,
    pin_dir: str,
    source: str = "fleet.yaml",
) -> tuple[str, str]:
    """The two seed files the nodes of `cluster` apply, in the loader's order: the fleet-wide
    batch, then the cluster's own."""
    fleet, _ = render_fleet_seed(clusters, mode, source, pin_dir)
    own, _ = render_seed(clusters, rules, cluster, mode, source, pin_dir)
    return fleet, own


def batch_commands(text: str) -> list[tuple[str, bytes, bytes]]:
    """(map name, key, value) of every `map update` line of a seed, in order."""
    out = []
    for line in text.splitlines():
        if not line.startswith("map update pinned "):
            continue
        words = line.split()
        key_at, value_at = words.index("key"), words.index("value")
        key = bytes.fromhex("".join(words[key_at + 2 : value_at]))
        value = bytes.fromhex("".join(words[value_at + 2 :]))
        out.append((words[3].rsplit("/", 1)[1], key, value))
    return out


# Packets: just enough of each header for the guard (checksums are not its business).
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMPV6 = 1, 6, 17, 132, 58
HOPOPTS, ROUTING, FRAGMENT, DSTOPTS = 0, 43, 44, 60


TCP_SYN, TCP_ACK = 0x02, 0x10
ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 8, 0, 128, 129


def l4_header(
    proto: int, dport: int, sport: int = 40000, flags: int = TCP_SYN, icmp_type: int = 8
) -> bytes:
    """A TCP (with `flags`), UDP or SCTP header, else an ICMP-shaped one of `icmp_type`."""
    if proto == IPPROTO_TCP:
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)
    if proto == IPPROTO_UDP:
        return struct.pack("!HHHH", sport, dport, 8, 0)
    if proto == IPPROTO_SCTP:
        return struct.pack("!HHII", sport, dport, 0, 0)
    return struct.pack("!BBHI", icmp_type, 0, 0, 0)


def ethernet(ethertype: int, payload: bytes) -> bytes:
    return bytes.fromhex("020000000002020000000001") + struct.pack("!H", ethertype) + payload


def ipv4(
    src: bytes, dst: bytes, proto: int, payload: bytes, options: bytes = b"", frag: int = 0
) -> bytes:
    """An IPv4 packet; `frag` is the fragment offset in 8-byte units (non-zero: not first)."""
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0, src, dst)
    return ethernet(ETH_P_IP, header + options + payload)


def ipv6(
    src: bytes, dst: bytes, proto: int, payload: bytes, ext: tuple[tuple[int, int], ...] = ()
) -> bytes:
    """An IPv6 packet with extension headers `ext`: (type, fragment offset or length units)."""
    chain = b""
    kinds = [kind for kind, _ in ext] + [proto]
    for (kind, arg), following in zip(ext, kinds[1:], strict=True):
        if kind == FRAGMENT:
            chain += struct.pack("!BBHI", following, 0, arg << 3, 7)
        else:
            chain += struct.pack("!BB", following, arg) + bytes(6 + arg * 8)
    body = chain + payload
    header = struct.pack("!IHBB16s16s", 6 << 28, len(body), kinds[0], 64, src, dst)
    return ethernet(ETH_P_IPV6, header + body)
