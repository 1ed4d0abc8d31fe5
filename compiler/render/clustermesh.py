"""Render the Cilium Helm values fleetc owns for each cluster: one function, `render`.

Per cluster, a ConfigMap ``cilium-fleet-values`` in the Cilium release namespace holds the
values under the key ``values.yaml``; the cluster's Cilium HelmRelease reads it with
``valuesFrom`` (docs/helmrelease.md shows the lines to add). When fleet.yaml asks for it
(``spec.cilium.helmRelease.enabled``), a complete HelmRelease is rendered next to it.

The values (`compiler.render.cilium_values`) are what Cluster Mesh needs to be identical or
consistent across clusters, in the form of the cluster's Cilium minor, and the switches for
what the fleet relies on (IPv6, SCTP, the L7 and DNS proxies). Everything else (image
versions, IPAM, kube-proxy replacement ...) stays in the user's own values.

Day 0: Cilium is the CNI, so Flux cannot run before it. The same values are written as a plain
Helm values file, ``bootstrap/<cluster>/cilium-values.yaml``, for ``helm install -f``,
Terraform or Cluster API; no kustomization lists it, Flux never applies it.

Both files go to ``clusters/<cluster>/cilium/``, a kustomize root of its own applied by its own
Flux Kustomization (see `compiler.render.flux`): the values must reach the cluster before
Cilium is installed, while everything else in the cluster waits for Cilium.

No key material is written: TLS certificates come from cert-manager (an issuer reference), a
CronJob or Helm inside the cluster.
"""

from __future__ import annotations

from typing import Any

from compiler.emit.yaml import dump
from compiler.render.cilium_values import fleet_features, values
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


def values_configmap(
    resolved: ResolvedFleet, cluster: Cluster, text: str | None = None
) -> dict[str, Any]:
    """The ConfigMap the HelmRelease reads; `text` is the values' YAML when already made."""
    meta = metadata(resolved, VALUES_CONFIGMAP, resolved.cilium.release_namespace)
    meta["labels"][WATCH_LABEL] = "Enabled"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {VALUES_KEY: dump(values(resolved, cluster)) if text is None else text},
    }


def helm_release(resolved: ResolvedFleet) -> dict[str, Any]:
    """A complete Cilium HelmRelease whose values come from the fleet ConfigMap."""
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
        "valuesFrom": [{"kind": "ConfigMap", "name": VALUES_CONFIGMAP, "valuesKey": VALUES_KEY}],
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
    for cluster in resolved.clusters:
        origin = f"cluster {cluster.name} in {resolved.source}"
        text = dump(values(resolved, cluster, features))
        configmap = values_configmap(resolved, cluster, text)
        files.append(File(object_path(cluster.name, COMPONENT, configmap), configmap, origin))
        files.append(bootstrap_file(resolved, cluster, text))
        if resolved.cilium.helm_release:
            release = helm_release(resolved)
            origin = f"spec.cilium.helmRelease in {resolved.source}"
            files.append(File(object_path(cluster.name, COMPONENT, release), release, origin))
    return files
