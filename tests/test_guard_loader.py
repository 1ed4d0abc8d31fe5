"""The loader DaemonSet's script, run for real against a private bpffs, and its image.

It must load and pin the program on first start, and on every start leave the maps holding
exactly the current seed, the union of its two files (the fleet-wide fleet.batch and the
cluster's guard.batch): entries a new seed drops are deleted, an entry that moved from one
file to the other is kept, the program is not reloaded (so the guard never fails open during
an update). Here the script is given no devices (this
machine's interfaces are not ours to touch); test_guard_tcx.py runs its attaching on a veth
pair in network namespaces of its own. The loader image (bpf/Containerfile) must carry what
the script runs, where the DaemonSet looks for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.guard import GuardCluster, GuardRule
from compiler.guard.delivery import FLEET_BATCH, LOADER_SCRIPT, OBJECT, SEED_BATCH
from compiler.model.types import PortRange
from tests.conftest import missing, require_tool
from tests.guard_support import (
    BPF_DIR,
    batch_commands,
    bpf_permitted,
    build,
    node_batches,
    private_bpffs,
)

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


def _run(pin_dir: Path, bpffs: Path, obj: Path, seeds: Path, tools: Path) -> None:
    env = {
        "PATH": f"{tools}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
        "BPFFS": str(bpffs),
        "PIN_DIR": str(pin_dir),
        "OBJECT": str(obj),
        "SEED_DIR": str(seeds),
        "FLEET_BATCH": FLEET_BATCH,
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
    # The real bpftool, behind a wrapper that keeps every batch file the script applies: the
    # maps' end state alone would not show an entry deleted and then put back (a window in
    # which the guard does not know it).
    tools, log = tmp_path / "tools", tmp_path / "batches.log"
    tools.mkdir()
    wrapper = tools / "bpftool"
    real = shutil.which("bpftool")
    wrapper.write_text(f'#!/bin/sh\n[ "$1" != batch ] || cat "$3" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    with private_bpffs() as fs:
        pin_dir = fs / "fleet-guard"
        before = node_batches(CLUSTERS, BEFORE, CLUSTERS[0], "audit", str(pin_dir))
        after = node_batches(AFTER_CLUSTERS, AFTER, AFTER_CLUSTERS[0], "audit", str(pin_dir))
        # The same entries with one policy entry and one address moved to the other file.
        fleet, own = before
        own, fleet = _move(own, fleet, "guard_policy")  # a policy entry into fleet.batch
        fleet, own = _move(fleet, own, "guard_cidrs")  # an address into guard.batch
        prog_id = None
        held: set[tuple[str, str]] = set()  # (map, key hex) in the maps
        for fleet_batch, own_batch in (before, (fleet, own), after):
            (seeds / FLEET_BATCH).write_text(fleet_batch)
            (seeds / SEED_BATCH).write_text(own_batch)
            log.write_text("")
            _run(pin_dir, fs, obj, seeds, tools)
            expected: dict[str, set[tuple[str, str]]] = {}
            for name, key, value in batch_commands(fleet_batch) + batch_commands(own_batch):
                expected.setdefault(name, set()).add((key.hex(), value.hex()))
            for name in ("guard_cidrs", "guard_pairs", "guard_policy"):
                assert _dump(pin_dir / name) == expected[name], name
            # Deleted: exactly what was held and neither file has (nothing that only moved).
            wanted = {(name, key) for name, keys in expected.items() for key, _ in keys}
            assert _deleted(log.read_text()) == held - wanted
            held = {
                (n, k)
                for n in ("guard_cidrs", "guard_pairs", "guard_policy")
                for k, _ in expected[n]
            }
            current = _prog_id(pin_dir / "prog")
            assert prog_id in (None, current)  # loaded once, kept across seed updates
            prog_id = current


def _deleted(batches: str) -> set[tuple[str, str]]:
    """(map, key hex) of every `map delete` in the batch files the script applied."""
    out = set()
    for line in batches.splitlines():
        if line.startswith("map delete pinned "):
            words = line.split()
            out.add((words[3].rsplit("/", 1)[1], "".join(words[words.index("key") + 2 :])))
    return out


def _move(source: str, target: str, map_name: str) -> tuple[str, str]:
    """Move the first `map_name` update (and its comment) from batch `source` to `target`."""
    lines = source.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if f"/{map_name} key hex " in line)
    moved = lines[at - 1 : at + 1]
    assert moved[0].startswith("# ") and batch_commands(moved[1])
    return "".join(lines[: at - 1] + lines[at + 1 :]), target + "".join(moved)


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
