"""The guard's map ABI is defined once: Python's layout table equals the compiled object.

The object is built with clang from bpf/; its BTF (read with bpftool) must give every struct
the encoder writes the same members, offsets, sizes and byte order, and every map the type,
key, value, flags and max_entries the seeds assume. The header's constants must equal
Python's too, so nothing the kernel reads can drift from what fleetc writes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compiler.guard import layout
from tests.conftest import require_tool
from tests.guard_support import BPF_DIR, build

MAP_TYPES = {"hash": 1, "array": 2, "percpu_array": 6, "lru_hash": 9, "lpm_trie": 11}


@pytest.fixture(scope="module")
def btf(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    for tool in ("make", "clang", "bpftool"):
        require_tool(tool)
    obj = build(tmp_path_factory.mktemp("guard_build"))
    dump = subprocess.run(
        ["bpftool", "btf", "dump", "file", str(obj), "format", "raw", "-j"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {t["id"]: t for t in json.loads(dump)["types"]}


def _named(types: dict[int, dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [t for t in types.values() if t["kind"] == kind and t["name"] == name]
    assert len(found) == 1, f"{kind} {name} in BTF: {len(found)} found"
    return found[0]


def _shape(types: dict[int, dict[str, Any]], type_id: int) -> tuple[int, int, bool]:
    """(element size, element count, big-endian) of a member type, through typedefs."""
    big_endian = False
    t = types[type_id]
    count = 1
    while True:
        if t["kind"] == "TYPEDEF":
            big_endian |= t["name"].startswith("__be")
            t = types[t["type_id"]]
        elif t["kind"] in ("CONST", "VOLATILE"):
            t = types[t["type_id"]]
        elif t["kind"] == "ARRAY":
            count *= t["nr_elems"]
            t = types[t["type_id"]]
        elif t["kind"] in ("INT", "STRUCT"):
            return t["size"], count, big_endian
        else:
            raise AssertionError(f"unexpected member type {t}")


@pytest.mark.parametrize("spec", layout.STRUCTS, ids=lambda s: s.name)
def test_guard_struct_matches_btf(btf: dict[int, dict[str, Any]], spec: layout.Struct) -> None:
    struct = _named(btf, "STRUCT", spec.name)
    assert struct["size"] == spec.size
    offsets = spec.offsets()
    members = struct["members"]
    assert [m["name"] for m in members] == [f.name for f in spec.fields]
    for member, field in zip(members, spec.fields, strict=True):
        assert member["bits_offset"] == offsets[field.name] * 8, field.name
        assert _shape(btf, member["type_id"]) == (field.size, field.count, field.big_endian), (
            f"{spec.name}.{field.name}"
        )


def _pointee(types: dict[int, dict[str, Any]], member: dict[str, Any]) -> dict[str, Any]:
    pointer = types[member["type_id"]]
    assert pointer["kind"] == "PTR"
    return types[pointer["type_id"]]


@pytest.mark.parametrize("spec", layout.MAPS, ids=lambda s: s.name)
def test_guard_map_definition_matches_btf(
    btf: dict[int, dict[str, Any]], spec: layout.MapSpec
) -> None:
    var = _named(btf, "VAR", spec.name)
    members = {m["name"]: m for m in btf[var["type_id"]]["members"]}

    def number(name: str) -> int:
        if name not in members:
            return 0
        array = _pointee(btf, members[name])
        assert array["kind"] == "ARRAY"
        return int(array["nr_elems"])

    assert number("type") == MAP_TYPES[spec.type]
    assert number("max_entries") == spec.max_entries
    assert number("map_flags") == spec.flags
    for part, struct in (("key", spec.key), ("value", spec.value)):
        target = _pointee(btf, members[part])
        assert target["name"] == struct.name
        size, count, _ = _shape(btf, target["id"])
        assert size * count == struct.size


def _defines() -> dict[str, int]:
    text = (BPF_DIR / "guard.h").read_text()
    return {m[1]: int(m[2], 0) for m in re.finditer(r"#define (GUARD_\w+) (\w+)", text)}


def test_guard_header_constants_match_python() -> None:
    defines = _defines()
    expected = {
        "GUARD_MAX_CLUSTERS": layout.MAX_CLUSTERS,
        "GUARD_CIDR_ENTRIES": layout.CIDR_ENTRIES,
        "GUARD_POLICY_ENTRIES": layout.POLICY_ENTRIES,
        "GUARD_PAIR_ENTRIES": layout.PAIR_ENTRIES,
        "GUARD_MAX_RULES": layout.MAX_RULES,
        "GUARD_FLOW_ENTRIES": layout.FLOW_ENTRIES,
        "GUARD_FAMILY_V4": layout.FAMILY_V4,
        "GUARD_FAMILY_V6": layout.FAMILY_V6,
        "GUARD_KIND_NONE": layout.KIND_NONE,
        "GUARD_KIND_POD": layout.KIND_POD,
        "GUARD_KIND_NODE": layout.KIND_NODE,
        "GUARD_ACTION_PASS": layout.ACTION_PASS,
        "GUARD_ACTION_DROP": layout.ACTION_DROP,
        "GUARD_MODE_AUDIT": layout.MODE_AUDIT,
        "GUARD_MODE_ENFORCE": layout.MODE_ENFORCE,
        "GUARD_RULE_DEFAULT": layout.RULE_DEFAULT,
    }
    assert {k: v for k, v in defines.items() if k in expected} == expected
    assert set(defines) - set(expected) == set(), "a new constant needs its Python twin"


def test_guard_struct_encoding_round_trips() -> None:
    key = layout.POLICY_KEY.encode(
        {"prefixlen": 64, "src_cluster": 10, "dst_cluster": 1, "dport": 443}
    )
    assert key.hex() == "40000000000a0001000001bb"
    assert layout.POLICY_KEY.decode(key)["dport"] == 443
    with pytest.raises(KeyError):
        layout.VERDICT.encode({"rule": 1})


def test_guard_btf_source_is_the_committed_header() -> None:
    # The object is built from bpf/ itself (not a copy), so the BTF test proves the header.
    assert Path(BPF_DIR / "guard.bpf.c").read_text().count('#include "guard.h"') == 1
