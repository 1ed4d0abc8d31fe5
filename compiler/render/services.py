"""Render how exported services reach the mesh: one function, `render`.

- MCS-API discovery: a ``ServiceExport`` (``multicluster.x-k8s.io/v1alpha1``, the version
  Cilium 1.19 serves) next to the Service in every cluster that runs its backends. Cilium
  creates the ServiceImports itself; fleetc never writes one. A service with ``shared: false``
  gets no ServiceExport: MCS-API has no "import without exporting", so its backends stay local.
- Annotation discovery: the app owns its Service, so fleetc cannot write it. Per cluster and
  namespace it renders a kustomize *Component* under ``clusters/<c>/global-services/<ns>/``
  holding one patch per exported service (``service.cilium.io/global``, ``shared``,
  ``affinity``); the app's kustomization for that cluster adds the directory to its
  ``components:`` (docs/helmrelease.md). Each patch targets a Service by kind, name and
  namespace, so a build holding a same-named Service in another namespace leaves it alone.
  A component runs before the including kustomization's own ``namespace:`` transformer, so
  the Service must have its namespace by then: in its manifest, or from a base the including
  kustomization builds on.
- Namespaces: from Cilium 1.20 a cluster may export only namespaces marked global, so every
  namespace fleetc manages in such a cluster gets a Namespace object annotated
  ``clustermesh.cilium.io/global: "true"``. Flux never prunes it
  (``kustomize.toolkit.fluxcd.io/prune: disabled``): the namespace belongs to the app, and
  dropping it from fleet.yaml must not delete the app with it.
"""

from __future__ import annotations

from typing import Any

from compiler.render.clustermesh import metadata
from compiler.render.output import File, object_path
from compiler.resolve.model import Cluster, ResolvedFleet, Service

COMPONENT = "services"
PATCH_COMPONENT = "global-services"
NAMESPACE_COMPONENT = "namespaces"
GLOBAL_NAMESPACES_SINCE = (1, 20)
GLOBAL = "service.cilium.io/global"
SHARED = "service.cilium.io/shared"
AFFINITY = "service.cilium.io/affinity"
NAMESPACE_GLOBAL = "clustermesh.cilium.io/global"
PRUNE = "kustomize.toolkit.fluxcd.io/prune"


def _origin(resolved: ResolvedFleet, service: Service) -> str:
    return f"service {service.ref} in {resolved.source}"


def service_export(resolved: ResolvedFleet, service: Service) -> dict[str, Any]:
    return {
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ServiceExport",
        "metadata": metadata(resolved, service.name, service.namespace),
    }


def annotation_patch(service: Service) -> dict[str, Any]:
    """A strategic-merge patch adding the global-service annotations to the app's Service."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service.name,
            "annotations": {
                GLOBAL: "true",
                SHARED: "true" if service.shared else "false",
                AFFINITY: service.affinity,
            },
        },
    }


def _component(services: list[Service]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "patches": [
            {
                "path": f"service-{s.name}.yaml",
                "target": {"kind": "Service", "name": s.name, "namespace": s.namespace},
            }
            for s in services
        ],
    }


def _annotation_files(
    resolved: ResolvedFleet, cluster: Cluster, exports: list[Service]
) -> list[File]:
    by_namespace: dict[str, list[Service]] = {}
    for service in exports:
        by_namespace.setdefault(service.namespace, []).append(service)
    files: list[File] = []
    for namespace, services in sorted(by_namespace.items()):
        base = f"clusters/{cluster.name}/{PATCH_COMPONENT}/{namespace}"
        for service in services:
            files.append(
                File(
                    f"{base}/service-{service.name}.yaml",
                    annotation_patch(service),
                    _origin(resolved, service),
                )
            )
        origin = f"spec.services in {resolved.source}"
        files.append(File(f"{base}/kustomization.yaml", _component(services), origin))
    return files


def global_namespace(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "annotations": {NAMESPACE_GLOBAL: "true", PRUNE: "disabled"},
        },
    }


def render(resolved: ResolvedFleet) -> list[File]:
    files: list[File] = []
    mcs = resolved.mesh.service_discovery == "mcs-api"
    # One pass over the services instead of one per cluster (`ResolvedFleet.exports`); the
    # lists keep the resolved (sorted) order.
    exports: dict[str, list[Service]] = {c.name: [] for c in resolved.clusters}
    for service in resolved.services:
        if service.export:
            for name in service.clusters:
                exports[name].append(service)
    # One object per service and per namespace, in every cluster that has it: identical
    # objects are one dict, so packing and serializing look at each once.
    made: dict[str, dict[str, Any]] = {}
    for cluster in resolved.clusters:
        if mcs:
            for service in exports[cluster.name]:
                if service.shared:
                    key = f"{service.namespace}/{service.name}"
                    obj = made.get(key) or made.setdefault(key, service_export(resolved, service))
                    path = object_path(cluster.name, COMPONENT, obj)
                    files.append(File(path, obj, _origin(resolved, service)))
        else:
            files.extend(_annotation_files(resolved, cluster, exports[cluster.name]))
        if cluster.cilium_version >= GLOBAL_NAMESPACES_SINCE:
            origin = f"namespaces of cluster {cluster.name} in {resolved.source}"
            for namespace in resolved.namespaces(cluster.name):
                obj = made.get(namespace) or made.setdefault(namespace, global_namespace(namespace))
                files.append(File(object_path(cluster.name, NAMESPACE_COMPONENT, obj), obj, origin))
    return files
