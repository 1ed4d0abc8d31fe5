"""Map budget: how full each of the guard's maps would be, for validate to warn near limits.

Counts come from the same inputs as the seeds but without encoding anything, so checking a
511-cluster fleet stays cheap. Policy counts are an upper bound (keys two rules share are
counted twice), which errs on the side of warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compiler.guard import layout
from compiler.guard.model import (
    GuardCluster,
    GuardRule,
    address_table,
    expand_protocol,
    port_blocks,
)

WARN_RATIO = 0.8


@dataclass(frozen=True)
class MapUsage:
    """Entries a seed puts in one map, against the map's max_entries."""

    map: str
    entries: int
    max_entries: int

    @property
    def ratio(self) -> float:
        return self.entries / self.max_entries

    @property
    def near_limit(self) -> bool:
        return self.ratio >= WARN_RATIO

    @property
    def over_limit(self) -> bool:
        return self.entries > self.max_entries


def rule_entries(rule: GuardRule) -> int:
    """Policy entries one rule needs per (source, destination) cluster pair."""
    if rule.ports is None:
        return 1
    return sum(
        len(expand_protocol(p.protocol)) * len(port_blocks(p.low, p.high)) for p in rule.ports
    )


def _policy_entries(rules: Sequence[GuardRule], local: int | None) -> int:
    total = 0
    for rule in rules:
        src, dst = set(rule.src), set(rule.dst)
        pairs = len(src) * len(dst)
        if local is not None:  # only pairs with `local` on one side
            pairs -= len(src - {local}) * len(dst - {local})
        total += pairs * rule_entries(rule)
    return total


def _pair_entries(rules: Sequence[GuardRule], local: int | None) -> int:
    pairs: set[tuple[int, int]] = set()
    for rule in rules:
        if local is None:
            pairs.update((s, d) for s in rule.src for d in rule.dst)
            continue
        if local in rule.src:
            pairs.update((local, d) for d in rule.dst)
        if local in rule.dst:
            pairs.update((s, local) for s in rule.src)
    return len(pairs)


def budget(
    clusters: Sequence[GuardCluster], rules: Sequence[GuardRule], local: int | None = None
) -> tuple[MapUsage, ...]:
    """Usage of the maps that can fill up, on the nodes of cluster `local` (None: fleet-wide).

    Counters are indexed by rule id, so their "entries" is the highest id plus one. The config
    and defaults arrays are left out: ids are validated to fit them by construction.
    """
    cidrs = len(address_table(clusters))
    policy = _policy_entries(rules, local)
    return (
        MapUsage(layout.CIDRS.name, cidrs, layout.CIDRS.max_entries),
        MapUsage(layout.PAIRS.name, _pair_entries(rules, local), layout.PAIRS.max_entries),
        MapUsage(layout.POLICY.name, policy, layout.POLICY.max_entries),
        MapUsage(
            layout.COUNTERS.name,
            max((rule.id for rule in rules), default=0) + 1,
            layout.COUNTERS.max_entries,
        ),
    )


def fleet_budget(
    clusters: Sequence[GuardCluster], rules: Sequence[GuardRule]
) -> tuple[MapUsage, ...]:
    """The fullest node's usage of each map: what validate compares with the limits."""
    usage = budget(clusters, rules, local=clusters[0].id if clusters else None)
    worst = {
        layout.POLICY.name: max((_policy_entries(rules, c.id) for c in clusters), default=0),
        layout.PAIRS.name: max((_pair_entries(rules, c.id) for c in clusters), default=0),
    }
    return tuple(
        MapUsage(u.map, worst[u.map], u.max_entries) if u.map in worst else u for u in usage
    )
