"""The guard's Python side: port blocks, seed files, the fleet -> rules step, budget, delivery.

No kernel here (see test_guard_kernel.py): these pin what the seeds say and that they say it
deterministically, which rules count as cluster-level denies, and the delivery objects.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.diagnostics import Diagnostics
from compiler.guard import (
    GuardCluster,
    GuardRule,
    budget,
    cluster_verdict,
    fleet_budget,
    from_fleet,
    from_resolved,
    layout,
    loader_daemonset,
    render_fleet_seed,
    render_seed,
    seed_configmap_generators,
)
from compiler.guard.delivery import FLEET_CONFIGMAP, SEEDS_CONFIGMAP, guard_devices
from compiler.guard.model import address_table, port_blocks
from compiler.guard.seeds import seed_entries
from compiler.load import load
from compiler.model import Fleet, PortRange, parse
from tests.conftest import FLEETS, ROOT, require_tool


@given(st.integers(1, 65535), st.integers(0, 65535))
def test_guard_port_blocks_cover_a_range_exactly(low: int, span: int) -> None:
    high = min(65535, low + span)
    blocks = port_blocks(low, high)
    covered = [port for first, bits in blocks for port in range(first, first + (1 << bits))]
    assert covered == list(range(low, high + 1))  # exact, in order, no overlap
    assert all(first % (1 << bits) == 0 for first, bits in blocks)  # each is one LPM prefix
    assert len(blocks) <= 30  # at most two blocks per bit


def test_guard_port_block_examples() -> None:
    assert port_blocks(443, 443) == ((443, 0),)
    assert port_blocks(8000, 8100) == ((8000, 6), (8064, 5), (8096, 2), (8100, 0))
    assert port_blocks(1, 65535)[-1] == (32768, 15)


FLEET = (
    GuardCluster("a", 1, ("10.1.0.0/16", "fd00:1::/48"), ("172.16.1.0/24",)),
    GuardCluster("b", 2, ("10.2.7.9/16",), ("10.2.0.0/16",)),  # pod == node: node wins
    GuardCluster("c", 3, ("10.3.0.0/16",), ("172.16.1.0/24",)),  # a's node range too
)
RULES = (
    GuardRule(1, "a-to-c-web", (1,), (3,), (PortRange("TCP", 8000, 8100),)),
    GuardRule(2, "c-to-a", (3,), (1,), None),
    GuardRule(4, "all-dns", (1, 2, 3), (1, 2, 3), (PortRange("ANY", 53, 53),)),
)


def test_guard_address_table_normalises_and_resolves_conflicts() -> None:
    table = {str(e.network): (e.cluster_id, e.kind) for e in address_table(FLEET)}
    assert table == {
        "10.1.0.0/16": (1, layout.KIND_POD),
        "10.2.0.0/16": (2, layout.KIND_NODE),
        "10.3.0.0/16": (3, layout.KIND_POD),
        "172.16.1.0/24": (0, layout.KIND_NONE),
        "fd00:1::/48": (1, layout.KIND_POD),
    }


def test_guard_seed_batch_reads_well() -> None:
    fleet, _ = render_fleet_seed(FLEET, "enforce", "fleet.yaml")
    batch, _ = render_seed(FLEET, RULES, FLEET[0], "enforce", "fleet.yaml")
    for text in (fleet, batch):
        lines = text.splitlines()
        updates = [i for i, line in enumerate(lines) if line.startswith("map update")]
        assert updates and all(lines[i - 1].startswith("# ") for i in updates)
    assert batch.startswith("# Fleet guard map seeds for the nodes of cluster a (id 1):\n")
    assert fleet.startswith("# Fleet guard map seeds shared by every cluster of the fleet")
    assert (
        "# 10.2.0.0/16 -> node of cluster 2 (b nodeCIDR 10.2.0.0/16; b podCIDR 10.2.7.9/16)"
        in fleet.splitlines()
    )
    lines = batch.splitlines()
    assert "# policy a-to-c-web (rule 1): a -> c, 8064-8095/TCP (of 8000-8100/TCP)" in lines
    assert "# policy c-to-a (rule 2): c -> a, every packet" in lines
    # Cluster a's nodes hold no b -> c entry, only flows from or to a.
    assert "b -> c" not in batch and "b -> a" in batch
    # The 8000-8100 block keys: prefix 58 = 64 - 6, src 1, dst 3, TCP, port 8000 big-endian.
    assert "key hex 3a 00 00 00 00 01 00 03 06 00 1f 40 value hex 01 00 00 00 01 00 00 00" in batch


def test_guard_seed_entries_are_sorted_and_unique() -> None:
    entries = seed_entries(FLEET, RULES, "audit")
    keys = [(e.map.name, e.key) for e in entries]
    assert len(set(keys)) == len(keys)
    assert list(entries) == sorted(entries, key=lambda e: e.sort_key())
    maps = [e.map.name for e in entries]
    assert maps == sorted(maps, key=[m.name for m in layout.MAPS].index)


def test_guard_seed_is_independent_of_input_order() -> None:
    reference = render_seed(FLEET, RULES, FLEET[0], "audit", "fleet.yaml")
    fleet = render_fleet_seed(FLEET, "audit", "fleet.yaml")
    rng = random.Random(5)
    for _ in range(10):
        clusters = list(FLEET)
        rules = [
            GuardRule(r.id, r.name, tuple(rng.sample(r.src, len(r.src))), r.dst, r.ports)
            for r in RULES
        ]
        rng.shuffle(clusters)
        rng.shuffle(rules)
        assert render_seed(clusters, rules, FLEET[0], "audit", "fleet.yaml") == reference
        assert render_fleet_seed(clusters, "audit", "fleet.yaml") == fleet


def test_guard_seed_is_identical_across_hash_seeds() -> None:
    script = textwrap.dedent(
        """
        from compiler.diagnostics import Diagnostics
        from compiler.guard import from_fleet, render_fleet_seed, render_seed
        from compiler.load import load
        from compiler.model import parse
        fleet = parse(load(open("fleets/contoso/fleet.yaml", "rb").read(), "fleet.yaml"), Diagnostics())
        clusters, rules = from_fleet(fleet)
        print("".join(render_fleet_seed(clusters, "audit", "fleet.yaml")))
        print("".join("".join(render_seed(clusters, rules, c, "audit", "fleet.yaml")) for c in clusters))
        """
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("0", "1", "4242")
    }
    assert len(outputs) == 1


def test_guard_json_twin_matches_batch() -> None:
    fleet, fleet_twin = render_fleet_seed(FLEET, "enforce", "fleet.yaml")
    batch, twin = render_seed(FLEET, RULES, FLEET[2], "enforce", "fleet.yaml")
    document, fleet_document = json.loads(twin), json.loads(fleet_twin)
    assert document["cluster"] == {"id": 3, "name": "c"}
    assert document["fleetSeed"] == {
        "batch": "fleet.batch",
        "configMap": "fleetc-guard-fleet",
        "json": "fleet.json",
    }
    assert document["mode"] == fleet_document["mode"] == "enforce"
    assert fleet_document["clusters"] == [{"id": c.id, "name": c.name} for c in FLEET]
    assert sorted(document["maps"]) == ["guard_pairs", "guard_policy"]
    assert sorted(fleet_document["maps"]) == ["guard_cidrs", "guard_config", "guard_defaults"]
    for text, doc in ((batch, document), (fleet, fleet_document)):
        listed = sorted(
            (name, e["keyHex"], e["valueHex"])
            for name, m in doc["maps"].items()
            for e in m["entries"]
        )
        updates = [line.split() for line in text.splitlines() if line.startswith("map update")]
        in_batch = sorted(
            (
                words[3].rsplit("/", 1)[1],
                "".join(words[words.index("key") + 2 : words.index("value")]),
                "".join(words[words.index("value") + 2 :]),
            )
            for words in updates
        )
        assert listed == in_batch
    cidr = fleet_document["maps"]["guard_cidrs"]["entries"][0]
    assert cidr["key"]["addr"] == "10.1.0.0/16" and cidr["value"] == {"cluster_id": 1, "kind": 1}


def test_guard_model_counts_the_most_specific_rule() -> None:
    import ipaddress

    ip = ipaddress.ip_address
    rules = (*RULES, GuardRule(5, "exact", (1,), (3,), (PortRange("TCP", 8080, 8080),)))
    verdict = cluster_verdict(FLEET, rules, ip("10.1.0.1"), ip("10.3.0.1"), 6, 8080)
    assert (verdict.drop, verdict.rule_id) == (True, 5)
    verdict = cluster_verdict(FLEET, rules, ip("10.1.0.1"), ip("10.3.0.1"), 6, 8081)
    assert (verdict.drop, verdict.rule_id) == (True, 1)
    verdict = cluster_verdict(FLEET, rules, ip("10.1.0.1"), ip("10.3.0.1"), 17, 8081)
    assert (verdict.fleet, verdict.drop, verdict.rule_id) == (True, False, 0)
    verdict = cluster_verdict(FLEET, rules, ip("10.2.0.1"), ip("10.3.0.1"), 17, 53)
    assert not verdict.fleet  # b's range is also its node range: never dropped
    verdict = cluster_verdict(FLEET, rules, ip("10.3.0.1"), ip("10.1.0.1"), 1, 0)
    assert (verdict.drop, verdict.rule_id) == (True, 2)


POLICIES = """  policies:
    - {name: allow-all, action: allow, from: {clusters: [dev]}, to: {clusters: [us-api]}}
    - {name: ns-deny, action: deny, from: {clusters: [dev]}, to: {clusters: [us-api], namespace: api}}
    - {name: pod-deny, action: deny, from: {clusters: [dev], selector: {app: x}}, to: {clusters: [us-api]}}
    - {name: svc-deny, action: deny, from: {service: api/gateway}, to: {clusters: [dev]}}
    - {name: names, action: deny, from: {clusters: [dev]}, to: {clusters: [eu-payments], ports: [8000-8100/TCP, 53/ANY, 53/ANY]}}
    - {name: empty-selector, action: deny, from: {clusters: [dev], selector: {}}, to: {}}
    - name: expressions
      action: deny
      from: {clusters: {matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}}
      to: {clusters: {matchLabels: {tier: payments}}, ports: []}
    - {name: cel, action: deny, from: {clusters: {cel: "cluster.name == 'dev'"}}, to: {}}
"""


def _fleet_text(policies: str, guard: str = "") -> bytes:
    head = (FLEETS / "contoso" / "fleet.yaml").read_text().split("  policies:")[0]
    return (head + policies + guard).encode()


def _fleet(policies: str, guard: str = "") -> Fleet:
    diags = Diagnostics()
    fleet = parse(load(_fleet_text(policies, guard), "fleet.yaml"), diags)
    assert fleet is not None, diags.items
    return fleet


def test_guard_from_contoso() -> None:
    fleet = parse(load((FLEETS / "contoso" / "fleet.yaml").read_bytes(), "f"), Diagnostics())
    assert fleet is not None
    clusters, rules = from_fleet(fleet)
    assert [c.name for c in clusters] == ["eu-payments", "eu-standby", "us-api", "dev"]
    assert [(r.name, r.src, r.dst, r.ports) for r in rules] == [
        ("no-dev-to-prod", (10,), (1, 2, 3), None)
    ]
    from compiler.resolve import resolve

    doc = load((FLEETS / "contoso" / "fleet.yaml").read_bytes(), "f")
    assert from_resolved(resolve(doc, fleet, Diagnostics())) == (clusters, rules)


def test_guard_only_cluster_level_denies_become_rules() -> None:
    fleet = _fleet(POLICIES)
    _, rules = from_fleet(fleet)
    assert [(r.id, r.name, r.src, r.dst, r.ports) for r in rules] == [
        # rule ids rank the guard rules' names: cel, empty-selector, expressions, names
        (4, "names", (10,), (1,), (PortRange("ANY", 53, 53), PortRange("TCP", 8000, 8100))),
        (2, "empty-selector", (10,), (1, 2, 3, 10), None),
        (3, "expressions", (10,), (1, 2), None),
        (1, "cel", (10,), (1, 2, 3, 10), None),
    ]
    # The resolve stage's form gives the same rules.
    from compiler.resolve import resolve

    doc = load(_fleet_text(POLICIES), "fleet.yaml")
    diags = Diagnostics()
    resolved = resolve(doc, fleet, diags)
    assert not diags.has_errors, diags.items
    assert from_resolved(resolved) == from_fleet(fleet)


def test_guard_budget_counts_entries() -> None:
    usage = {u.map: u for u in budget(FLEET, RULES, local=1)}
    entries = seed_entries(FLEET, RULES, "audit", local=1)
    assert sorted(usage) == ["guard_cidrs", "guard_counters", "guard_pairs", "guard_policy"]
    for name in ("guard_cidrs", "guard_pairs", "guard_policy"):
        assert usage[name].entries == sum(1 for e in entries if e.map.name == name)
    assert usage["guard_counters"].entries == 5
    assert not any(u.near_limit for u in usage.values())


def test_guard_budget_warns_for_a_huge_fleet() -> None:
    clusters = [GuardCluster(f"c{i}", i, (f"10.{i // 256}.{i % 256}.0/24",)) for i in range(1, 512)]
    ids = tuple(range(1, 512))
    rules = [GuardRule(1, "everything", ids, ids, (PortRange("ANY", 8000, 8100),))]
    fleetwide = {u.map: u for u in budget(clusters, rules)}
    assert fleetwide["guard_policy"].entries == 511 * 511 * 3 * 4
    assert fleetwide["guard_policy"].over_limit
    per_node = {u.map: u for u in fleet_budget(clusters, rules)}
    assert per_node["guard_policy"].entries == (511 * 2 - 1) * 12
    assert not per_node["guard_policy"].near_limit


def test_guard_delivery_objects() -> None:
    fleet = _fleet("", "  guard: {enabled: true, mode: enforce, image: 'example/guard:1.2.3'}\n")
    cilium = fleet.spec.cilium
    devices = guard_devices(cilium.routingMode, cilium.tunnelProtocol, cilium.encryption)
    daemonset = loader_daemonset(fleet.spec.guard, devices, "contoso")
    assert daemonset is not None
    assert daemonset["metadata"] == {
        "name": "fleet-guard",
        "namespace": "kube-system",
        "labels": {"app.kubernetes.io/name": "fleet-guard", "app.kubernetes.io/part-of": "contoso"},
    }
    pod = daemonset["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "example/guard:1.2.3"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GUARD_DEVICES"] == "cilium_vxlan" and env["GUARD_MODE"] == "enforce"
    assert env["GUARD_HOOK"] == "auto"  # tcx where the kernel has it (bpf/README.md)
    sources = pod["volumes"][1]["projected"]["sources"]
    generators = seed_configmap_generators(fleet.spec.guard)
    assert [s["configMap"]["name"] for s in sources] == [g["name"] for g in generators]
    assert [g["name"] for g in generators] == [FLEET_CONFIGMAP, SEEDS_CONFIGMAP]
    assert pod["hostNetwork"] is True
    assert "GUARD_ENABLED" not in env
    default = _fleet("")
    assert default.spec.guard.enabled is False
    assert loader_daemonset(default.spec.guard, devices, "contoso") is None


def test_mode_off_keeps_the_loader_only_to_detach() -> None:
    fleet = _fleet("", "  guard: {enabled: true, mode: 'off'}\n")
    cilium = fleet.spec.cilium
    devices = guard_devices(cilium.routingMode, cilium.tunnelProtocol, cilium.encryption)
    daemonset = loader_daemonset(fleet.spec.guard, devices, "contoso")
    assert daemonset is not None
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    # the loader script's detaching branch (exercised in the kernel by test_guard_tcx.py)
    assert env["GUARD_ENABLED"] == "false"


@pytest.mark.parametrize(
    ("cilium", "devices"),
    [
        ({"version": "1.19"}, ("cilium_vxlan", "")),
        ({"version": "1.19", "tunnelProtocol": "geneve"}, ("cilium_geneve", "")),
        (
            {"version": "1.19", "routingMode": "native", "encryption": "wireguard"},
            ("auto", "cilium_wg0"),
        ),
        ({"version": "1.19", "routingMode": "native"}, ("auto", "")),
    ],
)
def test_guard_devices_follow_routing(cilium: dict[str, str], devices: tuple[str, str]) -> None:
    from compiler.model.fleet import Cilium

    model = Cilium.model_validate(cilium, strict=False)
    assert guard_devices(model.routingMode, model.tunnelProtocol, model.encryption) == devices


def test_guard_render_through_flux_and_kustomize(tmp_path: Path) -> None:
    """The renderer's files, wired by the Flux stage and built by kustomize: the DaemonSet
    mounts the seeds' ConfigMap by its hashed name, so a seed change rolls it."""
    kubectl = require_tool("kubectl")
    from compiler.emit.serialize import serialize
    from compiler.guard.render import render
    from compiler.render import flux
    from compiler.resolve import resolve

    text = _fleet_text("", "  guard: {enabled: true}\n")
    doc = load(text, "fleet.yaml")
    diags = Diagnostics()
    fleet = parse(doc, diags)
    assert fleet is not None
    resolved = resolve(doc, fleet, diags)
    files = render(resolved)
    files += flux.render(resolved, files)
    for file in files:
        path = tmp_path / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(serialize(file, "fleet.yaml"))
    built = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "clusters" / "dev")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    objects = {(o["kind"], o["metadata"]["name"]): o for o in _yaml_documents(built)}
    configmaps = [o for (kind, _), o in objects.items() if kind == "ConfigMap"]
    # The generator entries the Flux stage wrote are the ones delivery describes.
    kustomization = (tmp_path / "clusters" / "dev" / "kustomization.yaml").read_text()
    assert YAML(typ="safe").load(kustomization)["configMapGenerator"] == [
        {"files": g["files"], "name": g["name"], "namespace": g["namespace"]}
        for g in seed_configmap_generators(resolved.guard)
    ]
    found = {}
    for name, key in ((FLEET_CONFIGMAP, "fleet.batch"), (SEEDS_CONFIGMAP, "guard.batch")):
        cm = next(o for o in configmaps if o["metadata"]["name"].startswith(name + "-"))
        assert list(cm["data"]) == [key]
        batch = cm["data"][key]
        assert batch.startswith("# Generated by fleetc from fleet.yaml")
        found[name] = cm["metadata"]["name"]
    fleet_cm = objects[("ConfigMap", found[FLEET_CONFIGMAP])]
    assert (
        "map update pinned /sys/fs/bpf/fleet-guard/guard_cidrs" in fleet_cm["data"]["fleet.batch"]
    )
    daemonset = objects[("DaemonSet", "fleet-guard")]
    volumes = daemonset["spec"]["template"]["spec"]["volumes"]
    sources = [
        {"configMap": {"name": found[FLEET_CONFIGMAP]}},
        {"configMap": {"name": found[SEEDS_CONFIGMAP]}},
    ]
    assert {"name": "seeds", "projected": {"sources": sources}} in volumes


def _yaml_documents(text: str) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(text) if d]
