"""Render the Flux wiring over every other renderer's files: one function, `render`.

It runs last, because it lists what the others produced. Per cluster ``<c>``:

- ``clusters/<c>/kustomization.yaml`` lists every Kubernetes object under ``clusters/<c>/``
  (relative paths, sorted), except those inside a directory that is a kustomize root of its
  own (one holding a ``kustomization.yaml``: ``cilium/`` below, or a Component a renderer
  wrote, such as the annotation-mode ``global-services/<ns>/``);
- files marked ``applied=False`` (the guard's JSON twin) are for people and tools and are
  left out;
- text files (content given as ``str``, e.g. the guard's map seeds) are data, not objects:
  all text files of one directory become one ``configMapGenerator`` entry named
  ``fleetc-<directory path with '-'>`` (``guard/seeds/`` -> ``fleetc-guard-seeds``), in the
  guard's namespace for ``guard/...`` and the Cilium release namespace otherwise. Kustomize
  appends a content hash to the name and rewrites references to it in the same build, so a
  DaemonSet mounting it rolls when the seeds change;
- ``clusters/<c>/cilium/kustomization.yaml`` lists the Cilium values (and HelmRelease);
- ``flux/<c>/`` holds two Flux Kustomizations and a ``kustomization.yaml`` listing them, for
  the cluster's own Flux bootstrap to include (docs/helmrelease.md):
  ``fleetc-<c>-cilium`` applies ``clusters/<c>/cilium`` with no dependency, so the values
  exist before Cilium installs, and is Ready only once the Cilium HelmRelease is
  (``healthChecks``); ``fleetc-<c>`` applies ``clusters/<c>`` and ``dependsOn`` it, so
  policies and ServiceExports wait for Cilium and its CRDs. Flux ``dependsOn`` names
  Kustomizations, not HelmReleases; the health check is what ties the order to the release
  named in ``spec.cilium.release``. Both prune what fleetc stops rendering.

Timing: both retry a failed reconciliation after ``spec.flux.retryInterval`` (a policy whose
namespace does not exist yet should not wait a whole interval). ``fleetc-<c>-cilium`` waits
for the Cilium release up to ``spec.cilium.helmRelease.timeout`` (an install rolls a
DaemonSet over every node); ``fleetc-<c>`` waits up to ``spec.flux.timeout`` with ``wait:
true``, so it is Ready only once what it applied is (the guard's DaemonSet rolled out), and
Kustomizations of the user's that depend on it can trust that. It also ``dependsOn`` the
user's own Kustomizations named in ``spec.flux.dependsOn`` (namespaces, CRDs).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from compiler.render.clustermesh import COMPONENT as CILIUM_DIR
from compiler.render.clustermesh import metadata
from compiler.render.output import File
from compiler.resolve.model import ResolvedFleet

KUSTOMIZATION = "kustomization.yaml"
FLUX_DIR = "flux"


def kustomization_name(cluster: str) -> str:
    return f"fleetc-{cluster}"


def cilium_kustomization_name(cluster: str) -> str:
    return f"fleetc-{cluster}-cilium"


def _kustomize(resources: list[str], generators: list[dict[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    if generators:
        obj["configMapGenerator"] = generators
    return obj


def _data_namespace(resolved: ResolvedFleet, directory: str) -> str:
    if directory.split("/", 1)[0] == "guard":
        return resolved.guard.namespace
    return resolved.cilium.release_namespace


def _root_of(path: str, roots: Sequence[str]) -> str:
    """The deepest kustomize root (a directory, '' for the cluster's) that holds `path`."""
    best = ""
    for root in roots:
        if path.startswith(root + "/") and len(root) > len(best):
            best = root
    return best


def cluster_kustomizations(
    resolved: ResolvedFleet, cluster: str, files: Sequence[File]
) -> list[File]:
    """``kustomization.yaml`` for the cluster directory and for ``cilium/`` in it, given the
    files under ``clusters/<cluster>/``."""
    prefix = f"clusters/{cluster}/"
    local = sorted((f.path[len(prefix) :], f) for f in files)
    # Directories that already are kustomize roots (a renderer wrote their kustomization.yaml)
    # build on their own; ours are the cluster directory and cilium/.
    foreign = {posixpath.dirname(p) for p, _ in local if posixpath.basename(p) == KUSTOMIZATION}
    roots = sorted(foreign | {CILIUM_DIR})
    resources: dict[str, list[str]] = {"": [], CILIUM_DIR: []}
    data: dict[str, dict[str, list[str]]] = {"": {}, CILIUM_DIR: {}}
    for path, file in local:
        root = _root_of(path, roots)
        if root in foreign or not file.applied:
            continue
        relative = path[len(root) + 1 :] if root else path
        if isinstance(file.content, str):
            directory = posixpath.dirname(path)
            data[root].setdefault(directory, []).append(relative)
        else:
            resources[root].append(relative)
    origin = f"every file of cluster {cluster} in {resolved.source}"
    return [
        File(
            prefix + (f"{root}/" if root else "") + KUSTOMIZATION,
            _kustomize(resources[root], _generators(resolved, data[root])),
            origin,
        )
        for root in ("", CILIUM_DIR)
    ]


def _generators(resolved: ResolvedFleet, data: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {
            "name": "fleetc-" + directory.replace("/", "-"),
            "namespace": _data_namespace(resolved, directory),
            "files": names,
        }
        for directory, names in sorted(data.items())
    ]


def _flux_kustomization(
    resolved: ResolvedFleet, name: str, path: str, extra: dict[str, Any]
) -> dict[str, Any]:
    flux = resolved.flux
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": metadata(resolved, name, flux.namespace),
        "spec": {
            "interval": flux.interval,
            "retryInterval": flux.retry_interval,
            "path": path,
            "prune": True,
            "sourceRef": {
                "kind": flux.source_kind,
                "name": flux.source_name,
                "namespace": flux.source_namespace,
            },
            **extra,
        },
    }


def flux_kustomizations(resolved: ResolvedFleet, cluster: str) -> list[dict[str, Any]]:
    """The two Flux Kustomizations of `cluster`: its Cilium values, then everything else."""
    base = posixpath.join(resolved.flux.path.rstrip("/") or ".", "clusters", cluster)
    cilium = resolved.cilium
    values = _flux_kustomization(
        resolved,
        cilium_kustomization_name(cluster),
        f"{base}/{CILIUM_DIR}",
        {
            # `wait` would replace the health check with the objects applied here, and the
            # HelmRelease may well be the user's, applied elsewhere.
            "timeout": cilium.chart_timeout,
            "healthChecks": [
                {
                    "apiVersion": "helm.toolkit.fluxcd.io/v2",
                    "kind": "HelmRelease",
                    "name": cilium.release_name,
                    "namespace": cilium.release_namespace,
                }
            ],
        },
    )
    depends: list[dict[str, str]] = [{"name": cilium_kustomization_name(cluster)}]
    for dependency in resolved.flux.depends_on:
        entry = {"name": dependency.name}
        if dependency.namespace is not None:
            entry["namespace"] = dependency.namespace
        if entry not in depends:
            depends.append(entry)
    rest = _flux_kustomization(
        resolved,
        kustomization_name(cluster),
        base,
        {"timeout": resolved.flux.timeout, "wait": True, "dependsOn": depends},
    )
    return [values, rest]


def render(resolved: ResolvedFleet, files: Sequence[File]) -> list[File]:
    """The kustomize and Flux files for every cluster, given all other rendered files."""
    by_cluster: dict[str, list[File]] = {c.name: [] for c in resolved.clusters}
    for file in files:
        parts = file.path.split("/", 2)
        if len(parts) == 3 and parts[0] == "clusters" and parts[1] in by_cluster:
            by_cluster[parts[1]].append(file)
    out: list[File] = []
    for cluster in resolved.clusters:
        out.extend(cluster_kustomizations(resolved, cluster.name, by_cluster[cluster.name]))
        origin = f"cluster {cluster.name} in {resolved.source}"
        names = []
        for obj in flux_kustomizations(resolved, cluster.name):
            name = f"kustomization-{obj['metadata']['name']}.yaml"
            names.append(name)
            out.append(File(f"{FLUX_DIR}/{cluster.name}/{name}", obj, origin))
        out.append(
            File(f"{FLUX_DIR}/{cluster.name}/{KUSTOMIZATION}", _kustomize(names, []), origin)
        )
    return out
