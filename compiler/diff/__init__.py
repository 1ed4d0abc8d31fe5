"""`fleetc diff`: compare two revisions of a fleet by object, by mesh, and by connectivity.

Both sides are compiled in memory. A side that fails to compile is reported as failed with its
diagnostics, never as every object added or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostic, Diagnostics
from compiler.diff.flows import FlowChange, diff_flows
from compiler.diff.mesh import MeshChange, diff_mesh
from compiler.diff.objects import ObjectChange, diff_objects
from compiler.pipeline import Compiled, compile_fleet

if TYPE_CHECKING:
    from compiler.rollout.flows import RolloutFlows

__all__ = ["FleetDiff", "FlowChange", "MeshChange", "ObjectChange", "Side", "diff_fleets"]


@dataclass(frozen=True)
class Side:
    label: str
    """What this side is: a revision and commit, or "working tree"."""
    compiled: Compiled | None
    diagnostics: tuple[Diagnostic, ...] = ()
    missing: bool = False
    """The fleet file does not exist on this side (a new or deleted fleet)."""

    @property
    def failed(self) -> bool:
        return self.compiled is None and not self.missing


@dataclass(frozen=True)
class FleetDiff:
    base: Side
    head: Side
    objects: tuple[ObjectChange, ...] = ()
    mesh: tuple[MeshChange, ...] = ()
    flows: tuple[FlowChange, ...] = ()
    flows_truncated: bool = False
    notes: tuple[str, ...] = field(default=())
    waves: RolloutFlows | None = None
    """Connectivity wave by wave, when the head fleet declares waves (`compiler.rollout`)."""

    @property
    def failed(self) -> bool:
        return self.base.failed or self.head.failed

    @property
    def changed(self) -> bool:
        return bool(self.objects or self.mesh or self.flows) or self.failed

    def counts(self) -> dict[str, int]:
        return {
            kind: sum(1 for c in self.objects if c.change == kind)
            for kind in ("added", "changed", "removed")
        }

    def clusters_touched(self) -> tuple[str, ...]:
        return tuple(sorted({c.key.cluster for c in self.objects if c.key.cluster}))


def compile_side(label: str, data: bytes | None, name: str) -> Side:
    if data is None:
        return Side(label, None, missing=True)
    diags = Diagnostics()
    compiled = compile_fleet(data, name, diags)
    return Side(label, compiled, tuple(diags.sorted()))


def diff_fleets(base: Side, head: Side, flow_limit: int = 200_000) -> FleetDiff:
    if base.failed or head.failed:
        return FleetDiff(base, head)
    before = base.compiled
    after = head.compiled
    objects = diff_objects(before.files if before else (), after.files if after else ())
    mesh = diff_mesh(before.resolved if before else None, after.resolved if after else None)
    flows, truncated = diff_flows(
        before.resolved if before else None, after.resolved if after else None, flow_limit
    )
    waves = None
    if before is not None and after is not None and after.checked.fleet.spec.rollout.waves:
        from compiler.rollout.flows import wave_flows
        from compiler.validate.waves import assign

        plan = assign(after.checked.fleet)
        waves = wave_flows(before.resolved, after.resolved, plan, flow_limit)
    return FleetDiff(base, head, tuple(objects), tuple(mesh), tuple(flows), truncated, waves=waves)
