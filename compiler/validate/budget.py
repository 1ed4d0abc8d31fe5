"""The mesh budget: how close the fleet comes to Cilium's and Kubernetes' hard limits.

Each limit gets a warning from 80 % of it and an error past it, at the place in fleet.yaml that
drives the number. The figures are lower bounds computed from fleet.yaml alone (fleetc cannot
see pods), so an error here is certain and a warning is a reason to look:

- clusters in the mesh against ``maxConnectedClusters`` (255 or 511);
- security identities per cluster: Cilium allocates cluster-local identities in 16 bits, 15
  when the mesh allows 511 clusters (65,535 or 32,767), at least one per distinct pod label set;
- policy map entries per endpoint: Cilium's per-endpoint policy map holds 16,384 entries by
  default (``bpf-policy-map-max``); each allowed (peer identity, port) pair takes one;
- fleet guard map entries against their ``max_entries`` (see `compiler.guard`);
- the size of every file Flux applies (an object, or a ``configMapGenerator`` source such as
  the guard's seeds) against Kubernetes' 1 MiB (`ObjectSizes`). Sizes exist only once the
  output does, so `render` judges them as it serializes, not `validate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostics
from compiler.load import Document, format_path
from compiler.model import Fleet

if TYPE_CHECKING:
    from compiler.render.output import File

WARN_AT = 0.8
POLICY_MAP_MAX = 16_384
OBJECT_MAX = 1 << 20
"""Kubernetes refuses a ConfigMap or Secret over 1 MiB of data and etcd a request over 1.5 MiB;
every file Flux applies is held to the smaller."""
IDENTITIES = {255: 65_535, 511: 32_767}


def _judge(
    diags: Diagnostics,
    doc: Document,
    path: tuple[str | int, ...],
    code: str,
    what: str,
    used: int,
    limit: int,
    hint: str,
) -> None:
    if used > limit:
        diags.error(
            code,
            f"{what}: {used} of at most {limit}",
            doc.position(path),
            hint=hint,
            path=format_path(path),
        )
    elif used >= WARN_AT * limit:
        diags.warning(
            code,
            f"{what}: {used} of at most {limit} ({100 * used // limit} %)",
            doc.position(path),
            hint=hint,
            path=format_path(path),
        )


def check_cluster_count(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    limit = fleet.spec.cilium.maxConnectedClusters
    used = len(fleet.spec.clusters)
    if used > limit:
        return  # the mesh invariants already report this as an error
    if used >= WARN_AT * limit:
        path: tuple[str | int, ...] = ("spec", "cilium", "maxConnectedClusters")
        if not doc.exists(path):
            path = ("spec", "clusters")
        hint = "maxConnectedClusters: 511 doubles the room (it halves identities per cluster)"
        _judge(diags, doc, path, "budget-clusters", "clusters in the mesh", used, limit, hint)


def check_identities(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    limit = IDENTITIES[fleet.spec.cilium.maxConnectedClusters]
    label_sets: dict[str, set[tuple[str, tuple[tuple[str, str], ...]]]] = {}
    for service in fleet.spec.services:
        key = (service.namespace, tuple(sorted(service.selector.items())))
        for name in service.clusters:
            label_sets.setdefault(name, set()).add(key)
    for i, cluster in enumerate(fleet.spec.clusters):
        used = len(label_sets.get(cluster.name, ()))
        _judge(
            diags,
            doc,
            ("spec", "clusters", i, "name"),
            "budget-identities",
            f"security identities in cluster {cluster.name!r} (distinct service pod label sets)",
            used,
            limit,
            "split workloads across clusters, or keep maxConnectedClusters at 255",
        )


def check_policy_map(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Entries each service's pods need in their ingress policy map, from allow rules to it."""
    services = {f"{s.namespace}/{s.name}": s for s in fleet.spec.services}
    entries: dict[str, int] = {}
    first_rule: dict[str, int] = {}
    for i, policy in enumerate(fleet.spec.policies):
        target = policy.to.service
        if policy.action != "allow" or target is None or target not in services:
            continue
        source = policy.from_.service
        if policy.from_.cidrs is not None:  # one identity per prefix (and per exception)
            peers = len(set(policy.from_.cidrs)) + len(set(policy.from_.except_ or ()))
        elif policy.from_.entities is not None:
            peers = len(set(policy.from_.entities))
        elif source is not None and source in services:
            peers = len(set(services[source].clusters))
        elif isinstance(policy.from_.clusters, list):
            peers = len(set(policy.from_.clusters))
        else:
            peers = len(fleet.spec.clusters)  # any cluster: at least one identity in each
        ports = len(policy.to.ports or services[target].ports) or 1
        entries[target] = entries.get(target, 0) + peers * ports
        first_rule.setdefault(target, i)
    for target, used in sorted(entries.items()):
        _judge(
            diags,
            doc,
            ("spec", "policies", first_rule[target], "to"),
            "budget-policy-map",
            f"policy map entries for the pods of {target} (peer identities x ports)",
            used,
            POLICY_MAP_MAX,
            "merge port lists into ranges, or raise bpf-policy-map-max in Cilium",
        )


CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = (
    check_cluster_count,
    check_identities,
    check_policy_map,
)


class ObjectSizes:
    """Judges each applied file's size as `compiler.emit.serialize.stream` produces it.

    Findings go to `diags`, at the fleet.yaml entry the file came from (its `File.origin`
    names a policy, a cluster or a service, or else a section such as ``spec.clusters``, as
    the guard's fleet-wide seeds do); a file of none of them is blamed on ``spec``.
    """

    _ORIGIN = re.compile(
        r"^(?:policy (?P<policy>\S+)|service (?P<service>\S+/\S+))|cluster (?P<cluster>\S+)"
    )
    _SECTION = re.compile(r"\bspec\.(\w+)")

    def __init__(self, doc: Document, fleet: Fleet) -> None:
        self.doc = doc
        self.diags = Diagnostics()
        self._index = {
            "policy": {
                p.name: ("spec", "policies", i, "name") for i, p in enumerate(fleet.spec.policies)
            },
            "service": {
                f"{s.namespace}/{s.name}": ("spec", "services", i, "name")
                for i, s in enumerate(fleet.spec.services)
            },
            "cluster": {
                c.name: ("spec", "clusters", i, "name") for i, c in enumerate(fleet.spec.clusters)
            },
        }

    def __call__(self, file: File, data: bytes) -> None:
        if not file.applied or len(data) < WARN_AT * OBJECT_MAX:
            return
        _judge(
            self.diags,
            self.doc,
            self._blame(file.origin),
            "budget-object-size",
            f"size of {file.path} in bytes",
            len(data),
            OBJECT_MAX,
            "Kubernetes stores at most 1 MiB per object: split what this entry selects (fewer"
            " clusters, services or ports per policy), or fewer peers per cluster",
        )

    def _blame(self, origin: str | None) -> tuple[str | int, ...]:
        found = self._ORIGIN.search(origin or "")
        if found is not None:
            for kind, name in found.groupdict().items():
                path = self._index[kind].get(name) if name else None
                if path is not None and self.doc.exists(path):
                    return path
        for section in self._SECTION.finditer(origin or ""):
            found_path: tuple[str | int, ...] = ("spec", section.group(1))
            if self.doc.exists(found_path):
                return found_path
        return ("spec",)
