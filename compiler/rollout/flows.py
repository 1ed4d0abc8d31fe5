"""Connectivity wave by wave: which flows change when each wave of the head fleet lands.

Between waves the fleet is mixed: landed clusters run the head revision, the others the base
revision. The semantics, from the reachability model (`compiler.reach.decide_mixed`):

1. Each end of a flow is judged by its own cluster's revision (egress at the source pod,
   ingress at the destination pod). So a cross-cluster allow that needs both halves works
   once both ends have landed, and a deny bites as soon as either end has landed.
2. State k is "waves 0..k landed"; state -1 is the base fleet, the last state the head fleet.
   A flow's verdict can change only when the wave of one of its ends lands, so wave k lists
   the flows whose verdict differs between state k-1 and state k.
3. A flow allowed in base and in head but denied in some state between is *broken by the
   wave order*: a warning names it and the waves during which it is cut.
4. Mesh changes (a cluster joining or renamed, a changed cluster ID or pod range, a mesh-wide
   setting) change every cluster's view of its peers: they must land everywhere before a later
   wave relies on them, so they are listed apart, not per wave.

Flows are asked between the endpoint and port classes of `compiler.diff.classes`, over the
same regions as the plain flow diff (the two sides of every changed policy, on its ports;
every pair with a pod in a namespace whose default changed), with the same limit; a flow's
ends outside the fleet have no wave (only pod ends are judged). Port classes of one pair that
change alike in one wave are one line. Clusters only on one side (joining or leaving) take
no part.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from compiler.diff.classes import PartyClass, PortClass, party_classes, port_classes, port_label
from compiler.diff.flows import FlowChange, _could_match, _merged, flows_to_ask
from compiler.diff.mesh import MeshChange, diff_mesh
from compiler.reach import Decision, Endpoint, decide_mixed

if TYPE_CHECKING:
    from compiler.resolve.model import ResolvedFleet
    from compiler.validate.waves import Assigned

EVERYWHERE_FIRST = frozenset(
    {"cluster-joined", "cluster-renamed", "cluster-id-changed", "mesh-setting-changed"}
)


@dataclass(frozen=True)
class WaveFlows:
    name: str
    clusters: tuple[str, ...]
    flows: tuple[FlowChange, ...]
    """Flows whose verdict changes when this wave lands (`FlowChange.before` is the verdict
    with the earlier waves landed, `after` with this one too)."""


@dataclass(frozen=True, order=True)
class Broken:
    """A flow allowed before and after the change, cut while the waves land (rule 3)."""

    source: str
    destination: str
    port: str
    waves: tuple[str, ...]
    """The waves after whose landing the flow is denied."""
    rule: str


@dataclass(frozen=True)
class RolloutFlows:
    waves: tuple[WaveFlows, ...]
    broken: tuple[Broken, ...]
    mesh: tuple[MeshChange, ...]
    truncated: bool


def _cidr_changes(base: ResolvedFleet, head: ResolvedFleet) -> list[MeshChange]:
    old = {c.name: c for c in base.clusters}
    out = []
    for cluster in head.clusters:
        before = old.get(cluster.name)
        if before is not None and before.pod_cidrs != cluster.pod_cidrs:
            out.append(
                MeshChange(
                    "mesh-setting-changed",
                    f"{cluster.name}.podCIDRs",
                    f"cluster {cluster.name} changes podCIDRs {', '.join(before.pod_cidrs)}"
                    f" -> {', '.join(cluster.pod_cidrs)}; every peer must learn the new range",
                )
            )
    return out


class _Trimmed:
    """A revision cut down, per pair, to the policies that could name the pair (the verdict
    is the same, as in the plain diff's judge), so a pair costs its own policies only."""

    def __init__(self, fleet: ResolvedFleet, parties: list[PartyClass]) -> None:
        self.fleet = fleet
        self.parties = parties
        self.sides: dict[tuple[int, bool], frozenset[int]] = {}
        self.fleets: dict[frozenset[int], ResolvedFleet] = {}

    def _side(self, index: int, source: bool) -> frozenset[int]:
        found = self.sides.get((index, source))
        if found is None:
            cls = self.parties[index]
            found = frozenset(
                i
                for i, p in enumerate(self.fleet.policies)
                if _could_match(p.source if source else p.destination, cls)
            )
            self.sides[(index, source)] = found
        return found

    def __call__(self, src: int, dst: int) -> ResolvedFleet:
        relevant = self._side(src, True) & self._side(dst, False)
        fleet = self.fleets.get(relevant)
        if fleet is None:
            policies = tuple(p for i, p in enumerate(self.fleet.policies) if i in relevant)
            fleet = self.fleets[relevant] = dataclasses.replace(self.fleet, policies=policies)
        return fleet


Found = dict[tuple[int, int], list[tuple[int, Decision, Decision]]]


def wave_flows(
    base: ResolvedFleet, head: ResolvedFleet, waves: tuple[Assigned, ...], limit: int
) -> RolloutFlows:
    """The flows each wave's landing changes, the flows the wave order cuts for a while,
    and the mesh changes to land everywhere first (see the module docstring)."""
    common = {c.name for c in base.clusters} & {c.name for c in head.clusters}
    wave_of = {name: k for k, w in enumerate(waves) for name in w.clusters}
    parties = party_classes((base, head), sorted(common))
    ports = port_classes((base, head))
    old, new = _Trimmed(base, parties), _Trimmed(head, parties)
    found: list[Found] = [{} for _ in waves]
    cuts: list[Broken] = []
    asked, truncated = flows_to_ask(base, head, parties, ports, limit)
    for flow in asked:
        cut = _record(flow, parties, ports, (old, new), wave_of, waves, found)
        if cut is not None:
            cuts.append(cut)
    mesh = [m for m in diff_mesh(base, head) if m.kind in EVERYWHERE_FIRST]
    mesh += _cidr_changes(base, head)
    return RolloutFlows(
        tuple(
            WaveFlows(w.name, w.clusters, tuple(sorted(_merged(parties, ports, flows))))
            for w, flows in zip(waves, found, strict=True)
        ),
        tuple(sorted(cuts)),
        tuple(sorted(mesh)),
        truncated,
    )


def _landing(party: PartyClass, wave_of: dict[str, int]) -> int | None:
    """The wave whose landing changes how this end is judged; None when nothing judges it
    (an end outside the fleet, or a node: only pods have fleet policies)."""
    if not isinstance(party.party, Endpoint):
        return None
    return wave_of.get(party.cluster)


def _verdicts(
    flow: tuple[int, int, int],
    parties: list[PartyClass],
    port: PortClass,
    revisions: tuple[_Trimmed, _Trimmed],
    wave_of: dict[str, int],
) -> tuple[list[int], dict[int, Decision]]:
    """The waves at which this flow may change, and its decision after each of them (and at
    -1, before any): each end is judged by its own cluster's revision (rule 1)."""
    src, dst, _ = flow
    old, new = revisions
    ends = [_landing(parties[i], wave_of) for i in (src, dst)]
    steps = sorted({k for k in ends if k is not None})
    base_fleet, head_fleet = old(src, dst), new(src, dst)
    decided: dict[int, Decision] = {}
    for state in (-1, *steps):
        landed = {
            parties[i].cluster: k is not None and k <= state
            for i, k in zip((src, dst), ends, strict=True)
        }
        decided[state] = decide_mixed(
            partial(_revision, landed, head_fleet, base_fleet),
            parties[src].party,
            parties[dst].party,
            port.protocol,
            port.port,
        )
    return steps, decided


def _revision(
    landed: dict[str, bool], head: ResolvedFleet, base: ResolvedFleet, cluster: str
) -> ResolvedFleet:
    return head if landed.get(cluster, False) else base


def _record(
    flow: tuple[int, int, int],
    parties: list[PartyClass],
    ports: list[PortClass],
    revisions: tuple[_Trimmed, _Trimmed],
    wave_of: dict[str, int],
    waves: tuple[Assigned, ...],
    found: list[Found],
) -> Broken | None:
    """Add the flow's changes to the waves that cause them (rule 2); return it when the wave
    order cuts it for a while (rule 3: allowed before any wave and after the last, denied
    after some wave between)."""
    src, dst, index = flow
    steps, decided = _verdicts(flow, parties, ports[index], revisions, wave_of)
    previous = -1
    for k in steps:
        before, after = decided[previous], decided[k]
        if before.allowed != after.allowed:
            found[k].setdefault((src, dst), []).append((index, before, after))
        previous = k
    if not steps or not (decided[-1].allowed and decided[steps[-1]].allowed):
        return None
    denied = [k for k in steps if not decided[k].allowed]
    if not denied:
        return None
    names = tuple(w.name for w in waves[denied[0] : steps[-1]])
    label = port_label(ports[index].parts)
    return Broken(parties[src].label, parties[dst].label, label, names, decided[denied[0]].reason)
