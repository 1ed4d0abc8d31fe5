"""Where a staged rollout stands: each wave's clusters and the revision DIR holds them at.

A cluster is ``current`` when DIR records it at the fleet's revision (same meaning digest),
``behind`` when at another, ``not rendered`` when DIR holds no files for it. A wave is
``landed`` when all its clusters are current, ``pending`` when none is, ``partial`` between.
The next wave to commit is the first that has not landed. A fleet without waves is shown as
one wave, ``all``, which plain ``fleetc commit`` lands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compiler.rollout.revisions import Revision, digest, recorded
from compiler.validate.waves import assign

if TYPE_CHECKING:
    from compiler.model import Fleet

CURRENT, BEHIND, ABSENT = "current", "behind", "not rendered"


@dataclass(frozen=True)
class ClusterState:
    name: str
    state: str
    revision: Revision | None


@dataclass(frozen=True)
class WaveState:
    name: str
    state: str
    clusters: tuple[ClusterState, ...]


@dataclass(frozen=True)
class Status:
    fleet: str
    revision: Revision
    waves: tuple[WaveState, ...]
    staged: bool
    """False when the fleet declares no waves (one implicit wave, ``all``)."""

    @property
    def next(self) -> str | None:
        return next((w.name for w in self.waves if w.state != "landed"), None)

    def as_data(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet,
            "revision": self.revision.as_data(),
            "waves": [
                {
                    "name": w.name,
                    "state": w.state,
                    "clusters": [
                        {
                            "name": c.name,
                            "state": c.state,
                            "revision": c.revision.as_data() if c.revision else None,
                        }
                        for c in w.clusters
                    ],
                }
                for w in self.waves
            ],
            "next": self.next,
            "staged": self.staged,
        }

    def text(self) -> str:
        lines = [f"fleet {self.fleet} at {_short(self.revision)}"]
        for k, wave in enumerate(self.waves, 1):
            lines.append(f"wave {k}/{len(self.waves)} {wave.name}: {wave.state}")
            width = max((len(c.name) for c in wave.clusters), default=0)
            for c in wave.clusters:
                at = f"  {_short(c.revision)}" if c.revision else ""
                lines.append(f"  {c.name.ljust(width)}  {c.state}{at}".rstrip())
        upcoming = self.next
        if upcoming is None:
            lines.append("nothing pending: every cluster is at this revision")
        elif self.staged:
            lines.append(f"next: fleetc commit --wave {upcoming}")
        else:
            lines.append("next: fleetc commit")
        return "\n".join(lines) + "\n"


def _short(revision: Revision) -> str:
    commit = f" (commit {revision.commit[:12]})" if revision.commit else ""
    return f"sha256:{revision.sha256[:12]}{commit}"


def status(fleet: Fleet, manifest: Mapping[str, Any] | None, commit: str | None) -> Status:
    """The rollout of `fleet` (at `commit`, when known) into a DIR holding `manifest`."""
    head = Revision(digest(fleet), commit)
    at = recorded(manifest)
    waves = assign(fleet)
    staged = bool(waves)
    groups = [(w.name, w.clusters) for w in waves] or [
        ("all", tuple(c.name for c in fleet.spec.clusters))
    ]
    out = []
    for name, clusters in groups:
        states = []
        for cluster in clusters:
            rev = at.get(cluster)
            state = ABSENT if rev is None else CURRENT if head.same(rev) else BEHIND
            states.append(ClusterState(cluster, state, rev))
        current = sum(s.state == CURRENT for s in states)
        wave_state = (
            "landed" if current == len(states) else "pending" if current == 0 else "partial"
        )
        out.append(WaveState(name, wave_state, tuple(states)))
    return Status(fleet.metadata.name, head, tuple(out), staged)
