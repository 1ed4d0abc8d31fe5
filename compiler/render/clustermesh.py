"""Render the Cilium Helm values fleetc owns for each cluster: one function, `render`.

Per cluster, a ConfigMap ``cilium-fleet-values`` in the Cilium release namespace holds the
values under the key ``values.yaml``; the cluster's Cilium HelmRelease reads it with
``valuesFrom`` (docs/helmrelease.md shows the lines to add). From Cilium 1.19 the chart takes
the peers as a map, which Helm merges across ``valuesFrom`` sources, so the peers live in one
ConfigMap ``cilium-fleet-mesh`` that is the same in every cluster (every cluster of the mesh;
a cluster's own values switch its own entry off) and is written once (`compiler.render.pack`):
a cluster's values no longer grow with the fleet. Before 1.19 (a list, which Helm replaces
rather than merges) the peers stay in the cluster's own values. When fleet.yaml asks for it
(``spec.cilium.helmRelease.enabled``), a complete HelmRelease is rendered next to them.

The values (`compiler.render.cilium_values`) are what Cluster Mesh needs to be identical or
consistent across clusters, in the form of the cluster's Cilium minor, and the switches for
what the fleet relies on (IPv6, SCTP, the L7 and DNS proxies). Everything else (image
versions, IPAM, kube-proxy replacement ...) stays in the user's own values.

Day 0: Cilium is the CNI, so Flux cannot run before it. The same values (merged: the peers
listed in full) are written as a plain Helm values file,
``bootstrap/<cluster>/cilium-values.yaml``, for ``helm install -f``, Terraform or Cluster API;
no kustomization lists it, Flux never applies it.

The ConfigMaps (and the HelmRelease) go to ``clusters/<cluster>/cilium/``, a kustomize root of its own applied by its own
Flux Kustomization (see `compiler.render.flux`): the values must reach the cluster before
Cilium is installed, while everything else in the cluster waits for Cilium.

No key material is written: TLS certificates come from cert-manager (an issuer reference), a
CronJob or Helm inside the cluster.
"""

from __future__ import annotations

from typing import Any

from compiler.emit.yaml import dump
from compiler.render.cilium_values import (
    configmap_values,
    fleet_features,
    mesh_values,
    shares_peers,
    values,
)
from compiler.render.output import File, object_path
from compiler.resolve.model import Cluster, ResolvedFleet

__all__ = [
    "bootstrap_file",
    "bootstrap_path",
    "helm_release",
    "render",
    "values",
    "values_configmap",
]

COMPONENT = "cilium"
VALUES_CONFIGMAP = "cilium-fleet-values"
MESH_CONFIGMAP = "cilium-fleet-mesh"
VALUES_KEY = "values.yaml"
BOOTSTRAP_DIR = "bootstrap"
BOOTSTRAP_VALUES = "cilium-values.yaml"
WATCH_LABEL = "reconcile.fluxcd.io/watch"
"""helm-controller re-reconciles a HelmRelease as soon as a labelled valuesFrom source changes."""


def metadata(resolved: ResolvedFleet, name: str, namespace: str | None) -> dict[str, Any]:
    """Metadata of an object fleetc owns: its labels say who manages it and for which fleet."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "fleetc", "fleetc.dev/fleet": resolved.name},
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _configmap(resolved: ResolvedFleet, name: str, text: str) -> dict[str, Any]:
    meta = metadata(resolved, name, resolved.cilium.release_namespace)
    meta["labels"][WATCH_LABEL] = "Enabled"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {VALUES_KEY: text}}


def values_configmap(
    resolved: ResolvedFleet, cluster: Cluster, text: str | None = None
) -> dict[str, Any]:
    """The cluster's ConfigMap the HelmRelease reads; `text` is its YAML when already made."""
    body = dump(configmap_values(resolved, cluster)) if text is None else text
    return _configmap(resolved, VALUES_CONFIGMAP, body)


def mesh_configmap(resolved: ResolvedFleet) -> dict[str, Any]:
    """The peers every cluster on 1.19 or later reads, before its own values."""
    return _configmap(resolved, MESH_CONFIGMAP, dump(mesh_values(resolved)))


def values_from(cluster: Cluster) -> list[dict[str, str]]:
    """The HelmRelease's ``valuesFrom`` for `cluster`: the mesh's peers first (where the
    chart merges peer maps), then the cluster's own values, which win."""
    sources = [VALUES_CONFIGMAP]
    if shares_peers(cluster):
        sources.insert(0, MESH_CONFIGMAP)
    return [{"kind": "ConfigMap", "name": name, "valuesKey": VALUES_KEY} for name in sources]


def helm_release(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any]:
    """A complete Cilium HelmRelease whose values come from fleetc's ConfigMaps."""
    cilium = resolved.cilium
    kind, name, namespace = cilium.chart_source
    source = {"kind": kind, "name": name, "namespace": namespace}
    spec: dict[str, Any] = {
        "interval": cilium.chart_interval,
        "releaseName": cilium.release_name,
        # Cilium is the CNI: a failed install or upgrade is retried (an upgrade after rolling
        # back), within a timeout sized for a DaemonSet rolling over every node.
        "timeout": cilium.chart_timeout,
        "install": {"crds": "CreateReplace", "remediation": {"retries": cilium.chart_retries}},
        "upgrade": {
            "crds": "CreateReplace",
            "remediation": {
                "retries": cilium.chart_retries,
                "remediateLastFailure": True,
                "strategy": "rollback",
            },
        },
        "valuesFrom": values_from(cluster),
    }
    if kind == "OCIRepository":
        # An OCI artifact is the chart itself: HelmRelease v2 refers to it with chartRef.
        spec["chartRef"] = source
    else:
        spec["chart"] = {
            "spec": {"chart": "cilium", "version": cilium.chart_version, "sourceRef": source}
        }
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": metadata(resolved, cilium.release_name, cilium.release_namespace),
        "spec": spec,
    }


def bootstrap_path(cluster: str) -> str:
    return f"{BOOTSTRAP_DIR}/{cluster}/{BOOTSTRAP_VALUES}"


def bootstrap_file(resolved: ResolvedFleet, cluster: Cluster, text: str | None = None) -> File:
    """The day-0 Helm values file: the ConfigMap's values, as text (it is not an object)."""
    origin = f"cluster {cluster.name} in {resolved.source}"
    body = dump(values(resolved, cluster)) if text is None else text
    return File(bootstrap_path(cluster.name), body, origin)


def render(resolved: ResolvedFleet) -> list[File]:
    files: list[File] = []
    features = fleet_features(resolved)
    mesh = mesh_configmap(resolved)  # one object: the output holds it once
    mesh_origin = f"every cluster of the mesh in {resolved.source}"
    for cluster in resolved.clusters:
        origin = f"cluster {cluster.name} in {resolved.source}"
        body = dump(configmap_values(resolved, cluster, features))
        configmap = values_configmap(resolved, cluster, body)
        files.append(File(object_path(cluster.name, COMPONENT, configmap), configmap, origin))
        if shares_peers(cluster):
            files.append(File(object_path(cluster.name, COMPONENT, mesh), mesh, mesh_origin))
        files.append(bootstrap_file(resolved, cluster, dump(values(resolved, cluster, features))))
        if resolved.cilium.helm_release:
            release = helm_release(resolved, cluster)
            origin = f"spec.cilium.helmRelease in {resolved.source}"
            files.append(File(object_path(cluster.name, COMPONENT, release), release, origin))
    return files
