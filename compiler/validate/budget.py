"""The mesh budget: how close the fleet comes to Cilium's and Kubernetes' hard limits.

Each limit gets a warning from 80 % of it and an error past it, at the place in fleet.yaml that
drives the number. The figures are lower bounds computed from fleet.yaml alone (fleetc cannot
see pods), so an error here is certain and a warning is a reason to look:

- clusters in the mesh against ``maxConnectedClusters`` (255 or 511);
- security identities per cluster: Cilium allocates cluster-local identities in 16 bits, 15
  when the mesh allows 511 clusters (65,535 or 32,767), at least one per distinct pod label set;
- policy map entries per endpoint: Cilium's per-endpoint policy map holds 16,384 entries by
  default (``bpf-policy-map-max``); each allowed (peer identity, port) pair takes one;
- fleet guard map entries against their ``max_entries`` (see `compiler.guard`).
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.diagnostics import Diagnostics
from compiler.load import Document, format_path
from compiler.model import Fleet

WARN_AT = 0.8
POLICY_MAP_MAX = 16_384
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
        if source is not None and source in services:
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
