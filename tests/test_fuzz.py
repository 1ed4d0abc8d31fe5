"""Fuzzing load + validate + resolve + render: any exception that escapes is a bug.

Two generators, both seeded from the example fleets: structure-aware mutations (replace,
delete or duplicate any node of the parsed tree with hostile values, then dump it as YAML) and
byte-level mutations of the source text. Every input must end in diagnostics or in output,
never in an exception. CI runs a bounded number of inputs; set FLEETC_FUZZ_EXAMPLES for longer
runs locally (e.g. 20000).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import Diagnostics
from compiler.load import load
from compiler.pipeline import compile_fleet
from tests.conftest import FLEETS

# celpy raises the recursion limit on first import; hypothesis warns that it cannot restore it.
pytestmark = pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")

EXAMPLES = int(os.environ.get("FLEETC_FUZZ_EXAMPLES", "300"))
SEEDS = sorted(FLEETS.glob("*/fleet.yaml"))
SEED_TEXT = {p.parent.name: p.read_text() for p in SEEDS}
SEED_DATA = {name: load(text.encode(), "fleet.yaml").data for name, text in SEED_TEXT.items()}

STATS = {"structured": 0, "bytes": 0, "compiled": 0}

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "no",
            "on",
            "default",
            "../../etc/passwd",
            "a" * 300,
            "10.0.0.0/8",
            "::/0",
            "0.0.0.0/0",
            "::ffff:10.0.0.0/104",
            "10.1.0.1/16",
            "443/TCP",
            "0-70000/UDP",
            "eu-payments",
            "payments/payments",
            "api/gateway@us-api",
            "\uff45\uff55-payments",  # full-width look-alike
            "size(fleet.clusters) > 0",
            "fleet.clusters.all(a, fleet.clusters.all(b, fleet.clusters.all(c, true)))",
            "\u202e",
            "x\ty",
            # issue 15: zoned IPv6, newlines in names and keys, secrets, long values
            "fe80::%eth0/64",
            "fe80::1%eth0",
            "web\n",
            "a\nb",
            "example.com/" + "a" * 64,
            "-----BEGIN PRIVATE KEY-----",
            "AKIAIOSFODNN7EXAMPLE",
            "x" * 5000,
        ]
    ),
    st.text(max_size=20),
)
hostile_keys = st.one_of(
    st.text(max_size=8), st.sampled_from(["a\nb", "a b", "example.com/ok", "x" * 300, "-"])
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_keys, inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _mutate(data: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    data = json.loads(json.dumps(data))
    if not path:
        return value
    parent = data
    for item in path[:-1]:
        parent = parent[item]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(json.loads(json.dumps(parent[last])))
    else:
        parent[last] = value
    return data


def _run(data: bytes) -> None:
    diags = Diagnostics()
    compiled = compile_fleet(data, "fleet.yaml", diags)  # must not raise
    for d in diags.sorted():  # every finding is one bounded line that never quotes a secret
        for text in (d.message, d.hint or ""):
            assert text.isprintable() and len(text) <= 600, text[:200]
            assert "PRIVATE KEY" not in text and "IOSFODNN7EXAMPLE" not in text, text
    if compiled is None:
        assert diags.has_errors, "no output and no error"
    else:
        STATS["compiled"] += 1
        assert not diags.has_errors
        paths = [f.path for f in compiled.files]
        assert len(paths) == len(set(paths)), "two files at one path"
        for p in paths:
            assert not p.startswith("/") and ".." not in p.split("/"), p


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_structured_mutations_never_crash(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SEED_DATA)))
    tree = SEED_DATA[name]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(tree)))
        op = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if op == "delete" and not path:
            op = "replace"
        tree = _mutate(tree, path, op, data.draw(hostile_values))
    STATS["structured"] += 1
    _run(json.dumps(tree, allow_nan=True).encode())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_byte_mutations_never_crash(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SEED_TEXT)))
    raw = bytearray(SEED_TEXT[name].encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["insert", "delete", "flip"]))
        chunk = data.draw(
            st.sampled_from(
                [
                    b":",
                    b"-",
                    b" ",
                    b"\n",
                    b"\t",
                    b"&a",
                    b"*a",
                    b"[",
                    b"{",
                    b"'",
                    b'"',
                    b"\xff",
                    b"\x00",
                    b"!!",
                    b"<<: *a\n",
                ]
            )
        )
        if op == "insert":
            raw[at:at] = chunk
        elif op == "delete":
            del raw[at : at + data.draw(st.integers(1, 20))]
        elif at < len(raw):
            raw[at] ^= data.draw(st.integers(1, 255))
    STATS["bytes"] += 1
    _run(bytes(raw))


def test_report_fuzz_counts() -> None:
    # A visible line in the test log of how much fuzzing ran in this session.
    print(f"fuzz inputs: {STATS}")
