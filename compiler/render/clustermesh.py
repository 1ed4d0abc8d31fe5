"""Render the Cilium Helm values fleetc owns for each cluster: one function, `render`.

Per cluster, a ConfigMap ``cilium-fleet-values`` in the Cilium release namespace holds the
values under the key ``values.yaml``; the cluster's Cilium HelmRelease reads it with
``valuesFrom`` (docs/helmrelease.md shows the lines to add). When fleet.yaml asks for it
(``spec.cilium.helmRelease.enabled``), a complete HelmRelease is rendered next to it.

The values are what Cluster Mesh needs to be identical or consistent across clusters: the
cluster's name and id, every peer in the 1.19 dict form of ``clustermesh.config.clusters``,
the clustermesh-apiserver service and TLS method, routing and encryption settings. Everything
else (image versions, IPAM, kube-proxy replacement ...) stays in the user's own values.

Both files go to ``clusters/<cluster>/cilium/``, a kustomize root of its own applied by its own
Flux Kustomization (see `compiler.render.flux`): the values must reach the cluster before
Cilium is installed, while everything else in the cluster waits for Cilium.

No key material is written: TLS certificates come from cert-manager (an issuer reference), a
CronJob or Helm inside the cluster.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from compiler.emit.yaml import dump
from compiler.render.output import File, object_path
from compiler.resolve.model import Cluster, ResolvedFleet

COMPONENT = "cilium"
VALUES_CONFIGMAP = "cilium-fleet-values"
VALUES_KEY = "values.yaml"
DEFAULT_DOMAIN = "mesh.cilium.io"
"""Cilium's server certificate always covers ``*.mesh.cilium.io``; other domains need names."""
WATCH_LABEL = "reconcile.fluxcd.io/watch"
"""helm-controller re-reconciles a HelmRelease as soon as a labelled valuesFrom source changes."""

POLICY_DEFAULT_LOCAL_CLUSTER = True
"""Set explicitly on every cluster. fleetc's own policies name the cluster label in every peer
selector, so they mean the same either way; `true` (the Cilium 1.19 default) keeps
hand-written policies without a cluster label local to their cluster, the safe reading, and
makes a 1.18 cluster behave like the 1.19 ones of the same mesh."""


def metadata(resolved: ResolvedFleet, name: str, namespace: str | None) -> dict[str, Any]:
    """Metadata of an object fleetc owns: its labels say who manages it and for which fleet."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "fleetc", "fleetc.dev/fleet": resolved.name},
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _peer(cluster: Cluster) -> dict[str, Any]:
    endpoint = cluster.endpoint
    entry: dict[str, Any] = {"port": endpoint.port}
    if endpoint.address is not None:
        entry["address"] = endpoint.address
    else:
        entry["ips"] = list(endpoint.ips)
    return entry


def _server_names(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, list[str]]:
    """Names and addresses the apiserver's server certificate must cover, for its peers.

    A peer given by address dials that name; one given by IPs dials ``<name>.<domain>`` at
    those IPs. Cilium's generated certificate covers only ``*.mesh.cilium.io`` and in-cluster
    names, so anything else is added here.
    """
    endpoint = cluster.endpoint
    dns: list[str] = []
    if endpoint.address is not None:
        dns.append(endpoint.address)
    elif resolved.mesh.domain != DEFAULT_DOMAIN:
        dns.append(f"{cluster.name}.{resolved.mesh.domain}")
    server: dict[str, list[str]] = {}
    if dns:
        server["extraDnsNames"] = dns
    if endpoint.ips:
        server["extraIpAddresses"] = list(endpoint.ips)
    return server


def _tls(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any]:
    mesh = resolved.mesh
    auto: dict[str, Any] = {"enabled": True, "method": mesh.tls_method}
    if mesh.tls_method == "certmanager":
        auto["certManagerIssuerRef"] = {
            "group": mesh.issuer_group,
            "kind": mesh.issuer_kind,
            "name": mesh.issuer_name,
        }
    tls: dict[str, Any] = {"auto": auto}
    server = _server_names(resolved, cluster)
    if server:
        tls["server"] = server
    return tls


def _routing(resolved: ResolvedFleet) -> dict[str, Any]:
    cilium = resolved.cilium
    values: dict[str, Any] = {"routingMode": cilium.routing_mode}
    if cilium.routing_mode == "tunnel":
        values["tunnelProtocol"] = cilium.tunnel_protocol
    elif cilium.native_routing_cidr is not None:
        net = ipaddress.ip_network(cilium.native_routing_cidr)
        values[f"ipv{net.version}NativeRoutingCIDR"] = cilium.native_routing_cidr
    encryption: dict[str, Any] = {"enabled": cilium.encryption != "none"}
    if cilium.encryption != "none":
        encryption["type"] = cilium.encryption
    values["encryption"] = encryption
    return values


def values(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any]:
    """The Helm values fleetc owns for `cluster` (the same shape as Cilium's values.yaml)."""
    mesh = resolved.mesh
    apiserver: dict[str, Any] = {
        "service": {
            "type": mesh.apiserver_service_type,
            "annotations": dict(mesh.apiserver_annotations),
        },
        "tls": _tls(resolved, cluster),
    }
    clustermesh: dict[str, Any] = {
        "useAPIServer": True,
        "maxConnectedClusters": resolved.cilium.max_connected_clusters,
        "policyDefaultLocalCluster": POLICY_DEFAULT_LOCAL_CLUSTER,
        "config": {
            "enabled": True,
            "domain": mesh.domain,
            "clusters": {peer.name: _peer(peer) for peer in resolved.peers(cluster.name)},
        },
        "apiserver": apiserver,
    }
    mcs = mesh.service_discovery == "mcs-api"
    if cluster.cilium_version >= (1, 19):
        clustermesh["mcsapi"] = {"enabled": mcs}
    else:
        clustermesh["enableMCSAPISupport"] = mcs  # the key before 1.19, deprecated since
    return {
        "cluster": {"name": cluster.name, "id": cluster.id},
        "clustermesh": clustermesh,
        **_routing(resolved),
    }


def values_configmap(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any]:
    meta = metadata(resolved, VALUES_CONFIGMAP, resolved.cilium.release_namespace)
    meta["labels"][WATCH_LABEL] = "Enabled"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {VALUES_KEY: dump(values(resolved, cluster))},
    }


def helm_release(resolved: ResolvedFleet) -> dict[str, Any]:
    """A complete Cilium HelmRelease whose values come from the fleet ConfigMap."""
    cilium = resolved.cilium
    kind, name, namespace = cilium.chart_source
    source = {"kind": kind, "name": name, "namespace": namespace}
    spec: dict[str, Any] = {
        "interval": cilium.chart_interval,
        "releaseName": cilium.release_name,
        "install": {"crds": "CreateReplace"},
        "upgrade": {"crds": "CreateReplace"},
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


def render(resolved: ResolvedFleet) -> list[File]:
    files: list[File] = []
    for cluster in resolved.clusters:
        origin = f"cluster {cluster.name} in {resolved.source}"
        configmap = values_configmap(resolved, cluster)
        files.append(File(object_path(cluster.name, COMPONENT, configmap), configmap, origin))
        if resolved.cilium.helm_release:
            release = helm_release(resolved)
            origin = f"spec.cilium.helmRelease in {resolved.source}"
            files.append(File(object_path(cluster.name, COMPONENT, release), release, origin))
    return files
