"""The written layout (`compiler.render.pack`): what clusters share is written once, in
content-addressed kustomize bases under ``shared/``, and every cluster root still builds,
with real ``kubectl kustomize``, exactly the objects of the logical (one directory per
cluster, everything in it) view."""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.fleetgen import generate
from compiler.diagnostics import Diagnostics
from compiler.emit.serialize import build_tree
from compiler.pipeline import Compiled, compile_fleet
from compiler.render.output import File
from compiler.render.pack import SHARED_DIR, pack, references
from tests.conftest import require_tool
from tests.render_support import compile_data, fleet_data


def _compiled(text: str) -> Compiled:
    diags = Diagnostics()
    compiled = compile_fleet(text.encode(), "fleet.yaml", diags)
    assert compiled is not None, [str(d) for d in diags.items]
    return compiled


def _mixed() -> Compiled:
    """contoso with a complete HelmRelease, annotation-mode services (a Component per
    namespace, which stays in its cluster) and one cluster on the list-form Cilium 1.18."""
    data = fleet_data()
    data["spec"]["cilium"]["helmRelease"] = {"enabled": True}
    data["spec"]["mesh"]["serviceDiscovery"] = "annotations"
    data["spec"]["clusters"][1]["ciliumVersion"] = "1.18"
    return compile_data(data)


CASES = {
    "contoso": lambda: compile_data(fleet_data()),
    "minimal": lambda: compile_data(fleet_data("minimal")),
    "mixed": _mixed,
    "synthetic": lambda: _compiled(generate(12, 80, 40, cel=False, seed=3)),
}


def _write(files: tuple[File, ...] | list[File], root: Path) -> dict[str, bytes]:
    tree = build_tree(files, "fleet", "fleet.yaml", b"", "0")
    for path, data in tree.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return tree


def _build(kubectl: str, directory: Path) -> list[str]:
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{directory}: {done.stderr}"
    return sorted(json.dumps(doc, sort_keys=True) for doc in yaml.safe_load_all(done.stdout) if doc)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_root_builds_the_objects_of_the_logical_view(case: str, tmp_path: Path) -> None:
    kubectl = require_tool("kubectl")
    compiled = CASES[case]()
    logical = _write(compiled.files, tmp_path / "logical")
    packed = _write(pack(compiled.files, "fleet.yaml"), tmp_path / "packed")
    assert any(p.startswith(SHARED_DIR + "/") for p in packed), "nothing was shared"
    assert sum(map(len, packed.values())) < sum(map(len, logical.values()))
    for cluster in compiled.resolved.clusters:
        for root in (f"clusters/{cluster.name}", f"clusters/{cluster.name}/cilium"):
            before = _build(kubectl, tmp_path / "logical" / root)
            assert before, root
            assert _build(kubectl, tmp_path / "packed" / root) == before, root
    # files outside the roots fleetc packs are where they were, byte for byte
    for path, data in logical.items():
        if path.startswith(("bootstrap/", "flux/")) or "/global-services/" in path:
            assert packed[path] == data, path


def _units(tree: dict[str, bytes]) -> Counter[tuple[str, bytes]]:
    """(path inside the cluster directory, bytes) of every file of every cluster, bar the
    roots' own kustomization.yaml (which name the cluster)."""
    seen: Counter[tuple[str, bytes]] = Counter()
    for path, data in tree.items():
        parts = path.split("/", 2)
        if parts[0] != "clusters" or "/global-services/" in path:
            continue
        if parts[2] in ("kustomization.yaml", "cilium/kustomization.yaml"):
            continue
        seen[parts[2], data] += 1
    return seen


@pytest.mark.parametrize("case", sorted(CASES))
def test_nothing_two_clusters_share_is_written_twice(case: str) -> None:
    compiled = CASES[case]()
    logical = build_tree(compiled.files, "fleet", "fleet.yaml", b"", "0")
    packed = build_tree(pack(compiled.files, "fleet.yaml"), "fleet", "fleet.yaml", b"", "0")
    assert max(_units(logical).values()) > 1  # the case has something to share
    assert max(_units(packed).values()) == 1
    # every piece is used by two clusters or more, and every reference resolves
    users: Counter[str] = Counter()
    for path, data in packed.items():
        if path.startswith("clusters/") and path.endswith("/kustomization.yaml"):
            for piece in references(data):
                assert f"{SHARED_DIR}/{piece}/kustomization.yaml" in packed, (path, piece)
                users[piece] += 1
    pieces = {p.split("/")[1] for p in packed if p.startswith(SHARED_DIR + "/")}
    assert pieces == set(users)
    assert min(users.values()) >= 2


def test_pieces_are_named_by_their_content() -> None:
    """A changed policy renames the pieces holding its objects and no other; a name never
    stands for two contents."""
    text = generate(10, 60, 30, cel=False, seed=5)
    changed = text.replace("      action: allow\n", "      action: deny\n", 1)
    assert changed != text
    trees = [
        build_tree(pack(_compiled(t).files, "fleet.yaml"), "fleet", "fleet.yaml", b"", "0")
        for t in (text, changed)
    ]
    pieces = [{p.split("/")[1] for p in tree if p.startswith(SHARED_DIR + "/")} for tree in trees]
    kept = pieces[0] & pieces[1]
    assert kept and pieces[0] - kept  # most pieces stay, the changed ones are renamed
    assert len(pieces[0] - kept) <= 4  # one policy: its egress and ingress sides
    for path, data in trees[0].items():
        if path.startswith(SHARED_DIR + "/") and path.split("/")[1] in kept:
            assert trees[1][path] == data, path


def test_pack_does_not_depend_on_file_order() -> None:
    compiled = CASES["synthetic"]()
    reference = pack(compiled.files, "fleet.yaml")
    files = list(compiled.files)
    for seed in range(3):
        random.Random(seed).shuffle(files)
        assert pack(files, "fleet.yaml") == reference


def test_references_reads_what_pack_writes() -> None:
    packed = pack(CASES["contoso"]().files, "fleet.yaml")
    found = 0
    for file in packed:
        if file.path.startswith("clusters/") and file.path.endswith("/kustomization.yaml"):
            assert isinstance(file.content, dict)
            listed = [r.rsplit("/", 1)[1] for r in file.content["resources"] if "/shared/" in r]
            text = build_tree([file], "f", "fleet.yaml", b"", "0")[file.path]
            assert references(text) == listed
            found += len(listed)
    assert found
    assert references("resources:\n- ../../shared/abc\n- policies/x.yaml\n") == ["abc"]
    assert references("- ../x/shared/abc\n- ../../shared/a/b\n") == []


def _fleet_bytes(tree: dict[str, Any]) -> int:
    return sum(len(data) for path, data in tree.items() if not path.startswith("bootstrap/"))


def test_what_flux_applies_grows_linearly_at_equal_density() -> None:
    """Twice the clusters, services and policies: at most 2.3x the bytes Flux reads (the
    day-0 bootstrap files, one complete values file per cluster by contract, aside)."""
    sizes = []
    for clusters in (8, 16):
        compiled = _compiled(generate(clusters, clusters * 10, clusters * 4, seed=1))
        tree = build_tree(pack(compiled.files, "fleet.yaml"), "f", "fleet.yaml", b"", "0")
        sizes.append(_fleet_bytes(tree))
    assert sizes[1] <= 2.3 * sizes[0], sizes
