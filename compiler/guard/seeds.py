"""Seed files for the fleet guard's maps: entries, the `bpftool batch` text, its JSON twin.

`seed_entries` computes, for the nodes of one cluster, every map entry the guard needs: the
fleet-wide `shared_entries` (the maps of `FLEET_MAPS`, the same on every node of the fleet)
plus that cluster's `policy_entries` (`CLUSTER_MAPS`). `render_batch` and `render_json` write
entries; `compiler.guard.render_fleet_seed` and `render_seeds` write the two seed files a node
applies, the fleet-wide one and its cluster's. Entries are sorted by map (configuration first)
and then by key in reading order (addresses and cluster pairs before prefix lengths), each
with a comment naming where it came from, so a diff of two seeds reads like a diff of rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.guard import layout
from compiler.guard.layout import MapSpec
from compiler.guard.model import (
    PROTOCOL_NAMES,
    GuardCluster,
    GuardRule,
    address_table,
    expand_protocol,
    port_blocks,
)

DEFAULT_PIN_DIR = "/sys/fs/bpf/fleet-guard"
FLEET_MAPS: tuple[MapSpec, ...] = (layout.CONFIG_MAP, layout.DEFAULTS, layout.CIDRS)
"""The maps `shared_entries` fills: the same on every node of the fleet."""
CLUSTER_MAPS: tuple[MapSpec, ...] = (layout.PAIRS, layout.POLICY)
"""The maps `policy_entries` fills: what differs from one cluster to the next."""
_MAP_ORDER = {spec.name: index for index, spec in enumerate(layout.MAPS)}


@dataclass(frozen=True)
class SeedEntry:
    """One `map update`: encoded key and value, their decoded fields, and where they came from."""

    map: MapSpec
    key: bytes
    value: bytes
    source: str
    fields: tuple[tuple[str, Any], ...]

    def sort_key(self) -> tuple[int, bytes, bytes]:
        # LPM keys start with a little-endian prefixlen: order by the data, then the length.
        if self.map.type == "lpm_trie":
            return _MAP_ORDER[self.map.name], self.key[4:], self.key[:4][::-1]
        return _MAP_ORDER[self.map.name], self.key[::-1], b""


def seed_entries(
    clusters: Sequence[GuardCluster],
    rules: Sequence[GuardRule],
    mode: str,
    local: int | None = None,
) -> tuple[SeedEntry, ...]:
    """Every entry the guard's maps need on the nodes of cluster id `local` (None: any node).

    Addresses and defaults cover the whole fleet (a node must recognise every peer); policy
    entries only the flows from or to `local`, which is all a node of it can see.
    """
    return shared_entries(clusters, mode) + policy_entries(clusters, rules, local)


def shared_entries(clusters: Sequence[GuardCluster], mode: str) -> tuple[SeedEntry, ...]:
    """The entries every node of the fleet gets (config, defaults, addresses), sorted."""
    entries = [_config(mode)]
    for cluster in sorted(clusters, key=lambda c: c.id):
        entries.append(
            _entry(
                layout.DEFAULTS,
                {"index": cluster.id},
                {"rule_id": layout.RULE_DEFAULT, "action": layout.ACTION_PASS},
                f"default for traffic to {cluster.name}: pass (Cilium decides)",
            )
        )
    for address in address_table(clusters):
        network = address.network
        family = layout.FAMILY_V4 if network.version == 4 else layout.FAMILY_V6
        entries.append(
            _entry(
                layout.CIDRS,
                {
                    "prefixlen": layout.CIDR_HEADER_BITS + network.prefixlen,
                    "family": family,
                    "addr": network.network_address.packed,
                },
                {"cluster_id": address.cluster_id, "kind": address.kind},
                f"{network} -> {layout.KIND_NAMES[address.kind]} of cluster {address.cluster_id}"
                f" ({'; '.join(address.sources)})",
                {"addr": str(network)},
            )
        )
    return tuple(sorted(entries, key=SeedEntry.sort_key))


def policy_entries(
    clusters: Sequence[GuardCluster], rules: Sequence[GuardRule], local: int | None = None
) -> tuple[SeedEntry, ...]:
    """The guard_pairs and guard_policy entries of the flows from or to `local` (None: every
    flow), sorted."""
    names = {cluster.id: cluster.name for cluster in clusters}
    policy: dict[bytes, SeedEntry] = {}
    covering: dict[tuple[int, int], list[GuardRule]] = {}
    for rule in sorted(rules, key=lambda r: r.id):
        for src, dst in _pairs(rule, local):
            covering.setdefault((src, dst), []).append(rule)
            for entry in _policy_entries(rule, src, dst, names):
                policy.setdefault(entry.key, entry)  # the same key: the first rule counts
    pairs = [
        _entry(
            layout.PAIRS,
            {"src_cluster": src, "dst_cluster": dst},
            {"rules": len(found)},
            f"{names.get(src, src)} -> {names.get(dst, dst)} is covered by "
            + ", ".join(f"{rule.name} (rule {rule.id})" for rule in found),
        )
        for (src, dst), found in covering.items()
    ]
    return tuple(sorted((*pairs, *policy.values()), key=SeedEntry.sort_key))


def _pairs(rule: GuardRule, local: int | None) -> list[tuple[int, int]]:
    if local is None:
        return [(src, dst) for src in sorted(set(rule.src)) for dst in sorted(set(rule.dst))]
    pairs: set[tuple[int, int]] = set()
    if local in rule.src:
        pairs.update((local, dst) for dst in rule.dst)
    if local in rule.dst:
        pairs.update((src, local) for src in rule.src)
    return sorted(pairs)


def _policy_entries(rule: GuardRule, src: int, dst: int, names: dict[int, str]) -> list[SeedEntry]:
    flow = f"policy {rule.name} (rule {rule.id}): {names.get(src, src)} -> {names.get(dst, dst)}"
    value = {"rule_id": rule.id, "action": layout.ACTION_DROP}
    pair = {"src_cluster": src, "dst_cluster": dst}
    if rule.ports is None:
        key = {"prefixlen": layout.POLICY_PAIR_BITS, **pair}
        return [_entry(layout.POLICY, key, value, f"{flow}, every packet")]
    out = []
    for ports in rule.ports:
        for proto in expand_protocol(ports.protocol):
            for first, bits in port_blocks(ports.low, ports.high):
                last = first + (1 << bits) - 1
                span = str(first) if bits == 0 else f"{first}-{last}"
                key = {
                    "prefixlen": layout.POLICY_FULL_BITS - bits,
                    **pair,
                    "proto": proto,
                    "dport": first,
                }
                source = f"{flow}, {span}/{PROTOCOL_NAMES[proto]} (of {ports})"
                out.append(_entry(layout.POLICY, key, value, source))
    return out


def _config(mode: str) -> SeedEntry:
    return _entry(
        layout.CONFIG_MAP,
        {"index": 0},
        {"mode": layout.MODES.get(mode, layout.MODE_AUDIT)},
        f"spec.guard.mode: {mode}",
    )


def _entry(
    spec: MapSpec,
    key: Mapping[str, int | bytes],
    value: Mapping[str, int | bytes],
    source: str,
    shown: dict[str, Any] | None = None,
) -> SeedEntry:
    fields = {
        **{f"key.{k}": v for k, v in key.items()},
        **{f"value.{k}": v for k, v in value.items()},
    }
    for name, text in (shown or {}).items():
        fields[f"key.{name}"] = text
    return SeedEntry(
        spec, spec.key.encode(key), spec.value.encode(value), source, tuple(fields.items())
    )


def _hex(data: bytes) -> str:
    return " ".join(f"{byte:02x}" for byte in data)


def render_batch(
    entries: Sequence[SeedEntry], header: Sequence[str], pin_dir: str = DEFAULT_PIN_DIR
) -> str:
    """The seed as a `bpftool batch file`: a comment per entry, then its `map update`."""
    lines = [f"# {line}" if line else "#" for line in header]
    return "\n".join(lines) + "\n" + batch_body(entries, pin_dir)


def batch_body(entries: Sequence[SeedEntry], pin_dir: str = DEFAULT_PIN_DIR) -> str:
    lines = []
    for entry in entries:
        lines.append(f"# {entry.source}")
        lines.append(
            f"map update pinned {pin_dir}/{entry.map.name}"
            f" key hex {_hex(entry.key)} value hex {_hex(entry.value)}"
        )
    return "".join(line + "\n" for line in lines)


def render_json(entries: Sequence[SeedEntry], meta: Mapping[str, Any]) -> str:
    """The same entries for people and tools: decoded fields next to the exact bytes.

    One entry per line (compact, keys sorted) keeps big seeds quick to write and their diffs
    readable; the whole is one JSON document.
    """
    rows: dict[str, list[str]] = {spec.name: [] for spec in layout.MAPS}
    for entry in entries:
        rows[entry.map.name].append(json_row(entry))
    return json_document(meta, rows)


def json_row(entry: SeedEntry) -> str:
    return json.dumps(
        {
            "source": entry.source,
            "key": _decoded(entry, "key."),
            "value": _decoded(entry, "value."),
            "keyHex": entry.key.hex(),
            "valueHex": entry.value.hex(),
        },
        sort_keys=True,
        separators=(", ", ": "),
    )


def json_document(
    meta: Mapping[str, Any],
    rows: Mapping[str, Sequence[str]],
    maps: Sequence[MapSpec] = layout.MAPS,
) -> str:
    """Assemble the twin from `meta` and each map's pre-rendered entry rows. Of `maps`, those
    the program writes are listed only when given rows."""
    lines = ["{"]
    for name in sorted(meta):
        lines.append(f"  {json.dumps(name)}: {json.dumps(meta[name], sort_keys=True)},")
    lines.append('  "maps": {')
    shown = [s for s in maps if rows.get(s.name) or s not in layout.PROGRAM_WRITTEN]
    for index, spec in enumerate(shown):
        head = f'    "{spec.name}": {{"type": "{spec.type}", "maxEntries": {spec.max_entries},'
        entries = rows.get(spec.name, ())
        if not entries:
            lines.append(f'{head} "entries": []}}')
        else:
            lines.append(f'{head} "entries": [')
            lines.append(",\n".join(f"      {row}" for row in entries))
            lines.append("    ]}")
        if index < len(shown) - 1:
            lines[-1] += ","
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _decoded(entry: SeedEntry, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in entry.fields:
        if name.startswith(prefix):
            out[name[len(prefix) :]] = value.hex() if isinstance(value, bytes) else value
    return out
