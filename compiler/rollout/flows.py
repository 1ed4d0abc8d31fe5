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

Flows are asked between the endpoints `compiler.diff.flows` probes, in both revisions, on the
destination's ports, for the pairs a changed policy covers (every pair when defaults or
services changed); clusters only on one side (joining or leaving) take no part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compiler.diff.flows import FlowChange
from compiler.diff.mesh import MeshChange, diff_mesh
from compiler.model.types import PortRange
from compiler.reach import decide_mixed

if TYPE_CHECKING:
    from compiler.diff.flows import _Probe
    from compiler.reach.model import Decision
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


def _probes(base: ResolvedFleet, head: ResolvedFleet, clusters: set[str]) -> list[_Probe]:
    # the same endpoints the flow diff asks about (until it exposes its classes publicly)
    from compiler.diff.flows import _Probe, _probes

    merged: dict[str, _Probe] = {}
    for probe in sorted(set(_probes(base, clusters)) | set(_probes(head, clusters))):
        old = merged.get(probe.label)
        ports = tuple(sorted(set(probe.ports) | set(old.ports if old else ())))
        merged[probe.label] = _Probe(probe.label, probe.endpoint, ports)
    return [merged[k] for k in sorted(merged)]


def wave_flows(
    base: ResolvedFleet,
    head: ResolvedFleet,
    waves: tuple[Assigned, ...],
    limit: int,
    plain: Sequence[FlowChange] | None = None,
) -> RolloutFlows:
    """The flows each wave's landing changes, the flows the wave order cuts for a while,
    and the mesh changes to land everywhere first (see the module docstring).

    `plain` is the plain flow diff of the same fleets with the same `limit`, when known: a
    flow whose ends land in one wave changes exactly as there, so it is taken from there
    instead of being decided again (most pairs, in large waves)."""
    clusters = {c.name for c in base.clusters} & {c.name for c in head.clusters}
    wave_of = {name: k for k, w in enumerate(waves) for name in w.clusters}
    clusters &= wave_of.keys()
    probes = _probes(base, head, clusters)
    per_wave: list[list[FlowChange]] = [[] for _ in waves]
    broken: list[Broken] = []
    asked = 0
    truncated = False
    # Only pairs a changed policy covers can change verdict in any state (each end's verdict
    # depends on its own revision's policies alone), as in the plain flow diff.
    from compiler.diff.flows import _changed_policies, _everything_changed, _pairs

    known = {(f.source, f.destination, f.port): f for f in plain or ()}
    changed = _changed_policies(base, head)
    for src, dst in _pairs(probes, changed, _everything_changed(base, head)):
        same = wave_of[src.endpoint.cluster] == wave_of[dst.endpoint.cluster]
        for port in dst.ports or (PortRange("TCP", 1, 65535),):
            asked += 1
            if asked > limit:
                truncated = True
                break
            if same and plain is not None:
                found = known.get((src.label, dst.label, _port(port)))
                if found is not None:
                    per_wave[wave_of[src.endpoint.cluster]].append(found)
                continue
            _judge(base, head, src, dst, port, wave_of, waves, per_wave, broken)
        if truncated:
            break
    mesh = [m for m in diff_mesh(base, head) if m.kind in EVERYWHERE_FIRST]
    mesh += _cidr_changes(base, head)
    return RolloutFlows(
        tuple(
            WaveFlows(w.name, w.clusters, tuple(sorted(flows)))
            for w, flows in zip(waves, per_wave, strict=True)
        ),
        tuple(sorted(broken)),
        tuple(sorted(mesh)),
        truncated,
    )


def _port(port: PortRange) -> str:
    return str(PortRange(port.protocol, port.low, port.low))


def _judge(
    base: ResolvedFleet,
    head: ResolvedFleet,
    src: _Probe,
    dst: _Probe,
    port: PortRange,
    wave_of: dict[str, int],
    waves: tuple[Assigned, ...],
    per_wave: list[list[FlowChange]],
    broken: list[Broken],
) -> None:
    ws, wd = wave_of[src.endpoint.cluster], wave_of[dst.endpoint.cluster]
    cache: dict[tuple[bool, bool], Decision] = {}

    def at(state: int) -> Decision:
        key = (ws <= state, wd <= state)
        found = cache.get(key)
        if found is None:
            landed = {src.endpoint.cluster: key[0], dst.endpoint.cluster: key[1]}
            found = cache[key] = decide_mixed(
                lambda c: head if landed.get(c, False) else base,
                src.endpoint,
                dst.endpoint,
                port.protocol,
                port.low,
            )
        return found

    label = _port(port)
    for k in sorted({ws, wd}):
        before, after = at(k - 1), at(k)
        if before.allowed != after.allowed:
            per_wave[k].append(
                FlowChange(
                    src.label,
                    dst.label,
                    label,
                    src.endpoint.cluster,
                    dst.endpoint.cluster,
                    before.allowed,
                    after.allowed,
                    before.reason,
                    after.reason,
                )
            )
    last = len(waves) - 1
    if at(-1).allowed and at(last).allowed:
        cut = [k for k in sorted({ws, wd}) if not at(k).allowed]
        if cut:
            # denied from the first cut wave until the other end lands
            names = tuple(w.name for w in waves[cut[0] : max(ws, wd)])
            broken.append(Broken(src.label, dst.label, label, names, at(cut[0]).reason))
