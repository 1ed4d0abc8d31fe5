"""The loader DaemonSet's script, run for real against a private bpffs, and its image.

It must load and pin the program on first start, and on every start leave the maps holding
exactly the current seed: entries a new seed drops are deleted, the program is not reloaded
(so the guard never fails open during an update). Here the script is given no devices (this
machine's interfaces are not ours to touch); test_guard_tcx.py runs its attaching on a veth
pair in network namespaces of its own. The loader image (bpf/Containerfile) must carry what
the script runs, where the DaemonSet looks for it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from compiler.guard import GuardCluster, GuardRule, render_seed
from compiler.guard.delivery import LOADER_SCRIPT, OBJECT, SEED_BATCH
from compiler.model.types import PortRange
from tests.conftest import missing, require_tool
from tests.guard_support import BPF_DIR, batch_commands, bpf_permitted, build, private_bpffs

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


@pytest.mark.kernel
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


def test_guard_loader_image_carries_what_the_script_runs() -> None:
    text = (BPF_DIR / "Containerfile").read_text()
    stages = text.split("\nFROM ")[1:]
    assert len(stages) == 2, "a build stage and the image"
    build_stage, image = stages
    # The build stage gets every source the Makefile compiles, and builds both targets.
    sources = {p.name for p in BPF_DIR.iterdir() if p.suffix in (".c", ".h")} | {"Makefile"}
    copy = next(line for line in build_stage.splitlines() if line.startswith("COPY "))
    assert set(copy.split()[1:-1]) == sources
    assert "make BUILD=/out all" in build_stage
    # The image has the object where the DaemonSet's OBJECT points, guard-attach on PATH, and
    # the packages of the other tools the script calls by name (the rest are in every Debian).
    assert f"COPY --from=build /out/guard.o {OBJECT}\n" in image
    assert "COPY --from=build /out/guard-attach /usr/local/bin/guard-attach\n" in image
    install = next(line for line in image.splitlines() if "apt-get install" in line)
    for tool, package in (("bpftool", "bpftool"), ("tc", "iproute2"), ("ip", "iproute2")):
        assert f"{tool} " in LOADER_SCRIPT and f" {package}" in install, tool
    assert "jq -r" in LOADER_SCRIPT and " jq" in install
    assert "guard-attach " in LOADER_SCRIPT
