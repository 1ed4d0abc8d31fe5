"""Exported services: ServiceExports where fleet.yaml says backends run (checked against the
MCS-API CRD Cilium 1.19.2 installs), annotation Components in annotation mode, global
Namespaces only where the cluster's Cilium needs them, and never a ServiceImport."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compiler.render.services import annotation_patch
from tests.render_support import (
    by_path,
    compile_data,
    crd_schema,
    fleet_data,
    objects,
    schema_errors,
    variant,
)

SERVICEEXPORT_CRD = "mcs-api/cilium-v1.19.2-pinned/multicluster.x-k8s.io_serviceexports.yaml"


def _expected_exports(data: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(cluster, namespace, name) straight from fleet.yaml: the model to compare with."""
    return {
        (cluster, s["namespace"], s["name"])
        for s in data["spec"].get("services", [])
        if s.get("export", True) and s.get("shared", True)
        for cluster in s["clusters"]
    }


def test_service_exports_in_every_backend_cluster_and_valid() -> None:
    data = fleet_data()
    compiled = compile_data(data)
    exports = objects(compiled, "ServiceExport")
    found = {
        (p.split("/")[1], o["metadata"]["namespace"], o["metadata"]["name"]) for p, o in exports
    }
    assert found == _expected_exports(data)
    assert len(exports) == len(found)
    schema = crd_schema(SERVICEEXPORT_CRD, "v1alpha1")
    for path, obj in exports:
        assert obj["apiVersion"] == "multicluster.x-k8s.io/v1alpha1"
        assert schema_errors(schema, obj) == [], path
    assert objects(compiled, "ServiceImport") == []


def test_serviceexport_schema_check_can_fail() -> None:
    obj = copy.deepcopy(objects(variant(), "ServiceExport")[0][1])
    obj["spec"] = {"exportedLabels": {"a": 1}}
    assert schema_errors(crd_schema(SERVICEEXPORT_CRD, "v1alpha1"), obj) != []


def test_unshared_and_unexported_services_get_no_export() -> None:
    data = fleet_data()
    data["spec"]["services"][0]["shared"] = False  # payments
    compiled = compile_data(data)
    names = {o["metadata"]["name"] for _, o in objects(compiled, "ServiceExport")}
    assert names == {"catalog"}  # ledger and gateway have export: false


def test_annotation_mode_renders_components_not_exports() -> None:
    data = fleet_data()
    data["spec"]["mesh"]["serviceDiscovery"] = "annotations"
    compiled = compile_data(data)
    assert objects(compiled, "ServiceExport") == []
    files = by_path(compiled)
    patch = files["clusters/eu-payments/global-services/payments/service-payments.yaml"].content
    assert patch == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "payments",
            "annotations": {
                "service.cilium.io/global": "true",
                "service.cilium.io/shared": "true",
                "service.cilium.io/affinity": "local",
            },
        },
    }
    component = files["clusters/eu-payments/global-services/payments/kustomization.yaml"].content
    assert component == {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "patches": [
            {
                "path": "service-payments.yaml",
                "target": {"kind": "Service", "name": "payments", "namespace": "payments"},
            }
        ],
    }
    patched = {
        (p.split("/")[1], p.split("/")[3], p.split("/")[4][len("service-") : -len(".yaml")])
        for p in files
        if "/global-services/" in p and not p.endswith("/kustomization.yaml")
    }
    every_export = {
        (c, s["namespace"], s["name"])
        for s in data["spec"]["services"]
        if s.get("export", True)
        for c in s["clusters"]
    }
    assert patched == every_export


@pytest.mark.parametrize(("shared", "affinity"), [(False, "remote"), (True, "none")])
def test_annotation_values(shared: bool, affinity: str) -> None:
    data = fleet_data()
    data["spec"]["services"][0].update(shared=shared, affinity=affinity)
    service = compile_data(data).resolved.services
    payments = next(s for s in service if s.name == "payments")
    annotations = annotation_patch(payments)["metadata"]["annotations"]
    assert annotations["service.cilium.io/shared"] == ("true" if shared else "false")
    assert annotations["service.cilium.io/affinity"] == affinity


def test_global_namespaces_only_from_cilium_1_20() -> None:
    data = fleet_data()
    clusters = {c["name"]: c for c in data["spec"]["clusters"]}
    clusters["us-api"]["ciliumVersion"] = "1.20"
    compiled = compile_data(data)
    namespaces = objects(compiled, "Namespace")
    assert {p.split("/")[1] for p, _ in namespaces} == {"us-api"}
    assert {o["metadata"]["name"] for _, o in namespaces} == set(
        compiled.resolved.namespaces("us-api")
    )
    for path, obj in namespaces:
        assert path == f"clusters/us-api/namespaces/namespace-{obj['metadata']['name']}.yaml"
        assert obj["metadata"]["annotations"] == {
            "clustermesh.cilium.io/global": "true",
            "kustomize.toolkit.fluxcd.io/prune": "disabled",
        }
        assert set(obj) == {"apiVersion", "kind", "metadata"} and obj["apiVersion"] == "v1"
    assert objects(variant(), "Namespace") == []
