"""The rendered bytes depend on the fleet's meaning only: not on how fleet.yaml is written
(comments, key order, flow or block style) nor on how its path is spelled."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.load.yaml import load
from tests.conftest import FLEETS
from tests.emit_support import snapshot
from tests.test_goldens import render_bytes

COMMENTS = ["# a comment", "#", "# key: value  # not data", "# ---"]


def _scalar(value: Any) -> str:
    # JSON scalars are YAML scalars with the same meaning (strings double-quoted)
    return json.dumps(value)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _block(value: Any, indent: int, rng: random.Random, out: list[str]) -> None:
    pad = " " * indent
    items: list[tuple[str, Any]]
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        items = [(f"{_scalar(k)}:", value[k]) for k in keys]
    else:
        items = [("-", v) for v in value]
    for lead, child in items:
        if rng.random() < 0.2:
            out.append(pad + rng.choice(COMMENTS))
        trailer = f"  {rng.choice(COMMENTS)}" if rng.random() < 0.2 else ""
        if isinstance(child, (dict, list)) and child and rng.random() < 0.6:
            out.append(pad + lead + trailer)
            _block(child, indent + 2, rng, out)
        else:
            out.append(f"{pad}{lead} {_flow(child)}{trailer}")


def rewritten(data: bytes, rng: random.Random) -> bytes:
    """The same fleet written differently: keys shuffled, styles mixed, comments sprinkled."""
    plain = load(data, "fleet.yaml").data
    out = [rng.choice(COMMENTS)] if rng.random() < 0.5 else []
    _block(plain, 0, rng, out)
    return ("\n".join(out) + "\n").encode()


def _property(example: str, rng: random.Random) -> None:
    data = (FLEETS / example / "fleet.yaml").read_bytes()
    variant = rewritten(data, rng)
    assert load(variant, "fleet.yaml").data == load(data, "fleet.yaml").data
    assert render_bytes(variant) == render_bytes(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_writing_style_never_changes_output(rng: random.Random) -> None:
    _property("minimal", rng)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(st.randoms(use_true_random=False))
def test_writing_style_never_changes_output_with_policies(rng: random.Random) -> None:
    _property("contoso", rng)


def test_a_comment_only_edit_leaves_render_check_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = (FLEETS / "minimal" / "fleet.yaml").read_bytes()
    (tmp_path / "fleet.yaml").write_bytes(data)
    assert main(["render", "fleet.yaml", "--out", "rendered"]) == 0
    (tmp_path / "fleet.yaml").write_bytes(b"# reviewed\n" + data.replace(b"\n", b"  # x\n", 3))
    assert main(["render", "fleet.yaml", "--out", "rendered", "--check"]) == 0


@pytest.mark.parametrize("spelling", ["fleet.yaml", "./fleet.yaml", "a/../fleet.yaml", "ABS"])
def test_every_spelling_of_the_path_renders_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "fleet.yaml").write_bytes((FLEETS / "contoso" / "fleet.yaml").read_bytes())
    path = str(tmp_path / "fleet.yaml") if spelling == "ABS" else spelling
    assert main(["render", path, "--out", "out"]) == 0
    tree = snapshot(tmp_path / "out")
    assert tree == render_bytes((tmp_path / "fleet.yaml").read_bytes())
    assert not any(str(tmp_path).encode() in data for data in tree.values())


def test_a_fleet_outside_the_working_directory_is_never_named_absolutely(tmp_path: Path) -> None:
    from compiler.commands.common import source_name

    elsewhere = tmp_path / "repo" / "fleets"
    elsewhere.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    here = tmp_path / "cwd"
    here.mkdir()
    old = os.getcwd()
    try:
        os.chdir(here)
        assert source_name(str(elsewhere / "fleet.yaml")) == "fleets/fleet.yaml"
        assert source_name(str(tmp_path / "fleet.yaml")) == "fleet.yaml"
        assert not source_name(sys.executable).startswith("/")
    finally:
        os.chdir(old)
