"""Cluster Mesh values: checked against Cilium's own values schema and the Flux HelmRelease
CRD, and against what fleet.yaml says (peers, ids, endpoints, TLS, routing)."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml as pyyaml
from ruamel.yaml import YAML

from compiler.render import cilium_values, clustermesh
from compiler.resolve.model import ResolvedFleet
from tests.render_support import (
    cilium_values_schema,
    closed_crd_schema,
    compile_data,
    fleet_data,
    objects,
    schema_errors,
    variant,
)

HELMRELEASE_CRD = "flux/helm.toolkit.fluxcd.io_helmreleases.yaml"
DNS1123 = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

VARIANTS = {
    "contoso": lambda: variant(),
    "minimal": lambda: variant("minimal"),
    "native-ipsec": lambda: variant(
        cilium={"routingMode": "native", "nativeRoutingCIDR": "10.0.0.0/8", "encryption": "ipsec"}
    ),
    "geneve-cronjob-nodeport": lambda: variant(
        cilium={"tunnelProtocol": "geneve", "maxConnectedClusters": 511},
        mesh={
            "serviceDiscovery": "annotations",
            "domain": "mesh.contoso.internal",
            "apiserver": {"serviceType": "NodePort"},
            "tls": {"method": "cronJob"},
        },
    ),
    "helmrelease": lambda: variant(cilium={"helmRelease": {"enabled": True}}),
    "helmrelease-oci": lambda: variant(
        cilium={
            "helmRelease": {
                "enabled": True,
                "sourceRef": {"kind": "OCIRepository", "name": "cilium-chart"},
            }
        }
    ),
}


def _values(resolved: ResolvedFleet) -> dict[str, dict[str, Any]]:
    return {c.name: clustermesh.values(resolved, c) for c in resolved.clusters}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_values_match_the_upstream_cilium_schema(name: str) -> None:
    compiled = VARIANTS[name]()
    for configmaps in objects(compiled, "ConfigMap"):
        path, obj = configmaps
        values = YAML(typ="safe").load(io.StringIO(obj["data"]["values.yaml"]))
        version = compiled.resolved.cluster(path.split("/")[1]).cilium_version
        assert schema_errors(cilium_values_schema(version), values) == [], path


def test_the_schema_check_can_fail() -> None:
    values = _values(variant().resolved)["us-api"]
    values["clustermesh"]["config"]["clusters"] = "us-api"
    values["cluster"]["id"] = "3"
    values["clustermesh"]["policyDefaultLocalClusters"] = True  # misspelled: refused
    assert len(schema_errors(cilium_values_schema(), values)) == 3


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_peer_but_self_with_its_endpoint(name: str) -> None:
    compiled = VARIANTS[name]()
    declared = {c["name"]: c for c in compiled.checked.fleet.model_dump()["spec"]["clusters"]}
    for cluster, values in _values(compiled.resolved).items():
        assert values["cluster"] == {"name": cluster, "id": declared[cluster]["id"]}
        peers = values["clustermesh"]["config"]["clusters"]
        assert set(peers) == set(declared) - {cluster}
        for peer, entry in peers.items():
            endpoint = declared[peer]["meshEndpoint"]
            expected = {"port": endpoint["port"]}
            if endpoint["address"] is not None:
                expected["address"] = endpoint["address"]
            else:
                expected["ips"] = endpoint["ips"]
            assert entry == expected
        mesh = values["clustermesh"]
        assert mesh["useAPIServer"] is True and mesh["config"]["enabled"] is True
        assert mesh["policyDefaultLocalCluster"] is True
        assert mesh["maxConnectedClusters"] == compiled.resolved.cilium.max_connected_clusters


def test_server_certificate_covers_how_peers_dial_in() -> None:
    values = _values(variant().resolved)
    assert values["eu-payments"]["clustermesh"]["apiserver"]["tls"]["server"] == {
        "extraDnsNames": ["mesh.eu-payments.contoso.internal"]
    }
    assert values["us-api"]["clustermesh"]["apiserver"]["tls"]["server"] == {
        "extraIpAddresses": ["172.16.3.100"]
    }
    custom = _values(variant(mesh={"domain": "mesh.contoso.internal"}).resolved)
    assert custom["us-api"]["clustermesh"]["apiserver"]["tls"]["server"] == {
        "extraDnsNames": ["us-api.mesh.contoso.internal"],
        "extraIpAddresses": ["172.16.3.100"],
    }


def test_tls_method_and_issuer() -> None:
    tls = _values(variant().resolved)["dev"]["clustermesh"]["apiserver"]["tls"]["auto"]
    assert tls == {
        "enabled": True,
        "method": "certmanager",
        "certManagerIssuerRef": {
            "group": "cert-manager.io",
            "kind": "ClusterIssuer",
            "name": "fleet-mesh-ca",
        },
    }
    cron = variant(mesh={"tls": {"method": "cronJob"}})
    assert _values(cron.resolved)["dev"]["clustermesh"]["apiserver"]["tls"]["auto"] == {
        "enabled": True,
        "method": "cronJob",
    }


def test_routing_encryption_and_discovery() -> None:
    tunnel = _values(variant().resolved)["dev"]
    assert tunnel["routingMode"] == "tunnel" and tunnel["tunnelProtocol"] == "vxlan"
    assert "ipv4NativeRoutingCIDR" not in tunnel
    assert tunnel["encryption"] == {"enabled": True, "type": "wireguard"}
    assert tunnel["clustermesh"]["mcsapi"] == {"enabled": True}
    native = _values(
        variant(
            cilium={
                "routingMode": "native",
                "nativeRoutingCIDR": "10.0.0.0/8",
                "encryption": "none",
            },
            mesh={"serviceDiscovery": "annotations"},
        ).resolved
    )["dev"]
    assert native["routingMode"] == "native" and "tunnelProtocol" not in native
    assert native["ipv4NativeRoutingCIDR"] == "10.0.0.0/8"
    assert native["encryption"] == {"enabled": False}
    assert native["clustermesh"]["mcsapi"] == {"enabled": False}


def test_apiserver_service() -> None:
    service = _values(variant().resolved)["dev"]["clustermesh"]["apiserver"]["service"]
    assert service == {
        "type": "LoadBalancer",
        "annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
    }


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_no_key_material(name: str) -> None:
    for values in _values(VARIANTS[name]().resolved).values():
        assert not _keys(values) & {"key", "cert", "caCert", "tls.key", "tls.crt", "ca.crt"}


def test_configmaps_are_valid_and_merge_to_the_values_both_yaml_versions_agree() -> None:
    """Each cluster's own ConfigMap plus the mesh's, merged as Helm merges ``valuesFrom``,
    are exactly the cluster's values (the bootstrap file); the mesh's is one object."""
    compiled = variant()
    configmaps = objects(compiled, "ConfigMap")
    by_cluster: dict[str, dict[str, Any]] = {}
    meshes = set()
    for path, obj in configmaps:
        cluster, name = path.split("/")[1], obj["metadata"]["name"]
        assert path.endswith(f"/cilium/configmap-kube-system-{name}.yaml")
        meta = obj["metadata"]
        assert name in ("cilium-fleet-values", "cilium-fleet-mesh")
        assert meta["namespace"] == "kube-system"
        assert meta["labels"]["reconcile.fluxcd.io/watch"] == "Enabled"
        assert set(obj) == {"apiVersion", "kind", "metadata", "data"}
        assert all(isinstance(v, str) for v in obj["data"].values())
        text = obj["data"]["values.yaml"]
        parsed = YAML(typ="safe").load(io.StringIO(text))
        assert pyyaml.safe_load(text) == parsed
        by_cluster.setdefault(cluster, {})[name] = parsed
        if name == "cilium-fleet-mesh":
            meshes.add(id(obj))
    assert len(meshes) == 1 and len(by_cluster) == len(compiled.resolved.clusters)
    every = {c.name for c in compiled.resolved.clusters}
    for cluster, sources in by_cluster.items():
        assert set(sources["cilium-fleet-mesh"]["clustermesh"]["config"]["clusters"]) == every
        own = sources["cilium-fleet-values"]["clustermesh"]["config"]["clusters"]
        assert own == {cluster: {"enabled": False}}
        expected = clustermesh.values(compiled.resolved, compiled.resolved.cluster(cluster))
        merged = cilium_values.merged(
            [sources["cilium-fleet-mesh"], sources["cilium-fleet-values"]]
        )
        assert merged == expected


def test_clusters_before_1_19_keep_their_peers_in_their_own_values() -> None:
    data = fleet_data()
    data["spec"]["clusters"][0]["ciliumVersion"] = "1.18"
    compiled = compile_data(data)
    old = data["spec"]["clusters"][0]["name"]
    for path, obj in objects(compiled, "ConfigMap"):
        if path.split("/")[1] != old:
            continue
        assert obj["metadata"]["name"] == "cilium-fleet-values"  # no mesh ConfigMap here
        parsed = pyyaml.safe_load(obj["data"]["values.yaml"])
        assert parsed == clustermesh.values(compiled.resolved, compiled.resolved.cluster(old))
        assert isinstance(parsed["clustermesh"]["config"]["clusters"], list)


@pytest.mark.parametrize("name", ["helmrelease", "helmrelease-oci"])
def test_helmrelease_matches_the_flux_crd(name: str) -> None:
    compiled = VARIANTS[name]()
    releases = objects(compiled, "HelmRelease")
    assert len(releases) == len(compiled.resolved.clusters)
    schema = closed_crd_schema(HELMRELEASE_CRD, "v2")
    for path, obj in releases:
        assert schema_errors(schema, obj) == [], path
        spec = obj["spec"]
        assert spec["timeout"] == "10m"
        assert spec["install"]["remediation"] == {"retries": 3}
        assert spec["upgrade"]["remediation"] == {
            "retries": 3,
            "remediateLastFailure": True,
            "strategy": "rollback",
        }
        assert obj["spec"]["valuesFrom"] == [
            {"kind": "ConfigMap", "name": "cilium-fleet-mesh", "valuesKey": "values.yaml"},
            {"kind": "ConfigMap", "name": "cilium-fleet-values", "valuesKey": "values.yaml"},
        ]
        assert ("chartRef" in obj["spec"]) == (name == "helmrelease-oci")
    assert objects(variant(), "HelmRelease") == []


def test_helmrelease_schema_check_can_fail() -> None:
    release = objects(VARIANTS["helmrelease"](), "HelmRelease")[0][1]
    release["spec"]["valuesFrom"][0]["kind"] = "Service"
    release["spec"]["upgrade"]["remediation"]["retry"] = 3  # misspelled: refused
    assert len(schema_errors(closed_crd_schema(HELMRELEASE_CRD, "v2"), release)) == 2


def test_helmrelease_timing_is_configurable() -> None:
    compiled = variant(cilium={"helmRelease": {"enabled": True, "timeout": "20m", "retries": 0}})
    (_, release), *_ = objects(compiled, "HelmRelease")
    assert release["spec"]["timeout"] == "20m"
    assert release["spec"]["install"]["remediation"] == {"retries": 0}


def test_release_location_is_configurable() -> None:
    data = fleet_data()
    data["spec"]["cilium"]["release"] = {"name": "cilium-cni", "namespace": "cilium"}
    data["spec"]["cilium"]["helmRelease"] = {"enabled": True}
    compiled = compile_data(data)
    (_, release), *_ = objects(compiled, "HelmRelease")
    assert release["metadata"]["name"] == "cilium-cni"
    assert release["metadata"]["namespace"] == "cilium"
    assert {obj["metadata"]["namespace"] for _, obj in objects(compiled, "ConfigMap")} == {"cilium"}
