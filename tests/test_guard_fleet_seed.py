"""The guard's two seed files: the fleet-wide one is the same bytes in every cluster directory.

Each cluster directory gets ``guard/fleet/fleet.batch`` (and its twin ``fleet.json``), the
entries every node of the fleet holds, and ``guard/seeds/guard.batch``, the cluster's own. The
fleet-wide files must be byte-identical across the clusters of a fleet (so one shared,
content-addressed base can hold them), change only when what they encode changes, and the two
batches of a cluster must together hold exactly `seed_entries` for it: what its nodes need.
Fleets are rendered through the real pipeline and serializer, headers included. The last test
builds, with the real `kubectl kustomize`, cluster directories whose fleet-wide seed generator
(and loader DaemonSet) were moved into shared bases, as the output's packing step does.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.fleetgen import generate
from compiler.diagnostics import Diagnostics
from compiler.emit.serialize import serialize
from compiler.guard import from_resolved
from compiler.guard.delivery import (
    FLEET_BATCH,
    FLEET_BATCH_PATH,
    FLEET_CONFIGMAP,
    FLEET_JSON_PATH,
    NAME,
    SEED_BATCH_PATH,
    SEED_JSON_PATH,
    SEEDS_CONFIGMAP,
)
from compiler.guard.seeds import seed_entries
from compiler.pipeline import Compiled
from tests.conftest import FLEETS, require_tool
from tests.emit_support import require_renderers
from tests.guard_support import batch_commands

SEED_FILES = (FLEET_BATCH_PATH, FLEET_JSON_PATH, SEED_BATCH_PATH, SEED_JSON_PATH)
Tree = dict[str, dict[str, bytes]]
"""cluster -> seed file path under its directory -> the bytes written."""


def _compile(text: str) -> Compiled:
    require_renderers()
    from compiler.pipeline import compile_fleet

    diags = Diagnostics()
    compiled = compile_fleet(text.encode(), "fleet.yaml", diags)
    assert compiled is not None, [str(d.message) for d in diags.sorted()]
    return compiled


def _seeds(compiled: Compiled) -> Tree:
    out: Tree = {c.name: {} for c in compiled.resolved.clusters}
    for file in compiled.files:
        parts = file.path.split("/", 2)
        if parts[0] == "clusters" and parts[2] in SEED_FILES:
            out[parts[1]][parts[2]] = serialize(file, "fleet.yaml")
    return out


def _fleet_wide(tree: Tree) -> tuple[bytes, bytes]:
    """The fleet-wide pair, asserting every cluster has exactly the same bytes."""
    pairs = {(files[FLEET_BATCH_PATH], files[FLEET_JSON_PATH]) for files in tree.values()}
    assert len(pairs) == 1, "the fleet-wide seed files differ between clusters"
    return pairs.pop()


CONTOSO = (FLEETS / "contoso" / "fleet.yaml").read_text()


def _synthetic(clusters: int, cel: bool, seed: int) -> str:
    """A generated fleet (its denies name namespaces) plus two cluster-level denies."""
    denies = (
        "  policies:\n"
        "    - {name: guard-dev-prod, action: deny, from: {clusters: {matchLabels: {env: dev}}},"
        " to: {clusters: {matchLabels: {env: prod}}, ports: [5432/TCP, 8000-8100/ANY]}}\n"
        "    - {name: guard-staging, action: deny, from: {clusters: {matchLabels:"
        " {env: staging}}}, to: {clusters: {matchLabels: {tier: payments}}}}\n"
    )
    return generate(clusters, clusters * 2, 40, cel=cel, seed=seed).replace(
        "  policies:\n", denies, 1
    )


@pytest.mark.parametrize(
    "text",
    [CONTOSO, _synthetic(24, False, 7), _synthetic(12, True, 3)],
    ids=["contoso", "synthetic-24", "synthetic-12-cel"],
)
def test_fleet_seed_is_identical_everywhere_and_the_union_is_the_node_seed(text: str) -> None:
    compiled = _compile(text)
    tree = _seeds(compiled)
    assert all(sorted(files) == sorted(SEED_FILES) for files in tree.values())
    fleet_batch, _ = _fleet_wide(tree)
    for cluster in compiled.resolved.clusters:  # no cluster's name in the shared files
        assert f"cluster {cluster.name} " not in fleet_batch.decode().split("\n#\n", 1)[0]
    clusters, rules = from_resolved(compiled.resolved)
    mode = compiled.resolved.guard.mode
    fleet_entries = batch_commands(fleet_batch.decode())
    policy_rules = 0
    for cluster in clusters:
        own = batch_commands(tree[cluster.name][SEED_BATCH_PATH].decode())
        union = Counter(fleet_entries + own)
        needed = Counter(
            (e.map.name, e.key, e.value) for e in seed_entries(clusters, rules, mode, cluster.id)
        )
        assert union == needed, cluster.name  # the same entries, none twice
        assert {name for name, _, _ in own} <= {"guard_pairs", "guard_policy"}
        policy_rules += len(own)
    assert {name for name, _, _ in fleet_entries} == {
        "guard_config",
        "guard_defaults",
        "guard_cidrs",
    }
    assert policy_rules >= len(clusters), "few cluster-level denies: the test would prove little"


def _variants() -> dict[str, str]:
    """contoso, and contoso with one change of each kind."""
    policy = (
        "  policies:\n"
        "    - {name: no-standby-to-api, action: deny, from: {clusters: [eu-standby]},"
        " to: {clusters: [us-api]}}\n"
    )
    assert "  policies:\n" in CONTOSO and "podCIDRs: [10.3.0.0/16]" in CONTOSO
    return {
        "base": CONTOSO,
        "range": CONTOSO.replace("podCIDRs: [10.3.0.0/16]", "podCIDRs: [10.3.0.0/17]"),
        "mode": CONTOSO.replace("spec:\n", "spec:\n  guard: {mode: enforce}\n", 1),
        "policy": CONTOSO.replace("  policies:\n", policy, 1),
    }


def test_fleet_seed_changes_only_where_the_fleet_does() -> None:
    trees = {name: _seeds(_compile(text)) for name, text in _variants().items()}
    base = trees["base"]
    shared = {name: _fleet_wide(tree) for name, tree in trees.items()}

    def own_changed(name: str) -> set[str]:
        return {
            cluster
            for cluster, files in trees[name].items()
            if files[SEED_BATCH_PATH] != base[cluster][SEED_BATCH_PATH]
        }

    # A range or the mode: the fleet-wide files change (identically everywhere, as checked
    # above), the clusters' own batches do not.
    assert shared["range"] != shared["base"] and not own_changed("range")
    assert b"10.3.0.0/17" in shared["range"][0] and b"10.3.0.0/16 " not in shared["range"][0]
    assert shared["mode"] != shared["base"] and not own_changed("mode")
    # A cluster-level deny: only the batches of the two clusters it names change.
    assert shared["policy"] == shared["base"]
    assert own_changed("policy") == {"eu-standby", "us-api"}


def _kustomize(kubectl: str, root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    built = subprocess.run(
        [kubectl, "kustomize", str(root)], check=True, capture_output=True, text=True
    ).stdout
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(built) if o}


def _seed_names(objects: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The hashed names of the two seed ConfigMaps, fleet-wide first, as built."""
    return [
        next(n for k, n in objects if k == "ConfigMap" and n.startswith(name + "-"))
        for name in (FLEET_CONFIGMAP, SEEDS_CONFIGMAP)
    ]


def _mounted(objects: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The ConfigMaps the loader DaemonSet's seed volume projects, in order."""
    pod = objects[("DaemonSet", NAME)]["spec"]["template"]["spec"]
    (volume,) = (v for v in pod["volumes"] if v["name"] == "seeds")
    return [source["configMap"]["name"] for source in volume["projected"]["sources"]]


def _share(root: Path, cluster: str, daemonset_too: bool) -> None:
    """Move the cluster's fleet-wide seed generator (and the DaemonSet) into bases of their
    own under root/shared/, each with its kustomization.yaml, as a packing step would; the
    cluster's kustomization.yaml lists the bases instead."""
    directory = root / "clusters" / cluster
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    generators = kustomization["configMapGenerator"]
    (fleet,) = (g for g in generators if g["name"] == FLEET_CONFIGMAP)
    generators.remove(fleet)
    shared = root / "shared" / "fleet-seed"
    shared.mkdir(parents=True, exist_ok=True)
    (shared / FLEET_BATCH).write_bytes((directory / FLEET_BATCH_PATH).read_bytes())
    (directory / FLEET_BATCH_PATH).unlink()
    base = {**fleet, "files": [FLEET_BATCH]}
    (shared / "kustomization.yaml").write_text(yaml.safe_dump({"configMapGenerator": [base]}))
    kustomization["resources"].append("../../shared/fleet-seed")
    if daemonset_too:
        (path,) = (p for p in kustomization["resources"] if p.startswith("guard/daemonset-"))
        kustomization["resources"].remove(path)
        loader = root / "shared" / "loader"
        loader.mkdir(exist_ok=True)
        (loader / "daemonset.yaml").write_bytes((directory / path).read_bytes())
        (loader / "kustomization.yaml").write_text(
            yaml.safe_dump({"resources": ["daemonset.yaml"]})
        )
        kustomization["resources"].append("../../shared/loader")
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))


@pytest.mark.parametrize(
    "daemonset_too", [False, True], ids=["daemonset-in-root", "daemonset-in-base"]
)
def test_kustomize_rewrites_both_seed_names_across_bases(
    tmp_path: Path, daemonset_too: bool
) -> None:
    """The loader's projected volume names both generated ConfigMaps by their hashed names,
    whether the fleet-wide generator is in the cluster's kustomization or in a base of its own
    (and the DaemonSet in the cluster root or in yet another base); every cluster directory
    builds the same objects either way, and a change to the shared seed rolls the DaemonSet."""
    kubectl = require_tool("kubectl")
    compiled = _compile(CONTOSO.replace("spec:\n", "spec:\n  guard: {enabled: true}\n", 1))
    for file in compiled.files:
        path = tmp_path / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(serialize(file, "fleet.yaml"))
    clusters = [c.name for c in compiled.resolved.clusters]
    alone = {c: _kustomize(kubectl, tmp_path / "clusters" / c) for c in clusters}
    for objects in alone.values():
        assert _mounted(objects) == _seed_names(objects)
    # One shared base for every cluster (the fleet-wide seed is the same bytes everywhere).
    for cluster in clusters:
        _share(tmp_path, cluster, daemonset_too)
    for cluster in clusters:
        objects = _kustomize(kubectl, tmp_path / "clusters" / cluster)
        assert objects == alone[cluster]  # same names (hashes included), same content
        assert _mounted(objects) == _seed_names(objects)
    # The hash is what rolls the loader: change the shared seed, every DaemonSet follows.
    shared = tmp_path / "shared" / "fleet-seed" / FLEET_BATCH
    shared.write_text(shared.read_text() + "# changed\n")
    for cluster in clusters:
        objects = _kustomize(kubectl, tmp_path / "clusters" / cluster)
        names = _seed_names(objects)
        assert _mounted(objects) == names and names != _seed_names(alone[cluster])
        assert names[1] == _seed_names(alone[cluster])[1]  # the cluster's own: unchanged
