"""`fleetc diff -o markdown`: the pull-request comment, within a size budget at any fleet size.

GitHub refuses a comment over 65,536 characters and a job summary over 1 MiB, and a change to a
large fleet diffs megabytes of YAML. So the report is written in the order reviewers need it:
the counts, then flows newly denied, mesh identity changes, flows newly allowed, and object
diffs last. Each kind first gets up to `FLOOR` items (so thousands of denied flows cannot hide
every mesh change), then the rest of the room goes to items in that order; a cut line says
how much is left out and where the rest is (the job summary, the workflow artifact). Sizes are counted
in UTF-8 bytes, which bounds characters too. Seeds of a guard that is disabled are not applied
anywhere, so they are counted, never shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compiler.diff import FleetDiff, FlowChange, MeshChange, ObjectChange, Side

COMMENT_BUDGET = 65_536
"""GitHub's limit on an issue or pull-request comment body, in characters."""
SUMMARY_BUDGET = 1_048_576
"""GitHub's limit on one step's job summary: 1 MiB."""
BUDGETS: dict[str, int | None] = {
    "comment": COMMENT_BUDGET,
    "summary": SUMMARY_BUDGET,
    "none": None,
}
ARTIFACT = "the `fleetc-diff` workflow artifact (`diff.md` and `diff.json`, in full)"
REST = {
    "comment": f"the job summary of this run and {ARTIFACT}",
    "summary": ARTIFACT,
    "none": "`fleetc diff -o markdown --budget none`",
}
MARKER = "<!-- fleetc-diff:{fleet} -->"
GUARD_SEEDS = ("/guard/fleet/", "/guard/seeds/", "/guard/guard.json")
FLOOR = 10
"""Items of each kind shown before any kind gets more (when that many fit)."""
MAX_GRAPH_EDGES = 40
MAX_CLUSTER_NAMES = 20
_RESERVE = 600
"""Room kept for the cut line and for counts whose digits grow as items are left out."""


def _node_id(name: str) -> str:
    return "c_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _guard_disabled(side: Side) -> bool:
    return side.compiled is None or not side.compiled.resolved.guard.enabled


def is_idle_seed(diff: FleetDiff, change: ObjectChange) -> bool:
    """A guard seed file while the guard is disabled on both sides: nothing applies it."""
    if not (_guard_disabled(diff.base) and _guard_disabled(diff.head)):
        return False
    return change.path.startswith("clusters/") and any(s in change.path for s in GUARD_SEEDS)


@dataclass(frozen=True)
class Items:
    """What the comment can show, in the order it is shown."""

    denied: tuple[FlowChange, ...]
    mesh: tuple[MeshChange, ...]
    allowed: tuple[FlowChange, ...]
    objects: tuple[ObjectChange, ...]
    idle_seeds: int

    @classmethod
    def of(cls, diff: FleetDiff) -> Items:
        objects = [c for c in diff.objects if not is_idle_seed(diff, c)]
        return cls(
            denied=tuple(f for f in diff.flows if f.before and not f.after),
            mesh=diff.mesh,
            allowed=tuple(f for f in diff.flows if f.after and not f.before),
            objects=tuple(objects),
            idle_seeds=len(diff.objects) - len(objects),
        )

    @property
    def groups(self) -> tuple[tuple[Any, ...], ...]:
        return (self.denied, self.mesh, self.allowed, self.objects)

    def lower_bounds(self, shown: tuple[int, ...]) -> list[int]:
        """At least what each item not yet `shown` adds to the comment, in the order they
        are added (for the search's upper bound)."""
        sizes: list[int] = []
        for group, start in zip(self.groups, shown, strict=True):
            for item in group[start:]:
                if isinstance(item, FlowChange):
                    sizes.append(len(item.source) + len(item.destination))
                elif isinstance(item, MeshChange):
                    sizes.append(len(item.message))
                else:
                    sizes.append(len(item.diff))
        return sizes

    def extended(self, base: tuple[int, ...], extra: int) -> tuple[int, ...]:
        """`base` (items shown per group) and `extra` more, given in the groups' order."""
        out = []
        for group, start in zip(self.groups, base, strict=True):
            more = min(extra, len(group) - start)
            out.append(start + more)
            extra -= more
        return tuple(out)


def _warnings(diff: FleetDiff, items: Items) -> list[str]:
    warnings: list[str] = []
    if items.allowed:
        warnings.append(f"Widens exposure: {len(items.allowed)} flow(s) become allowed.")
    removed = [c for c in items.objects if c.change == "removed"]
    if removed:
        warnings.append(f"Deletes {len(removed)} object(s); Flux prunes them from the clusters.")
    disruptive = [m for m in diff.mesh if m.disruptive]
    if disruptive:
        warnings.append(
            f"{len(disruptive)} disruptive mesh change(s): workloads must restart (see Mesh)."
        )
    return warnings


def _edges(flows: tuple[FlowChange, ...]) -> list[dict[str, str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for f in flows:
        edges.setdefault((f.source_cluster, f.destination_cluster), []).append(
            ("+" if f.after else "-") + f.port
        )
    if len(edges) > MAX_GRAPH_EDGES:  # a graph of hundreds of edges helps nobody
        return []
    return [
        {
            "source": s,
            "destination": d,
            "source_id": _node_id(s),
            "destination_id": _node_id(d),
            "label": " ".join(sorted(set(labels)))[:80],
        }
        for (s, d), labels in sorted(edges.items())
    ]


def _cut_text(failed_text: str, room: int) -> tuple[str, int]:
    """The findings' text cut at a line boundary to `room` bytes; and how many lines were cut."""
    if len(failed_text.encode()) <= room:
        return failed_text, 0
    lines = failed_text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in lines:
        size = len(line.encode())
        if used + size > room:
            break
        kept.append(line)
        used += size
    return "".join(kept), len(lines) - len(kept)


def _waves(diff: FleetDiff, budget: int | None) -> str:
    """The per-wave section of a fleet with waves, in at most a quarter of the budget (the
    rest of it is in the JSON report's ``waves``)."""
    if diff.waves is None:
        return ""
    from compiler.rollout.report import markdown

    return markdown(diff.waves, None if budget is None else budget // 4)


def format_markdown(
    diff: FleetDiff, fleet: str, budget: int | None = COMMENT_BUDGET, rest: str | None = None
) -> str:
    """The comment; at most `budget` UTF-8 bytes (None: everything). `rest` says where what
    is cut can be read (default: by the budget, see `REST`)."""
    import jinja2

    from compiler.report.diff import failed_side, side_text

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("compiler.diff", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("comment.md.j2")
    if rest is None:
        rest = REST["comment" if budget == COMMENT_BUDGET else "summary" if budget else "none"]
    limit = "GitHub's comment size" if budget == COMMENT_BUDGET else "the size budget"
    items = Items.of(diff)
    failed = failed_side(diff)
    touched = diff.clusters_touched()
    common: dict[str, Any] = {
        "marker": MARKER.format(fleet=fleet),
        "fleet": fleet,
        "failed": failed is not None,
        "failed_side": f"{failed[0]} ({failed[1].label})" if failed else "",
        "failed_count": len(failed[1].diagnostics) if failed else 0,
        "changed": diff.changed,
        "base_label": diff.base.label,
        "head_label": diff.head.label,
        "counts": diff.counts(),
        "clusters": touched[:MAX_CLUSTER_NAMES],
        "clusters_more": max(0, len(touched) - MAX_CLUSTER_NAMES),
        "clusters_total": len(touched),
        "flows_total": len(diff.flows),
        "flows_truncated": diff.flows_truncated,
        "warnings": _warnings(diff, items),
        "denied_total": len(items.denied),
        "mesh_total": len(items.mesh),
        "allowed_total": len(items.allowed),
        "objects_total": len(items.objects),
        "idle_seeds": items.idle_seeds,
        "edges": _edges(diff.flows),
        "limit": limit,
        "rest": rest,
        "waves": _waves(diff, budget) if failed is None else "",
    }

    if failed is not None:
        text = side_text(failed[1])
        room = None if budget is None else max(0, budget - _RESERVE - len(common["marker"]) * 2)
        shown, cut_lines = _cut_text(text, room) if room is not None else (text, 0)
        return str(template.render(**common, failed_text=shown, failed_cut=cut_lines, cut=""))

    def render(shown: tuple[int, ...]) -> str:
        denied, mesh, allowed, objects = (g[:n] for g, n in zip(items.groups, shown, strict=True))
        clusters: dict[str, list[ObjectChange]] = {}
        for change in objects:
            clusters.setdefault(change.key.cluster or "(fleet)", []).append(change)
        totals: dict[str, list[ObjectChange]] = {}
        for change in items.objects:
            totals.setdefault(change.key.cluster or "(fleet)", []).append(change)
        sections = [
            {
                "name": name,
                "added": sum(1 for c in totals[name] if c.change == "added"),
                "changed": sum(1 for c in totals[name] if c.change == "changed"),
                "removed": sum(1 for c in totals[name] if c.change == "removed"),
                "changes": shown,
                "cut": len(totals[name]) - len(shown),
            }
            for name, shown in sorted(clusters.items())
        ]
        missing = [
            (len(items.denied) - len(denied), "flow(s) newly denied"),
            (len(items.mesh) - len(mesh), "mesh change(s)"),
            (len(items.allowed) - len(allowed), "flow(s) newly allowed"),
            (len(items.objects) - len(objects), "object diff(s)"),
        ]
        cut = ", ".join(f"{n} {what}" for n, what in missing if n)
        return str(
            template.render(
                **common,
                failed_text="",
                failed_cut=0,
                denied=denied,
                mesh=mesh,
                allowed=allowed,
                sections=sections,
                cut=cut,
            )
        )

    def size(text: str) -> int:
        return len(text.encode())

    everything = tuple(len(g) for g in items.groups)
    text = render(everything)
    if budget is None or size(text) <= budget:
        return text

    def most(high: int, shown: Callable[[int], tuple[int, ...]]) -> int:
        low = 0
        while low < high:
            mid = (low + high + 1) // 2
            if size(render(shown(mid))) <= budget:
                low = mid
            else:
                high = mid - 1
        return low

    # First the same few items of every kind, so that thousands of denied flows cannot hide
    # every mesh change; then as many more as fit, in the order reviewers need them.
    def floor(m: int) -> tuple[int, ...]:
        return tuple(min(m, n) for n in everything)

    base = floor(most(FLOOR, floor))
    high, used = 0, 0
    for bound in items.lower_bounds(base):  # an upper bound: what the items alone must take
        used += bound
        if used > budget:
            break
        high += 1
    return render(items.extended(base, most(high, lambda t: items.extended(base, t))))
