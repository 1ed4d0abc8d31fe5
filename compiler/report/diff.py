"""`fleetc diff` output: text for terminals, JSON for tools, Markdown for a pull-request comment.

The Markdown comment (`compiler.report.comment`) fits a size budget at any fleet size; a
hidden marker lets CI find and edit its own comment.
"""

from __future__ import annotations

import json
from typing import Any

from compiler.diff import FleetDiff, Side
from compiler.report.comment import COMMENT_BUDGET, MARKER, format_markdown
from compiler.report.text import format_diagnostics

__all__ = ["COMMENT_BUDGET", "MARKER", "format_json", "format_markdown", "format_text"]


def side_text(side: Side) -> str:
    sources = {}
    if side.compiled is not None:
        sources[side.compiled.checked.doc.source.name] = side.compiled.checked.doc.source
    return format_diagnostics(side.diagnostics, sources)


def failed_side(diff: FleetDiff) -> tuple[str, Side] | None:
    if diff.base.failed:
        return "base", diff.base
    if diff.head.failed:
        return "head", diff.head
    return None


def format_text(diff: FleetDiff) -> str:
    out: list[str] = []
    failed = failed_side(diff)
    if failed:
        which, side = failed
        out.append(f"{which} ({side.label}) does not compile; nothing compared:")
        out.append(side_text(side).rstrip("\n"))
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
        "flows": [f.as_json() for f in diff.flows],
        "flowsTruncated": diff.flows_truncated,
    }
    if diff.waves is not None:
        from compiler.rollout.report import as_data

        data["waves"] = as_data(diff.waves)
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
