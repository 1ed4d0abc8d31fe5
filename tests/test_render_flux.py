"""Flux wiring and kustomize: Flux Kustomizations against the upstream CRD, every object of a
cluster listed exactly once, text files as configMapGenerator data, output independent of
input order, and `kubectl kustomize` building every rendered root."""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.emit.yaml import dump
from compiler.render import flux, render
from compiler.render.cilium_values import shares_peers
from compiler.render.output import File
from tests.conftest import FLEETS, ROOT, require_tool
from tests.render_support import (
    by_path,
    closed_crd_schema,
    compile_data,
    fleet_data,
    objects,
    schema_errors,
    variant,
    write_tree,
)

KUSTOMIZATION_CRD = "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml"


def _flux_objects(compiled: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (p, o)
        for p, o in objects(compiled, "Kustomization")
        if o["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    ]


def test_flux_kustomizations_match_the_crd_and_fleet() -> None:
    data = fleet_data()
    data["spec"]["flux"] = {
        "sourceRef": {"kind": "OCIRepository", "name": "fleet", "namespace": "gitops"},
        "path": "./deploy/rendered/",
        "namespace": "gitops",
        "interval": "5m",
        "retryInterval": "30s",
        "timeout": "3m",
        "dependsOn": [{"name": "namespaces"}, {"name": "crds", "namespace": "infra"}],
    }
    compiled = compile_data(data)
    schema = closed_crd_schema(KUSTOMIZATION_CRD, "v1")
    found = _flux_objects(compiled)
    assert len(found) == 2 * len(compiled.resolved.clusters)
    for path, obj in found:
        assert schema_errors(schema, obj) == [], path
        cluster = path.split("/")[1]
        spec = obj["spec"]
        assert spec["prune"] is True and spec["interval"] == "5m"
        assert spec["retryInterval"] == "30s"
        assert spec["sourceRef"] == {
            "kind": "OCIRepository",
            "name": "fleet",
            "namespace": "gitops",
        }
        assert obj["metadata"]["namespace"] == "gitops"
        if obj["metadata"]["name"] == f"fleetc-{cluster}":
            assert spec["path"] == f"./deploy/rendered/clusters/{cluster}"
            assert spec["dependsOn"] == [
                {"name": f"fleetc-{cluster}-cilium"},
                {"name": "namespaces"},
                {"name": "crds", "namespace": "infra"},
            ]
            assert spec["timeout"] == "3m" and spec["wait"] is True
            assert "healthChecks" not in spec
        else:
            assert obj["metadata"]["name"] == f"fleetc-{cluster}-cilium"
            assert spec["path"] == f"./deploy/rendered/clusters/{cluster}/cilium"
            assert "dependsOn" not in spec and "wait" not in spec
            assert spec["timeout"] == "10m"  # spec.cilium.helmRelease.timeout
            assert spec["healthChecks"] == [
                {
                    "apiVersion": "helm.toolkit.fluxcd.io/v2",
                    "kind": "HelmRelease",
                    "name": "cilium",
                    "namespace": "kube-system",
                }
            ]


def test_flux_schema_check_can_fail() -> None:
    obj = copy.deepcopy(_flux_objects(variant())[0][1])
    del obj["spec"]["prune"]
    obj["spec"]["sourceRef"]["kind"] = "HelmRepository"
    obj["spec"]["retryIntervall"] = "1m"  # misspelled: the closed schema refuses it
    obj["spec"]["dependsOn"] = [{"name": "x", "namesapce": "y"}]
    assert len(schema_errors(closed_crd_schema(KUSTOMIZATION_CRD, "v1"), obj)) == 4


def test_every_object_listed_exactly_once() -> None:
    for compiled in (variant(), variant(mesh={"serviceDiscovery": "annotations"})):
        files = by_path(compiled)
        listed: list[str] = []
        for path, file in files.items():
            if path.startswith("clusters/") and path.endswith("/kustomization.yaml"):
                assert isinstance(file.content, dict)
                base = path.rsplit("/", 1)[0]
                entries = file.content.get("resources", []) + [
                    p["path"] for p in file.content.get("patches", [])
                ]
                assert entries == sorted(entries) or "patches" in file.content
                listed.extend(f"{base}/{entry}" for entry in entries)
        objects_ = [
            p
            for p, f in files.items()
            if p.startswith("clusters/")
            and isinstance(f.content, dict)
            and not p.endswith("/kustomization.yaml")
        ]
        assert sorted(listed) == sorted(objects_)


def test_text_files_become_config_map_generators() -> None:
    resolved = variant().resolved
    files = [
        File("clusters/dev/guard/seeds/cidr.batch", "map update ...\n"),
        File("clusters/dev/guard/seeds/cidr.json", "{}\n"),
        File("clusters/dev/guard/daemonset-kube-system-fleet-guard.yaml", {"kind": "DaemonSet"}),
        File("clusters/dev/notes/readme.txt", "hello\n"),
    ]
    root, cilium = flux.cluster_kustomizations(resolved, "dev", files)
    assert root.path == "clusters/dev/kustomization.yaml"
    assert root.content == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["guard/daemonset-kube-system-fleet-guard.yaml"],
        "configMapGenerator": [
            {
                "name": "fleetc-guard-seeds",
                "namespace": "kube-system",
                "files": ["guard/seeds/cidr.batch", "guard/seeds/cidr.json"],
            },
            {"name": "fleetc-notes", "namespace": "kube-system", "files": ["notes/readme.txt"]},
        ],
    }
    assert cilium.path == "clusters/dev/cilium/kustomization.yaml"


def _shuffled(data: dict[str, Any], seed: int) -> dict[str, Any]:
    data = copy.deepcopy(data)
    rng = random.Random(seed)
    for key in ("clusters", "services", "policies"):
        rng.shuffle(data["spec"][key])
    for service in data["spec"]["services"]:
        rng.shuffle(service["clusters"])
    return data


def _bytes(files: tuple[File, ...]) -> list[tuple[str, str, str | None]]:
    """Path, body and origin (it goes into the file's header) of every file this module's
    renderers own. Policies are checked by their own tests: their objects name source lines."""
    return [
        (f.path, f.content if isinstance(f.content, str) else dump(f.content), f.origin)
        for f in files
        if "/policies/" not in f.path
    ]


@pytest.mark.parametrize("discovery", ["mcs-api", "annotations"])
def test_output_does_not_depend_on_input_order(discovery: str) -> None:
    data = fleet_data()
    data["spec"]["mesh"]["serviceDiscovery"] = discovery
    data["spec"]["clusters"][2]["ciliumVersion"] = "1.20"
    reference = _bytes(compile_data(data).files)
    for seed in range(3):
        compiled = compile_data(_shuffled(data, seed))
        assert _bytes(compiled.files) == reference
        assert _bytes(render(compiled.resolved)) == reference


def _kustomize(kubectl: str, directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{directory}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_kubectl_kustomize_builds_every_root(tmp_path: Path) -> None:
    kubectl = require_tool("kubectl")
    compiled = variant(cilium={"helmRelease": {"enabled": True}})
    files = [
        *compiled.files,
        # a guard-like text file, to prove the generator convention builds
        File("clusters/dev/guard/seeds/cidr.batch", "# seeds\n"),
    ]
    files = [f for f in files if f.path != "clusters/dev/kustomization.yaml"]
    dev = [f for f in files if f.path.startswith("clusters/dev/")]
    files += [flux.cluster_kustomizations(compiled.resolved, "dev", dev)[0]]
    write_tree(files, tmp_path)
    for cluster in compiled.resolved.clusters:
        root = tmp_path / "clusters" / cluster.name
        built = _kustomize(kubectl, root)
        listed = yaml.safe_load((root / "kustomization.yaml").read_text())
        generated = len(listed.get("configMapGenerator", []))
        assert len(built) == len(listed["resources"]) + generated
        cilium = _kustomize(kubectl, root / "cilium")
        configmaps = ["ConfigMap"] * (2 if shares_peers(cluster) else 1)  # + the mesh's peers
        assert sorted(o["kind"] for o in cilium) == [*configmaps, "HelmRelease"]
        fluxed = _kustomize(kubectl, tmp_path / "flux" / cluster.name)
        assert {o["metadata"]["name"] for o in fluxed} == {
            f"fleetc-{cluster.name}",
            f"fleetc-{cluster.name}-cilium",
        }
    seeds = [
        o
        for o in _kustomize(kubectl, tmp_path / "clusters" / "dev")
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("fleetc-guard-seeds-")
    ]
    assert len(seeds) == 1 and seeds[0]["data"]["cidr.batch"] == "# seeds\n"


def _service(name: str, namespace: str | None = None) -> str:
    metadata: dict[str, Any] = {"name": name, "annotations": {"team": "payments"}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {"selector": {"app": name}, "ports": [{"port": 443}]},
        }
    )


def test_kubectl_kustomize_applies_the_annotation_component(tmp_path: Path) -> None:
    """The layout docs/helmrelease.md shows: a base that sets the namespace, an overlay per
    cluster that includes the component. A same-named Service in another namespace of the same
    build is not patched: every patch target names its namespace."""
    kubectl = require_tool("kubectl")
    compiled = variant(mesh={"serviceDiscovery": "annotations"})
    write_tree(compiled.files, tmp_path / "rendered")
    _kustomize(kubectl, tmp_path / "rendered" / "clusters" / "eu-payments")
    base = tmp_path / "app" / "base"
    base.mkdir(parents=True)
    (base / "service.yaml").write_text(_service("payments"))
    (base / "kustomization.yaml").write_text(
        dump({"namespace": "payments", "resources": ["service.yaml"]})
    )
    overlay = tmp_path / "app" / "eu-payments"
    overlay.mkdir()
    (overlay / "other.yaml").write_text(_service("payments", "payments-staging"))
    (overlay / "kustomization.yaml").write_text(
        dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../base", "other.yaml"],
                "components": ["../../rendered/clusters/eu-payments/global-services/payments"],
            }
        )
    )
    built = {o["metadata"]["namespace"]: o for o in _kustomize(kubectl, overlay)}
    service, other = built["payments"], built["payments-staging"]
    assert service["metadata"]["annotations"] == {
        "team": "payments",
        "service.cilium.io/global": "true",
        "service.cilium.io/shared": "true",
        "service.cilium.io/affinity": "local",
    }
    assert service["spec"]["ports"] == [{"port": 443}]
    assert other["metadata"]["annotations"] == {"team": "payments"}


_DIGEST = """
import hashlib, sys
from compiler.diagnostics import Diagnostics
from compiler.emit.yaml import dump
from compiler.pipeline import compile_fleet
compiled = compile_fleet(open(sys.argv[1], "rb").read(), "fleet.yaml", Diagnostics())
digest = hashlib.sha256()
for f in compiled.files:
    body = f.content if isinstance(f.content, str) else dump(f.content)
    digest.update(f"{f.path}\\0{f.origin}\\0{body}\\0".encode())
print(digest.hexdigest())
"""


def test_output_does_not_depend_on_hash_seed() -> None:
    digests = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", _DIGEST, str(FLEETS / "contoso" / "fleet.yaml")],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True,
        )  # fmt: skip
        digests.add(result.stdout.strip())
    assert len(digests) == 1


@pytest.mark.parametrize("discovery", ["mcs-api", "annotations"])
def test_kubectl_kustomize_builds_the_minimal_fleet(tmp_path: Path, discovery: str) -> None:
    kubectl = require_tool("kubectl")
    compiled = variant("minimal", mesh={"serviceDiscovery": discovery})
    write_tree(compiled.files, tmp_path)
    roots = sorted(p.parent for p in tmp_path.rglob("kustomization.yaml"))
    assert roots
    for root in roots:
        listed = yaml.safe_load((root / "kustomization.yaml").read_text())
        if listed["kind"] == "Component":
            continue  # built through an app in test_kubectl_kustomize_applies_the_annotation_component
        generated = len(listed.get("configMapGenerator", []))
        assert len(_kustomize(kubectl, root)) == len(listed["resources"]) + generated, root
