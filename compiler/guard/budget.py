"""Map budget: how full each of the guard's maps would be, for validate to warn near limits.

Counts come from the same inputs as the seeds but without encoding anything, so checking a
511-cluster fleet stays cheap. Policy counts are an upper bound (keys two rules share are
counted twice), which errs on the side of warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compiler.guard import layout
from compiler.guard.model import GuardCluster, GuardRule, expand_protocol, port_blocks

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


def budget(
    clusters: Sequence[GuardCluster], rules: Sequence[GuardRule], local: int | None = None
) -> tuple[MapUsage, ...]:
    """Usage of every seeded map on the nodes of cluster `local` (None: a fleet-wide seed).

    Counters are indexed by rule id, so their "entries" is the highest id plus one.
    """
    cidrs = len({c for cluster in clusters for c in (*cluster.pod_cidrs, *cluster.node_cidrs)})
    policy = 0
    for rule in rules:
        src, dst = set(rule.src), set(rule.dst)
        pairs = len(src) * len(dst)
        if local is not None:
            pairs -= len(src - {local}) * len(dst - {local})
        policy += pairs * rule_entries(rule)
    highest = max((cluster.id for cluster in clusters), default=0)
    return (
        MapUsage(layout.CONFIG_MAP.name, 1, layout.CONFIG_MAP.max_entries),
        MapUsage(layout.DEFAULTS.name, highest + 1, layout.DEFAULTS.max_entries),
        MapUsage(layout.CIDRS.name, cidrs, layout.CIDRS.max_entries),
        MapUsage(layout.POLICY.name, policy, layout.POLICY.max_entries),
        MapUsage(
            layout.COUNTERS.name,
            max((rule.id for rule in rules), default=0) + 1,
            layout.COUNTERS.max_entries,
        ),
    )
