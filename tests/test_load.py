"""The loader: the C parser, positions, YAML 1.2 scalars, merge keys and the hostile-input limits."""

from __future__ import annotations

import io
import math
import time
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.diagnostics import FleetError, Position
from compiler.load import Document, Limits, load
from compiler.load.yaml import new_yaml

DEFAULT = Limits()


def loads(text: str, limits: Limits = DEFAULT) -> Document:
    return load(text.encode(), "f.yaml", limits)


def codes(text: str | bytes, limits: Limits = DEFAULT) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(FleetError) as info:
        load(data, "f.yaml", limits)
    return [d.code for d in info.value.diagnostics.sorted()]


def test_the_c_parser_is_in_use() -> None:
    from _ruamel_yaml import CParser  # the ruamel.yaml.clib extension

    assert new_yaml().Parser is CParser


def test_positions_of_keys_and_values() -> None:
    doc = loads(
        "a:\n  b: 1\n  list:\n    - x\n    - {k: \"v\", n: [1, 2]}\nflow: [10.0.0.0/8, 'q']\n"
    )
    assert doc.data == {
        "a": {"b": 1, "list": ["x", {"k": "v", "n": [1, 2]}]},
        "flow": ["10.0.0.0/8", "q"],
    }
    at = doc.position
    assert at(("a", "b")) == Position("f.yaml", 2, 6)
    assert doc.key_position(("a", "b")) == Position("f.yaml", 2, 3)
    assert at(("a", "list", 0)) == Position("f.yaml", 4, 7)
    assert at(("a", "list", 1)) == Position("f.yaml", 5, 7)
    assert at(("a", "list", 1, "k")) == Position("f.yaml", 5, 11)  # the opening quote
    assert doc.key_position(("a", "list", 1, "n")) == Position("f.yaml", 5, 16)
    assert at(("a", "list", 1, "n", 1)) == Position("f.yaml", 5, 23)
    assert at(("flow", 1)) == Position("f.yaml", 6, 20)
    # a path that goes past the data stops at its deepest existing ancestor
    assert at(("a", "missing", 3)) == at(("a",))
    assert doc.exists(("a", "list", 1, "n", 0)) and not doc.exists(("a", "list", 2))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("y", "y"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("017", 17),  # YAML 1.2: decimal, not octal
        ("0o17", 15),
        ("0x1f", 31),
        ("1_000", "1_000"),
        ("1.20", 1.2),
        ("-.inf", -math.inf),
        ("'no'", "no"),
        ('"1"', "1"),
        ("!!str 1", "1"),
        ("!!int '7'", 7),
        ("2026-01-01", "2026-01-01"),  # no timestamps
        ("1:20", "1:20"),  # no sexagesimal
    ],
)
def test_yaml_1_2_scalars(text: str, value: Any) -> None:
    assert loads(f"k: {text}\n").data == {"k": value}


def test_merge_keys() -> None:
    doc = loads(
        "base: &base {a: 1, b: 2}\n"
        "more: &more {b: 3, c: 4}\n"
        "one:\n"
        "  <<: *base\n"
        "  b: 9\n"
        "two:\n"
        "  <<: [*more, *base]\n"
    )
    assert doc.data["one"] == {"a": 1, "b": 9}  # explicit keys win
    assert doc.data["two"] == {"b": 3, "c": 4, "a": 1}  # earlier sources win
    # a merged key is placed where it is merged, not at the anchor
    assert doc.key_position(("one", "a")) == Position("f.yaml", 4, 3)
    assert doc.position(("two", "a")) == Position("f.yaml", 7, 15)
    assert doc.position(("one", "b")) == Position("f.yaml", 5, 6)


def test_merge_of_a_scalar_is_an_error() -> None:
    assert codes("a: {<<: 1}\n") == ["yaml-merge"]


def test_quoted_merge_key_is_an_ordinary_key() -> None:
    assert loads("a: {'<<': 1}\n").data == {"a": {"<<": 1}}


def test_duplicate_keys_also_when_quoted_differently() -> None:
    with pytest.raises(FleetError) as info:
        loads("a: 1\nb: 2\n'a': 3\n")
    (diag,) = info.value.diagnostics.sorted()
    assert diag.code == "yaml-duplicate-key"
    assert diag.position == Position("f.yaml", 3, 1)
    assert diag.related[0].position == Position("f.yaml", 1, 1)


def test_aliases_share_and_are_counted() -> None:
    doc = loads("a: &x [1, 2, 3]\nb: *x\nc: *x\n")
    assert doc.data == {"a": [1, 2, 3], "b": [1, 2, 3], "c": [1, 2, 3]}
    # each use counts as the full expansion: 4 nodes per use, 3 uses, plus the root and keys
    assert codes("a: &x [1, 2, 3]\nb: *x\nc: *x\n", Limits(max_nodes=12)) == ["load-too-many-nodes"]
    loads("a: &x [1, 2, 3]\nb: *x\nc: *x\n", Limits(max_nodes=20))


def _bomb(levels: int) -> str:
    text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


def test_alias_bomb_fails_fast_in_little_memory() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        assert codes(_bomb(12)) == ["load-too-many-nodes"]  # 9**12 nodes if expanded
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 20 * 1024 * 1024


def test_depth_limit() -> None:
    assert loads("a: " + "[" * 63 + "]" * 63 + "\n").data["a"] is not None
    assert codes("a: " + "[" * 64 + "]" * 64 + "\n") == ["load-too-deep"]
    assert codes("a: {b: {c: 1}}\n", Limits(max_depth=2)) == ["load-too-deep"]
    # deep enough to blow Python's recursion if anything recursed over it
    assert codes("[" * 100_000 + "]" * 100_000) == ["load-too-deep"]


def test_size_limits() -> None:
    text = "a: " + "x" * 100 + "\n"
    assert codes(text, Limits(max_bytes=len(text) - 1)) == ["load-too-large"]
    loads(text, Limits(max_bytes=len(text)))
    assert codes(text, Limits(max_scalar=99)) == ["load-scalar-too-large"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "load-empty"),
        (b"# only a comment\n", "load-empty"),
        (b"- a\n", "load-not-mapping"),
        (b"a: 1\n---\nb: 2\n", "yaml-multiple-documents"),
        (b"a:\n\tb: 1\n", "yaml-tab"),
        (b"a: \xff\n", "load-encoding"),
        (b"a: [1\n", "yaml-syntax"),
        (b"a: *nope\n", "yaml-alias"),
        (b"a: !custom 1\n", "yaml-tag"),
        (b"a: &x {b: *x}\n", "yaml-alias"),
    ],
)
def test_bad_input_codes(data: bytes, code: str) -> None:
    assert codes(data) == [code]


def test_bom_is_accepted() -> None:
    doc = load(b"\xef\xbb\xbfa: 1\n", "f.yaml")
    assert doc.data == {"a": 1}
    assert doc.position(("a",)) == Position("f.yaml", 1, 4)


# JSON-like data: what a fleet is made of. NaN is left out (it never equals itself) and text
# is printable (control characters are refused by design).
_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff"),
    max_size=20,
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | _text
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(_text, _json, min_size=1, max_size=5))
def test_load_round_trips_json_like_data(data: dict[str, Any]) -> None:
    # Block style: ruamel's emitter writes some flow-style plain scalars (``{'': 0:0}``)
    # that libyaml, stricter there than ruamel's own parser, rejects as YAML.
    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = False
    dumper.width = 4096
    buffer = io.StringIO()
    dumper.dump(data, buffer)
    assert loads(buffer.getvalue()).data == data


@pytest.mark.parametrize("key", ["1", "1.5", "true", "~", "null"])
def test_keys_are_strings(key: str) -> None:
    # 1, 1.0 and true would collide as one key in a Python dict; every fleet key is text
    assert codes(f"a: 1\n{key}: 2\n") == ["yaml-key-type"]
    assert loads(f'a: 1\n"{key}": 2\n').data == {"a": 1, key: 2}


def test_positions_inside_an_alias_are_the_alias() -> None:
    doc = loads("a: &x {b: {c: 1}}\nd: *x\ne:\n  <<: *x\n")
    assert doc.data["d"] is doc.data["a"]
    assert doc.position(("a", "b", "c")) == Position("f.yaml", 1, 15)
    # the shared mapping's own positions are the anchor's: a path through the alias
    # stops at the alias, the place where this copy is made
    assert doc.position(("d", "b", "c")) == Position("f.yaml", 2, 4)
    assert doc.position(("e", "b", "c")) == Position("f.yaml", 4, 7)
