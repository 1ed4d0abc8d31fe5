"""The loader DaemonSet's script, run for real against a private bpffs (no devices attached).

It must load and pin the program on first start, and on every start leave the maps holding
exactly the current seed: entries a new seed drops are deleted, the program is not reloaded
(so the guard never fails open during an update). Attaching to devices is not exercised:
the script is given no devices, because this machine's interfaces are not ours to touch.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from compiler.guard import GuardCluster, GuardRule, render_seed
from compiler.guard.delivery import LOADER_SCRIPT, SEED_BATCH
from compiler.model.types import PortRange
from tests.conftest import missing, require_tool
from tests.guard_support import batch_commands, bpf_permitted, build, private_bpffs

pytestmark = pytest.mark.kernel

CLUSTERS = (
    GuardCluster("a", 1, ("10.1.0.0/16", "fd00:1::/48"), ("172.16.1.0/24",)),
    GuardCluster("b", 2, ("10.2.0.0/16",)),
)
BEFORE = (
    GuardRule(1, "a-to-b", (1,), (2,), (PortRange("TCP", 8000, 8100),)),
    GuardRule(2, "b-to-a", (2,), (1,), None),
)
AFTER = (GuardRule(1, "a-to-b", (1,), (2,), (PortRange("UDP", 53, 53),)),)
AFTER_CLUSTERS = (GuardCluster("a", 1, ("10.1.0.0/16",)), CLUSTERS[1])


def _run(pin_dir: Path, bpffs: Path, obj: Path, seeds: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "BPFFS": str(bpffs),
        "PIN_DIR": str(pin_dir),
        "OBJECT": str(obj),
        "SEED_DIR": str(seeds),
        "SEED_BATCH": SEED_BATCH,
        "GUARD_DEVICES": "",
        "GUARD_EXTRA_DEVICES": "",
        "GUARD_ONESHOT": "1",
    }
    result = subprocess.run(
        ["sh", "-c", LOADER_SCRIPT], env=env, capture_output=True, text=True, cwd=seeds
    )
    assert result.returncode == 0, result.stderr


def _dump(path: Path) -> set[tuple[str, str]]:
    out = subprocess.run(
        ["bpftool", "map", "dump", "pinned", str(path), "-j"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {
        ("".join(b[2:] for b in row["key"]), "".join(b[2:] for b in row["value"]))
        for row in json.loads(out)
    }


def _prog_id(path: Path) -> int:
    out = subprocess.run(
        ["bpftool", "prog", "show", "pinned", str(path), "-j"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(json.loads(out)["id"])


def test_guard_loader_script_reconciles_maps(tmp_path: Path) -> None:
    for tool in ("make", "clang", "bpftool", "jq", "mountpoint", "comm", "sed", "sh"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the loader test needs root (bpf(), mounting a bpffs)")
    reason = bpf_permitted()
    if reason:
        missing(reason)
    obj = build(tmp_path / "build")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    with private_bpffs() as fs:
        pin_dir = fs / "fleet-guard"
        prog_id = None
        for clusters, rules in ((CLUSTERS, BEFORE), (AFTER_CLUSTERS, AFTER)):
            batch, _ = render_seed(clusters, rules, clusters[0], "audit", "f", str(pin_dir))
            (seeds / SEED_BATCH).write_text(batch)
            _run(pin_dir, fs, obj, seeds)
            expected: dict[str, set[tuple[str, str]]] = {}
            for name, key, value in batch_commands(batch):
                expected.setdefault(name, set()).add((key.hex(), value.hex()))
            for name in ("guard_cidrs", "guard_pairs", "guard_policy"):
                assert _dump(pin_dir / name) == expected[name], name
            current = _prog_id(pin_dir / "prog")
            assert prog_id in (None, current)  # loaded once, kept across seed updates
            prog_id = current
