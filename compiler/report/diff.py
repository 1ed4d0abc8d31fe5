"""`fleetc diff` output: text for terminals, JSON for tools, Markdown for a pull-request comment.

The Markdown comment fits GitHub's 65,536-character limit by cutting whole object diffs (never
half of one) and saying what was cut; a hidden marker lets CI find and edit its own comment.
"""

from __future__ import annotations

import json
import re
from typing import Any

from compiler.diff import FleetDiff, Side
from compiler.report.text import format_diagnostics

COMMENT_BUDGET = 65_536
MARKER = "<!-- fleetc-diff:{fleet} -->"


def _side_text(side: Side) -> str:
    sources = {}
    if side.compiled is not None:
        sources[side.compiled.checked.doc.source.name] = side.compiled.checked.doc.source
    return format_diagnostics(side.diagnostics, sources)


def _failed(diff: FleetDiff) -> tuple[str, Side] | None:
    if diff.base.failed:
        return "base", diff.base
    if diff.head.failed:
        return "head", diff.head
    return None


def format_text(diff: FleetDiff) -> str:
    out: list[str] = []
    failed = _failed(diff)
    if failed:
        which, side = failed
        out.append(f"{which} ({side.label}) does not compile; nothing compared:")
        out.append(_side_text(side).rstrip("\n"))
        return "\n".join(out) + "\n"
    if not diff.changed:
        return f"no change between {diff.base.label} and {diff.head.label}\n"
    counts = diff.counts()
    out.append(
        f"{diff.base.label} -> {diff.head.label}: +{counts['added']} added,"
        f" {counts['changed']} changed, -{counts['removed']} removed;"
        f" {len(diff.flows)} connectivity change(s)"
    )
    for m in diff.mesh:
        out.append(f"mesh: {'DISRUPTIVE: ' if m.disruptive else ''}{m.message}")
    for f in diff.flows:
        verdict = "now ALLOWED" if f.after else "now denied"
        out.append(f"flow: {f.source} -> {f.destination} {f.port}: {verdict} ({f.rule_after})")
    if diff.flows_truncated:
        out.append("flow: connectivity check stopped at its limit; more flows may change")
    if diff.waves is not None:
        from compiler.rollout.report import text_lines

        out.extend(text_lines(diff.waves))
    for change in diff.objects:
        out.append(f"{change.change}: [{change.key.cluster or '-'}] {change.key} ({change.path})")
        out.append(change.diff.rstrip("\n"))
    return "\n".join(out) + "\n"


def format_json(diff: FleetDiff) -> str:
    def side(s: Side) -> dict[str, Any]:
        return {
            "label": s.label,
            "missing": s.missing,
            "failed": s.failed,
            "diagnostics": [
                {
                    "code": d.code,
                    "severity": d.severity.label,
                    "message": d.message,
                    "file": d.position.file if d.position else None,
                    "line": d.position.line if d.position else None,
                    "column": d.position.column if d.position else None,
                }
                for d in s.diagnostics
            ],
        }

    data = {
        "base": side(diff.base),
        "head": side(diff.head),
        "changed": diff.changed,
        "counts": diff.counts(),
        "objects": [
            {
                "cluster": c.key.cluster,
                "kind": c.key.kind,
                "namespace": c.key.namespace,
                "name": c.key.name,
                "change": c.change,
                "path": c.path,
                "diff": c.diff,
            }
            for c in diff.objects
        ],
        "mesh": [
            {"kind": m.kind, "subject": m.subject, "message": m.message, "disruptive": m.disruptive}
            for m in diff.mesh
        ],
        "flows": [
            {
                "from": f.source,
                "to": f.destination,
                "port": f.port,
                "before": f.before,
                "after": f.after,
                "ruleBefore": f.rule_before,
                "ruleAfter": f.rule_after,
            }
            for f in diff.flows
        ],
        "flowsTruncated": diff.flows_truncated,
    }
    if diff.waves is not None:
        from compiler.rollout.report import as_data

        data["waves"] = as_data(diff.waves)
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _node_id(name: str) -> str:
    return "c_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _warnings(diff: FleetDiff) -> list[str]:
    warnings: list[str] = []
    opened = [f for f in diff.flows if f.after and not f.before]
    if opened:
        warnings.append(f"Widens exposure: {len(opened)} flow(s) become allowed.")
    removed = [c for c in diff.objects if c.change == "removed"]
    if removed:
        warnings.append(f"Deletes {len(removed)} object(s); Flux prunes them from the clusters.")
    disruptive = [m for m in diff.mesh if m.disruptive]
    if disruptive:
        warnings.append(
            f"{len(disruptive)} disruptive mesh change(s): workloads must restart (see Mesh)."
        )
    return warnings


def format_markdown(diff: FleetDiff, fleet: str, budget: int = COMMENT_BUDGET) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("compiler.diff", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("comment.md.j2")
    failed = _failed(diff)
    edges: dict[tuple[str, str], list[str]] = {}
    for f in diff.flows:
        key = (f.source_cluster, f.destination_cluster)
        edges.setdefault(key, []).append(("+" if f.after else "-") + f.port)
    edge_rows = [
        {
            "source": s,
            "destination": d,
            "source_id": _node_id(s),
            "destination_id": _node_id(d),
            "label": " ".join(sorted(set(labels)))[:80],
        }
        for (s, d), labels in sorted(edges.items())
    ]
    clusters: dict[str, list[Any]] = {}
    for change in diff.objects:
        clusters.setdefault(change.key.cluster or "(fleet)", []).append(change)

    def render(limit: int | None) -> str:
        sections = []
        shown = 0
        for name, changes in sorted(clusters.items()):
            kept = []
            for c in changes:
                if limit is None or shown < limit:
                    kept.append(c)
                    shown += 1
            sections.append(
                {
                    "name": name,
                    "added": sum(1 for c in changes if c.change == "added"),
                    "changed": sum(1 for c in changes if c.change == "changed"),
                    "removed": sum(1 for c in changes if c.change == "removed"),
                    "changes": kept,
                    "cut": len(changes) - len(kept),
                }
            )
        return template.render(
            marker=MARKER.format(fleet=fleet),
            fleet=fleet,
            failed=failed is not None,
            failed_side=f"{failed[0]} ({failed[1].label})" if failed else "",
            failed_count=len(failed[1].diagnostics) if failed else 0,
            failed_text=_side_text(failed[1]) if failed else "",
            changed=diff.changed,
            base_label=diff.base.label,
            head_label=diff.head.label,
            counts=diff.counts(),
            clusters=diff.clusters_touched(),
            flows=diff.flows,
            flows_truncated=diff.flows_truncated,
            warnings=_warnings(diff),
            mesh=diff.mesh,
            edges=edge_rows,
            sections=sections,
        )

    text = render(None)
    if len(text) <= budget:
        return text
    low, high = 0, len(diff.objects)
    while low < high:  # the most whole object diffs that fit
        mid = (low + high + 1) // 2
        if len(render(mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    return render(low)
