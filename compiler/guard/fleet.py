"""From the fleet model to the guard's inputs: clusters and their cluster-level denies.

A policy is a cluster-level deny when its action is deny and both `from` and `to` are
workload sets that name clusters only: no service, no namespace, no pod selector (an empty
selector selects every pod, so it counts as none). Such a policy forbids every pod of the
source clusters from reaching every pod of the destination clusters (on `to.ports`, when
given), whatever any allow says, since deny wins; so the guard may drop exactly that. Every
other policy is left to Cilium, which is what keeps the guard from dropping an allowed flow.
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.guard.model import GuardCluster, GuardRule
from compiler.model import Fleet, PortRange
from compiler.model.fleet import Cluster, ClusterLabelSelector, Peer, Target
from compiler.validate.selectors import match_labels


def from_fleet(fleet: Fleet) -> tuple[tuple[GuardCluster, ...], tuple[GuardRule, ...]]:
    """The guard's view of `fleet`. Rule ids are policy positions plus one (0 is the default).

    A deny whose cluster selector is CEL is skipped when the CEL stage cannot evaluate it:
    skipping a deny only ever makes the guard pass more, never drop more.
    """
    clusters = tuple(
        GuardCluster(c.name, c.id, tuple(c.podCIDRs), tuple(c.nodeCIDRs))
        for c in sorted(fleet.spec.clusters, key=lambda c: c.id)
    )
    rules = []
    for index, policy in enumerate(fleet.spec.policies):
        if policy.action != "deny" or not is_cluster_only(policy.from_):
            continue
        if not is_cluster_only(policy.to):
            continue
        src = select(fleet, policy.from_)
        dst = select(fleet, policy.to)
        if src is None or dst is None or not src or not dst:
            continue
        rules.append(GuardRule(index + 1, policy.name, src, dst, ports_of(policy.to)))
    return clusters, tuple(rules)


def is_cluster_only(peer: Peer) -> bool:
    """Whether `peer` is a workload set that narrows by cluster and nothing else."""
    return peer.service is None and peer.namespace is None and not peer.selector


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
    """Names a CEL cluster selector picks; unknown (None) until the CEL stage offers it.

    TODO(lead): call the CEL stage's cluster selection here once it exists.
    """
    del fleet, selector
    return None
