"""From the fleet model to the guard's inputs: clusters and their cluster-level denies.

A policy is a cluster-level deny when its action is deny and both `from` and `to` are
workload sets that name clusters only: no service, no namespace, no pod selector (an empty
selector selects every pod, so it counts as none). Such a policy forbids every pod of the
source clusters from reaching every pod of the destination clusters (on `to.ports`, when
given), whatever any allow says, since deny wins; so the guard may drop exactly that. Every
other policy is left to Cilium, which is what keeps the guard from dropping an allowed flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostics, Position
from compiler.guard.model import GuardCluster, GuardRule
from compiler.plain import PortRange
from compiler.resolve.model import ResolvedFleet, WorkloadSet
from compiler.validate.selectors import match_labels

if TYPE_CHECKING:  # explain reads a cached resolved fleet without building the models
    from compiler.model import Fleet
    from compiler.model.fleet import Cluster, ClusterLabelSelector, Peer, Target


def from_fleet(fleet: Fleet) -> tuple[tuple[GuardCluster, ...], tuple[GuardRule, ...]]:
    """The guard's view of `fleet`. Rule ids are `rule_ids` (0 is the default).

    A deny whose CEL cluster selector does not evaluate is skipped (validate reports it):
    skipping a deny only ever makes the guard pass more, never drop more.
    """
    clusters = tuple(
        GuardCluster(c.name, c.id, tuple(c.podCIDRs), tuple(c.nodeCIDRs))
        for c in sorted(fleet.spec.clusters, key=lambda c: c.id)
    )
    rules = []
    for policy in fleet.spec.policies:
        if policy.action != "deny" or not is_cluster_only(policy.from_):
            continue
        if not is_cluster_only(policy.to):
            continue
        src = select(fleet, policy.from_)
        dst = select(fleet, policy.to)
        if src is None or dst is None or not src or not dst:
            continue
        rules.append(GuardRule(0, policy.name, src, dst, ports_of(policy.to)))
    return clusters, _numbered(rules)


def _numbered(rules: Iterable[GuardRule]) -> tuple[GuardRule, ...]:
    """The rules in file order, each with its id: its rank by name among the guard's rules,
    from 1. Names are unique, so ids (and the per-rule counters an operator reads) do not move
    when policies are reordered, nor when a policy the guard does not enforce is added."""
    rules = list(rules)
    rank = {name: i + 1 for i, name in enumerate(sorted(r.name for r in rules))}
    return tuple(replace(r, id=rank[r.name]) for r in rules)


def is_cluster_only(peer: Peer) -> bool:
    """Whether `peer` is a workload set that narrows by cluster and nothing else (entities,
    CIDRs and names outside the fleet are not the guard's business)."""
    return peer.in_fleet and peer.service is None and peer.namespace is None and not peer.selector


def ports_of(target: Target) -> tuple[PortRange, ...] | None:
    """The deny's port ranges, sorted and de-duplicated; None (absent or empty) is every port."""
    if not target.ports:
        return None
    return tuple(sorted({PortRange.parse(spec) for spec in target.ports}))


def select(fleet: Fleet, peer: Peer) -> tuple[int, ...] | None:
    """Ids of the clusters `peer` selects, sorted; None when they cannot be known here."""
    members = fleet.spec.clusters
    selector = peer.clusters
    if selector is None:
        chosen: Sequence[Cluster] = members
    elif isinstance(selector, list):
        names = set(selector)
        chosen = [c for c in members if c.name in names]
    elif selector.cel is not None:
        names_from_cel = _cel_names(fleet, selector)
        if names_from_cel is None:
            return None
        chosen = [c for c in members if c.name in names_from_cel]
    else:
        chosen = [c for c in members if match_labels(selector, c.labels)]
    return tuple(sorted(c.id for c in chosen))


def _cel_names(fleet: Fleet, selector: ClusterLabelSelector) -> set[str] | None:
    """Names a CEL cluster selector picks; None when it does not evaluate (validate reports
    that error at its place, so its diagnostic is not repeated here)."""
    from compiler.validate.cel_select import select_clusters  # celpy: only for fleets that use CEL

    assert selector.cel is not None
    where = Position("fleet.yaml", 1, 0)
    names = select_clusters(selector.cel, list(fleet.spec.clusters), where, Diagnostics())
    return None if names is None else set(names)


def from_resolved(
    resolved: ResolvedFleet,
) -> tuple[tuple[GuardCluster, ...], tuple[GuardRule, ...]]:
    """The same as `from_fleet`, from the resolve stage's form (selectors already evaluated)."""
    ids = {cluster.name: cluster.id for cluster in resolved.clusters}
    clusters = tuple(
        GuardCluster(c.name, c.id, tuple(c.pod_cidrs), tuple(c.node_cidrs))
        for c in sorted(resolved.clusters, key=lambda c: c.id)
    )
    rules = []
    for policy in resolved.policies:
        if policy.action != "deny":
            continue
        source, destination = policy.source, policy.destination
        if not (
            isinstance(source, WorkloadSet)
            and isinstance(destination, WorkloadSet)
            and _only_clusters(source)
            and _only_clusters(destination)
        ):
            continue
        src = tuple(sorted(ids[name] for name in source.clusters))
        dst = tuple(sorted(ids[name] for name in destination.clusters))
        if src and dst:
            ports = policy.ports or None  # no ports listed: every port
            rules.append(GuardRule(0, policy.name, src, dst, ports))
    return clusters, _numbered(rules)


def _only_clusters(side: WorkloadSet) -> bool:
    # An empty pod selector selects every pod, so it narrows nothing.
    return side.service is None and side.namespace is None and not side.selector
