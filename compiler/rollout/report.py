"""The per-wave connectivity of `compiler.rollout.flows` in each diff format (JSON, text,
Markdown). The diff reports call these only when the head fleet declares waves."""

from __future__ import annotations

from typing import Any

from compiler.rollout.flows import RolloutFlows

BROKEN_HINT = (
    "allowed before and after the change but cut while the waves land: land both ends in one"
    " wave, or add the allow before the deny"
)


def as_data(rollout: RolloutFlows) -> list[dict[str, Any]]:
    """The ``waves`` array of ``fleetc diff -o json``."""
    out = []
    for k, wave in enumerate(rollout.waves):
        out.append(
            {
                "name": wave.name,
                "clusters": list(wave.clusters),
                "flows": [f.as_json() for f in wave.flows],
                # mesh changes must be everywhere before the second wave relies on them
                "meshFirst": [m.message for m in rollout.mesh] if k == 0 else [],
                "broken": [
                    {"from": b.source, "to": b.destination, "port": b.port, "rule": b.rule}
                    for b in rollout.broken
                    if wave.name in b.waves
                ],
            }
        )
    return out


def warnings(rollout: RolloutFlows) -> list[str]:
    """One line per flow the wave order cuts for a while (rule 3 of `compiler.rollout.flows`)."""
    return [
        f"{b.source} -> {b.destination} {b.port} is denied after wave"
        f" {', '.join(b.waves)} ({b.rule}); {BROKEN_HINT}"
        for b in rollout.broken
    ]


def _flow_line(flow: Any) -> str:
    verdict = "now ALLOWED" if flow.after else "now denied"
    rule = flow.rule_after if flow.after else flow.rule_after or flow.rule_before
    return f"{flow.source} -> {flow.destination} {flow.port}: {verdict} ({rule})"


def text_lines(rollout: RolloutFlows) -> list[str]:
    """The per-wave section of ``fleetc diff`` (text)."""
    lines = []
    for m in rollout.mesh:
        lines.append(f"rollout: land everywhere before the second wave: {m.message}")
    for k, wave in enumerate(rollout.waves, 1):
        head = f"wave {k}/{len(rollout.waves)} {wave.name} ({', '.join(wave.clusters) or '-'})"
        lines.append(f"{head}: {len(wave.flows)} connectivity change(s)")
        lines.extend(f"  {_flow_line(f)}" for f in wave.flows)
    lines.extend(f"warning: {w}" for w in warnings(rollout))
    if rollout.truncated:
        lines.append("rollout: connectivity check stopped at its limit; more flows may change")
    return lines


def markdown(rollout: RolloutFlows, budget: int | None) -> str:
    """The per-wave section of the PR comment, at most `budget` UTF-8 bytes (None: all of
    it), cut at a line with a line saying so; the full list is in the JSON report."""
    parts = ["#### :ocean: Rollout by wave", ""]
    for w in warnings(rollout):
        parts += ["> [!WARNING]", f"> {w}", ""]
    for m in rollout.mesh:
        parts.append(f"- land everywhere before the second wave: {m.message}")
    if rollout.mesh:
        parts.append("")
    for k, wave in enumerate(rollout.waves, 1):
        clusters = ", ".join(f"`{c}`" for c in wave.clusters) or "none"
        parts.append(f"**{k}. {wave.name}** ({clusters}): {len(wave.flows)} change(s)")
        parts.extend(f"- `{_flow_line(f)}`" for f in wave.flows)
        parts.append("")
    text = "\n".join(parts) + "\n"
    if budget is None or len(text.encode()) <= budget:
        return text
    cut = "\n:scissors: _The rest of the per-wave list is in the full report (JSON `waves`)._\n"
    room = budget - len(cut.encode())
    if room <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        used += len(line.encode())
        if used > room:
            break
        kept.append(line)
    return "".join(kept) + cut
