"""The fleet guard's map ABI in Python: one table mirroring ``bpf/guard.h``, and its encoder.

Every key and value the seed files write is encoded here, from `STRUCTS` and `MAPS`. The C
header is the other half of the definition; ``tests/test_guard_layout.py`` compiles the
program and proves, from the object's BTF, that every struct has the same fields at the same
offsets with the same sizes, and that every map has the type, sizes and max_entries below.

Byte order follows the header: fields marked big-endian are network order (LPM trie keys),
the rest little-endian (the program refuses to build for a big-endian target).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_CLUSTERS = 512
CIDR_ENTRIES = 16384
POLICY_ENTRIES = 1048576
PAIR_ENTRIES = 262144
MAX_RULES = 4096
FLOW_ENTRIES = 65536

FAMILY_V4 = 4
FAMILY_V6 = 6
KIND_NONE, KIND_POD, KIND_NODE = 0, 1, 2
ACTION_PASS, ACTION_DROP = 0, 1
MODE_AUDIT, MODE_ENFORCE = 0, 1
RULE_DEFAULT = 0

KIND_NAMES = {KIND_NONE: "ambiguous", KIND_POD: "pod", KIND_NODE: "node"}
ACTION_NAMES = {ACTION_PASS: "pass", ACTION_DROP: "drop"}
MODES = {"audit": MODE_AUDIT, "enforce": MODE_ENFORCE}

# Bits of a guard_policy key after prefixlen: src (16) dst (16) proto (8) pad (8) dport (16);
# a pair entry (no ports) matches the first 32, a port entry all 64.
POLICY_PAIR_BITS = 32
POLICY_FULL_BITS = 64
# Bits of a guard_cidr key before the address: family (8) + pad (24).
CIDR_HEADER_BITS = 32


@dataclass(frozen=True)
class Field:
    """One member of a C struct: `size` bytes per element, `count` elements (1 = scalar)."""

    name: str
    size: int
    count: int = 1
    big_endian: bool = False

    @property
    def width(self) -> int:
        return self.size * self.count


@dataclass(frozen=True)
class Struct:
    """A C struct with explicit padding: members are contiguous and naturally aligned."""

    name: str
    fields: tuple[Field, ...]

    def offsets(self) -> dict[str, int]:
        offsets, offset = {}, 0
        for field in self.fields:
            if offset % field.size:
                raise AssertionError(f"{self.name}.{field.name} is not naturally aligned")
            offsets[field.name] = offset
            offset += field.width
        return offsets

    @property
    def size(self) -> int:
        return sum(field.width for field in self.fields)

    def encode(self, values: Mapping[str, int | bytes]) -> bytes:
        """The struct's bytes; members not in `values` (padding) are zero."""
        unknown = sorted(set(values) - {field.name for field in self.fields})
        if unknown:
            raise KeyError(f"{self.name} has no member {unknown[0]}")
        out = bytearray()
        for field in self.fields:
            value = values.get(field.name, 0)
            if field.count > 1 and value == 0:
                value = b""  # an array left out (padding) is zeros
            if field.count > 1 and isinstance(value, int):
                raise TypeError(f"{self.name}.{field.name} is an array: pass bytes")
            if isinstance(value, bytes):
                if len(value) > field.width:
                    raise ValueError(f"{self.name}.{field.name}: {len(value)} bytes is too long")
                out += value.ljust(field.width, b"\0")
            else:
                out += value.to_bytes(field.size, "big" if field.big_endian else "little")
        return bytes(out)

    def decode(self, data: bytes) -> dict[str, int | bytes]:
        if len(data) != self.size:
            raise ValueError(f"{self.name} is {self.size} bytes, not {len(data)}")
        values: dict[str, int | bytes] = {}
        for field, offset in zip(self.fields, self.offsets().values(), strict=True):
            chunk = data[offset : offset + field.width]
            if field.count > 1:
                values[field.name] = chunk
            else:
                values[field.name] = int.from_bytes(chunk, "big" if field.big_endian else "little")
        return values


U32 = Struct("__u32", (Field("index", 4),))

CIDR_KEY = Struct(
    "guard_cidr_key",
    (Field("prefixlen", 4), Field("family", 1), Field("pad", 1, 3), Field("addr", 1, 16)),
)
CIDR_VALUE = Struct(
    "guard_cidr_value",
    (Field("cluster_id", 2, big_endian=True), Field("kind", 1), Field("pad", 1)),
)
POLICY_KEY = Struct(
    "guard_policy_key",
    (
        Field("prefixlen", 4),
        Field("src_cluster", 2, big_endian=True),
        Field("dst_cluster", 2, big_endian=True),
        Field("proto", 1),
        Field("pad", 1),
        Field("dport", 2, big_endian=True),
    ),
)
PAIR_KEY = Struct(
    "guard_pair_key",
    (Field("src_cluster", 2, big_endian=True), Field("dst_cluster", 2, big_endian=True)),
)
PAIR_VALUE = Struct("guard_pair_value", (Field("rules", 4),))
VERDICT = Struct("guard_verdict", (Field("rule_id", 4), Field("action", 1), Field("pad", 1, 3)))
COUNTER = Struct("guard_counter", (Field("packets", 8), Field("bytes", 8)))
CONFIG = Struct("guard_config", (Field("mode", 4), Field("pad", 4)))
FLOW_KEY = Struct(
    "guard_flow_key",
    (
        Field("family", 1),
        Field("proto", 1),
        Field("sport", 2, big_endian=True),
        Field("dport", 2, big_endian=True),
        Field("pad", 2),
        Field("saddr", 1, 16),
        Field("daddr", 1, 16),
    ),
)
FLOW_VALUE = Struct("guard_flow_value", (Field("last_seen_ns", 8),))

STRUCTS: tuple[Struct, ...] = (
    CIDR_KEY,
    CIDR_VALUE,
    POLICY_KEY,
    PAIR_KEY,
    PAIR_VALUE,
    VERDICT,
    COUNTER,
    CONFIG,
    FLOW_KEY,
    FLOW_VALUE,
)


@dataclass(frozen=True)
class MapSpec:
    """One map of the program: its kernel type name (as bpftool prints it) and layout."""

    name: str
    type: str
    key: Struct
    value: Struct
    max_entries: int
    flags: int = 0


BPF_F_NO_PREALLOC = 1

CIDRS = MapSpec("guard_cidrs", "lpm_trie", CIDR_KEY, CIDR_VALUE, CIDR_ENTRIES, BPF_F_NO_PREALLOC)
POLICY = MapSpec("guard_policy", "lpm_trie", POLICY_KEY, VERDICT, POLICY_ENTRIES, BPF_F_NO_PREALLOC)
PAIRS = MapSpec("guard_pairs", "hash", PAIR_KEY, PAIR_VALUE, PAIR_ENTRIES, BPF_F_NO_PREALLOC)
DEFAULTS = MapSpec("guard_defaults", "array", U32, VERDICT, MAX_CLUSTERS)
COUNTERS = MapSpec("guard_counters", "percpu_array", U32, COUNTER, MAX_RULES)
CONFIG_MAP = MapSpec("guard_config", "array", U32, CONFIG, 1)
FLOWS = MapSpec("guard_flows", "lru_hash", FLOW_KEY, FLOW_VALUE, FLOW_ENTRIES)

# Also the order maps appear in a seed file: configuration first, the big tries last.
MAPS: tuple[MapSpec, ...] = (CONFIG_MAP, DEFAULTS, CIDRS, PAIRS, POLICY, COUNTERS, FLOWS)
# Maps only the program writes: never in a seed.
PROGRAM_WRITTEN: tuple[MapSpec, ...] = (COUNTERS, FLOWS)
