"""The pull-request comment fits GitHub's limits at any fleet size: synthetic fleets of 50 and
255 clusters, each grown by a few clusters (every object, mesh entry and many flows change)."""

from __future__ import annotations

import re
import time
from functools import cache

import pytest

from bench.fleetgen import generate
from compiler.diff import FleetDiff, compile_side, diff_fleets
from compiler.report.comment import (
    COMMENT_BUDGET,
    SUMMARY_BUDGET,
    Items,
    format_markdown,
    is_idle_seed,
)
from tests.emit_support import require_renderers

# (clusters before, after, services, policies): the 40 -> 50, and a fleet at Cilium's
# 255-cluster limit
SIZES = {50: (40, 50, 200, 100), 255: (250, 255, 300, 60)}


@cache
def _diff(clusters: int) -> tuple[FleetDiff, float]:
    require_renderers()
    before, after, services, policies = SIZES[clusters]
    start = time.monotonic()
    base = compile_side("base", generate(before, services, policies).encode(), "fleet.yaml")
    head = compile_side("head", generate(after, services, policies).encode(), "fleet.yaml")
    return diff_fleets(base, head), time.monotonic() - start


def _size(text: str) -> int:
    return len(text.encode())


@pytest.mark.slow
@pytest.mark.parametrize("clusters", sorted(SIZES))
def test_comment_and_summary_fit_at_fleet_scale(clusters: int) -> None:
    diff, seconds = _diff(clusters)
    full = format_markdown(diff, "synthetic", None)
    comment = format_markdown(diff, "synthetic")
    summary = format_markdown(diff, "synthetic", SUMMARY_BUDGET)
    print(
        f"\n{clusters} clusters: {len(diff.objects)} objects, {len(diff.flows)} flows,"
        f" {len(diff.mesh)} mesh changes in {seconds:.0f}s; markdown: full {_size(full):,} B,"
        f" summary {_size(summary):,} B, comment {len(comment):,} chars ({_size(comment):,} B)"
    )
    assert _size(full) > SUMMARY_BUDGET  # the case the budget exists for
    assert len(comment) <= _size(comment) <= COMMENT_BUDGET
    assert _size(summary) <= SUMMARY_BUDGET
    for text, rest, budget in (
        (comment, "job summary", COMMENT_BUDGET),
        (summary, "workflow artifact", SUMMARY_BUDGET),
    ):
        assert text.startswith("<!-- fleetc-diff:synthetic -->\n")
        assert "Cut to stay within" in text and rest in text
        assert text.count("```") % 2 == 0  # never half a code block
        assert _size(text) > 0.95 * budget  # the room is used, not just respected
    # counts first, then what reviewers must see first, objects last
    items = Items.of(diff)
    headings = [
        ("#### :lock: Flows newly denied", items.denied),
        ("#### Mesh identity changes", items.mesh),
        ("#### :unlock: Flows newly allowed", items.allowed),
    ]
    # every kind that changed shows some of its items, however many of another kind there are
    assert all(h in comment for h, group in headings if group)
    assert "#### Objects" in comment
    order = [comment.index(h) for h, group in headings if group]
    assert order == sorted(order) and order[0] < comment.index("Cut to stay within")
    assert comment.index("**+") < order[0]
    # the guard is disabled in these fleets: its seeds are counted, never shown
    idle = sum(1 for c in diff.objects if is_idle_seed(diff, c))
    assert idle > 0 and f"{idle} guard seed file(s)" in full
    for seed in ("guard/fleet/fleet.batch", "fleet.json", "guard/seeds/guard.batch", "guard.json"):
        assert f"{seed}</sub>" not in full
    shown = re.search(r"Not shown: ([^.]*)\.", comment)
    assert shown and "object diff(s)" in shown.group(1)


def test_a_failed_side_shows_its_findings_within_budget() -> None:
    require_renderers()
    broken = "apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata: {name: x}\nspec:\n"
    # long keys: even the 200 findings per code that are printed overflow the comment
    broken += "".join(f"  k{i}{'x' * 300}: {i}\n" for i in range(20_000))
    base = compile_side("base", generate(3, 4, 2).encode(), "fleet.yaml")
    diff = diff_fleets(base, compile_side("head", broken.encode(), "fleet.yaml"))
    comment = format_markdown(diff, "x")
    assert _size(comment) <= COMMENT_BUDGET
    assert "does not compile" in comment and "model-unknown-field" in comment
    assert "more line(s) of findings cut" in comment
    assert "does not compile" in format_markdown(diff, "x", None)
