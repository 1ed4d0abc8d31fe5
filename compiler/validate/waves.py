"""Staged rollout waves (``spec.rollout.waves``): which clusters each wave holds, and its checks.

The semantics, as the rest of fleetc relies on them:

1. Waves are ordered. A wave's ``clusters`` is a cluster selector as policies write it: a list
   of names, ``{matchLabels, matchExpressions}``, or ``{cel: ...}``.
2. A cluster belongs to the first wave that selects it; later waves never see it again.
3. A wave without ``clusters`` takes every cluster no earlier wave took; only the last wave
   may omit it.
4. Every cluster is in exactly one wave; a cluster no wave selects is an error (at the
   ``waves`` key, naming it). A wave left with no cluster is a warning: it does nothing.
5. No waves at all means no staged rollout: every render moves every cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.diagnostics import Diagnostics, Position, Related
from compiler.load import Document, Path, format_path
from compiler.model import Fleet
from compiler.model.fleet import ClusterLabelSelector, Wave
from compiler.validate.names import Suggestions
from compiler.validate.selectors import match_labels

WAVES: Path = ("spec", "rollout", "waves")


@dataclass(frozen=True)
class Assigned:
    """A wave and the clusters it holds, in fleet.yaml order."""

    name: str
    clusters: tuple[str, ...]
    selects: bool = True
    """Whether its selector picks any cluster at all (before earlier waves take theirs)."""


def _selected(
    wave: Wave, fleet: Fleet, at: Position, diags: Diagnostics, doc: Document | None
) -> list[str] | None:
    """The names a wave's selector picks (any order); None for a wave without a selector."""
    selector = wave.clusters
    if selector is None:
        return None
    if isinstance(selector, list):
        return list(selector)
    assert isinstance(selector, ClusterLabelSelector)
    if selector.cel is not None:
        from compiler.validate.cel_select import select_clusters

        clusters = list(fleet.spec.clusters)
        source = doc.source if doc is not None else None
        return select_clusters(selector.cel, clusters, at, diags, source) or []
    return [c.name for c in fleet.spec.clusters if match_labels(selector, c.labels)]


def assign(
    fleet: Fleet, diags: Diagnostics | None = None, doc: Document | None = None
) -> tuple[Assigned, ...]:
    """Every wave with its clusters (rule 2 and 3). Empty when the fleet declares no waves.

    Problems with selectors go to `diags` (at `doc` positions when given); the assignment is
    made from what could be selected, so it is total only for a fleet that validated.
    """
    sink = Diagnostics() if diags is None else diags
    taken: set[str] = set()
    out: list[Assigned] = []
    order = [c.name for c in fleet.spec.clusters]
    for i, wave in enumerate(fleet.spec.rollout.waves):
        at = _position(doc, (*WAVES, i, "clusters", "cel"))
        picked = _selected(wave, fleet, at, sink, doc)
        wanted = set(order) if picked is None else set(picked)
        mine = tuple(name for name in order if name in wanted and name not in taken)
        taken.update(mine)
        out.append(Assigned(wave.name, mine, bool(wanted & set(order))))
    return tuple(out)


def wave_of(waves: tuple[Assigned, ...]) -> dict[str, int]:
    """Cluster name -> the index of its wave."""
    return {name: k for k, wave in enumerate(waves) for name in wave.clusters}


def _position(doc: Document | None, path: Path) -> Position:
    if doc is None:
        return Position("fleet.yaml", 1, 1)
    while path and not doc.exists(path):
        path = path[:-1]
    return doc.position(path) if path else Position(doc.source.name, 1, 1)


def check_waves(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Unique names, known cluster names, a selector on every wave but the last, every
    cluster in a wave, and a warning for a wave left with nothing."""
    waves = fleet.spec.rollout.waves
    if not waves:
        return
    known = Suggestions(c.name for c in fleet.spec.clusters)
    first: dict[str, int] = {}
    unknown: set[int] = set()
    for i, wave in enumerate(waves):
        here = (*WAVES, i)
        if wave.name in first:
            diags.error(
                "wave-duplicate",
                f"wave {wave.name!r} is declared twice",
                doc.position((*here, "name")),
                path=format_path((*here, "name")),
                related=[Related(doc.position((*WAVES, first[wave.name], "name")), "first here")],
            )
        first.setdefault(wave.name, i)
        if wave.clusters is None and i != len(waves) - 1:
            diags.error(
                "wave-selector-missing",
                f"wave {wave.name!r} has no clusters selector, but only the last wave may"
                " take every cluster left",
                doc.key_position(here) if doc.exists(here) else doc.position(WAVES),
                path=format_path(here),
                hint="give it clusters: (names, matchLabels or cel), or move it to the end",
            )
        if isinstance(wave.clusters, list):
            for k, name in enumerate(wave.clusters):
                if name not in known:
                    unknown.add(i)
                    path = (*here, "clusters", k)
                    diags.error(
                        "ref-unknown-cluster",
                        f"unknown cluster {name!r}",
                        doc.position(path),
                        path=format_path(path),
                        hint=known(name),
                    )
    assigned = assign(fleet, diags, doc)
    for i, held in enumerate(assigned):
        if not held.clusters and i not in unknown:
            why = (
                "earlier waves took every cluster it selects"
                if held.selects
                else ("its selector matches no cluster")
            )
            diags.warning(
                "wave-empty",
                f"wave {held.name!r} holds no cluster ({why}); it does nothing",
                doc.position((*WAVES, i, "name")),
                path=format_path((*WAVES, i)),
            )
    placed = wave_of(assigned)
    missing = [c.name for c in fleet.spec.clusters if c.name not in placed]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        diags.error(
            "wave-cluster-missing",
            f"cluster{'s' if len(missing) > 1 else ''} {names} {'are' if len(missing) > 1 else 'is'}"
            " in no wave",
            doc.key_position(WAVES),
            path=format_path(WAVES),
            hint="select every cluster in some wave, or end with a wave without clusters: it"
            " takes the rest",
        )


CHECKS = (check_waves,)
