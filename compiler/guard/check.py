"""validate's check of the fleet guard's map budget: `CHECKS`, one function.

When the guard is enabled, the fullest node's seed must fit every map: over max_entries the
loader's `bpftool batch` fails and the node keeps its previous rules, so that is an error;
from 80 % on it is a warning, pointing at the deny that needs the most entries.
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.diagnostics import Diagnostics
from compiler.guard import layout
from compiler.guard.budget import MapUsage, fleet_budget, rule_entries
from compiler.guard.model import GuardRule
from compiler.load import Document
from compiler.model import Fleet

HINTS = {
    layout.POLICY.name: "narrow the deny's cluster selectors, or use port ranges that split into"
    " fewer aligned blocks (8192-8319 is one entry per protocol, 8000-8100 four)",
    layout.CIDRS.name: "merge adjacent podCIDRs/nodeCIDRs into fewer, larger ranges",
    layout.PAIRS.name: "narrow the denies' cluster selectors",
    layout.COUNTERS.name: "the guard counts one counter per cluster-level deny: merge some",
}


def check_budget(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    if not fleet.spec.guard.enabled:
        return
    # Imported here: compiler.guard.fleet uses compiler.validate.selectors, and validate
    # imports this module, so a module-level import would be circular.
    from compiler.guard.fleet import from_fleet

    clusters, rules = from_fleet(fleet)
    for usage in fleet_budget(clusters, rules):
        if not usage.near_limit:
            continue
        policy_index = {p.name: i for i, p in enumerate(fleet.spec.policies)}
        at = doc.key_position(_path(usage, rules, policy_index))
        message = (
            f"the fleet guard's {usage.map} map needs {usage.entries:,} entries on the"
            f" fullest node; it holds {usage.max_entries:,}"
        )
        if usage.over_limit:
            diags.error("guard-map-full", message, at, hint=HINTS[usage.map])
        else:
            percent = round(100 * usage.ratio)
            diags.warning(
                "guard-map-budget", f"{message} ({percent} % used)", at, hint=HINTS[usage.map]
            )


def _path(
    usage: MapUsage, rules: tuple[GuardRule, ...], policy_index: dict[str, int]
) -> tuple[str | int, ...]:
    if usage.map == layout.CIDRS.name:
        return ("spec", "clusters")
    if not rules:
        return ("spec", "policies")
    # rules come in file order; on a tie, the first in the file is the one to point at
    order = {r.name: i for i, r in enumerate(rules)}
    if usage.map == layout.COUNTERS.name:
        worst = max(rules, key=lambda r: (r.id, -order[r.name]))
    else:
        worst = max(
            rules,
            key=lambda r: (rule_entries(r) * len(r.src) * len(r.dst), -order[r.name]),
        )
    return ("spec", "policies", policy_index[worst.name])


CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = (check_budget,)
