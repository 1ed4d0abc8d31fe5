"""Every rendered object of a custom kind passes its upstream CRD schema with unknown fields
refused (the schemas closed: see `tests.render_support.closed`), across fleets that use every
output kind: annotation and MCS-API discovery, a rendered HelmRelease (Helm and OCI
sources), the fleet guard, 1.20 clusters, and policies with entities, CIDRs, FQDNs and HTTP.
Objects of built-in kinds have no CRD; the list of those kinds is closed too, so a new custom
kind cannot slip through unchecked."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compiler.pipeline import Compiled
from tests.render_support import closed_crd_schema, compile_data, fleet_data, schema_errors

CRDS = {
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): (
        "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml", "v1"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"): (
        "flux/helm.toolkit.fluxcd.io_helmreleases.yaml", "v2"),
    ("multicluster.x-k8s.io/v1alpha1", "ServiceExport"): (
        "mcs-api/cilium-v1.19.2-pinned/multicluster.x-k8s.io_serviceexports.yaml", "v1alpha1"),
    ("cilium.io/v2", "CiliumNetworkPolicy"): ("cilium/crds/v2/ciliumnetworkpolicies.yaml", "v2"),
    ("cilium.io/v2", "CiliumClusterwideNetworkPolicy"): (
        "cilium/crds/v2/ciliumclusterwidenetworkpolicies.yaml", "v2"),
}  # fmt: skip
BUILT_IN = {
    ("v1", "ConfigMap"),
    ("v1", "Namespace"),
    ("v1", "Service"),  # annotation-mode patches
    ("v1", "ServiceAccount"),
    ("apps/v1", "DaemonSet"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
    ("kustomize.config.k8s.io/v1alpha1", "Component"),
}
EXTRA_POLICIES = [
    {"name": "extra-world-to-gateway", "action": "allow", "from": {"entities": ["world"]},
     "to": {"service": "api/gateway"}},
    {"name": "extra-payments-to-sql", "action": "allow", "from": {"namespace": "payments"},
     "to": {"cidrs": ["10.50.0.0/16"], "except": ["10.50.9.0/24"]}},
    {"name": "extra-payments-to-stripe", "action": "allow", "from": {"service": "payments/payments"},
     "to": {"fqdns": ["api.stripe.com", "*.stripe.com"]}},
    {"name": "extra-gateway-reads-payments", "action": "allow", "from": {"service": "api/gateway"},
     "to": {"service": "payments/payments", "http": [{"method": "GET", "path": "/v1/.*"}]}},
]  # fmt: skip


def _fleets() -> dict[str, Any]:
    base = fleet_data()
    everything = copy.deepcopy(base)
    everything["spec"]["policies"] += EXTRA_POLICIES
    everything["spec"]["guard"] = {"enabled": True, "mode": "enforce"}
    everything["spec"]["clusters"][2]["ciliumVersion"] = "1.20"
    everything["spec"]["cilium"]["helmRelease"] = {"enabled": True}
    everything["spec"]["flux"] = {"dependsOn": [{"name": "namespaces", "namespace": "infra"}]}
    annotations = copy.deepcopy(everything)
    annotations["spec"]["mesh"]["serviceDiscovery"] = "annotations"
    annotations["spec"]["cilium"]["helmRelease"] = {
        "enabled": True,
        "sourceRef": {"kind": "OCIRepository", "name": "cilium-chart"},
    }
    return {
        "contoso": base,
        "minimal": fleet_data("minimal"),
        "everything": everything,
        "annotations": annotations,
    }


FLEETS = _fleets()


def _objects(compiled: Compiled) -> list[tuple[str, dict[str, Any]]]:
    return [(f.path, f.content) for f in compiled.files if isinstance(f.content, dict)]


@pytest.mark.parametrize("name", sorted(FLEETS))
def test_every_object_passes_its_closed_crd_schema(name: str) -> None:
    compiled = compile_data(copy.deepcopy(FLEETS[name]))
    checked: set[tuple[str, str]] = set()
    for path, obj in _objects(compiled):
        kind = (obj["apiVersion"], obj["kind"])
        if kind in BUILT_IN:
            continue
        assert kind in CRDS, f"{path}: {kind} is neither a known CRD nor a built-in kind"
        assert schema_errors(closed_crd_schema(*CRDS[kind]), obj) == [], path
        checked.add(kind)
    if name == "everything":
        assert checked == set(CRDS)


def test_closed_schemas_refuse_a_misspelled_field() -> None:
    compiled = compile_data(copy.deepcopy(FLEETS["everything"]))
    seen = set()
    for _, obj in _objects(compiled):
        kind = (obj["apiVersion"], obj["kind"])
        if kind not in CRDS or kind in seen:
            continue
        seen.add(kind)
        broken = copy.deepcopy(obj)
        broken["spec"] = {**broken.get("spec", {}), "enableDefaultDenyy": True}
        assert schema_errors(closed_crd_schema(*CRDS[kind]), broken) != [], kind
    assert seen == set(CRDS)
