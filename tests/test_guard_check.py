"""validate's guard budget check on big generated fleets: a warning near, an error over."""

from __future__ import annotations

import pytest

from compiler.diagnostics import Diagnostics, Severity
from compiler.guard.check import check_budget
from compiler.load import load
from compiler.model import parse


def _fleet_yaml(clusters: int, denies: int, enabled: bool = True) -> bytes:
    lines = [
        "apiVersion: fleetc.dev/v1alpha1",
        "kind: Fleet",
        "metadata: {name: big}",
        "spec:",
        '  cilium: {version: "1.19", maxConnectedClusters: 511}',
        f"  guard: {{enabled: {str(enabled).lower()}}}",
        "  clusters:",
    ]
    for i in range(1, clusters + 1):
        lines.append(
            f"    - {{name: c{i}, id: {i}, podCIDRs: [10.{i // 256}.{i % 256}.0/24],"
            f" meshEndpoint: {{address: c{i}.example.internal}}}}"
        )
    lines.append("  policies:")
    lines.append("    - {name: fine, action: allow, from: {}, to: {}}")
    for n in range(denies):
        lines.append(
            f"    - {{name: wide-{n}, action: deny, from: {{}}, to: {{ports: [1-65534/ANY]}}}}"
        )
    return ("\n".join(lines) + "\n").encode()


def _check(data: bytes) -> list[tuple[str, Severity, int]]:
    diags = Diagnostics()
    doc = load(data, "fleet.yaml")
    fleet = parse(doc, diags)
    assert fleet is not None, diags.items
    check_budget(doc, fleet, diags)
    return [(d.code, d.severity, d.position.line if d.position else 0) for d in diags.items]


@pytest.mark.parametrize(
    ("denies", "expected"),
    [
        (2, []),
        (10, [("guard-map-budget", Severity.WARNING)]),  # 10 x 1021 pairs x 87 blocks: 85 %
        (12, [("guard-map-full", Severity.ERROR)]),
    ],
)
def test_guard_budget_check(denies: int, expected: list[tuple[str, Severity]]) -> None:
    found = _check(_fleet_yaml(511, denies))
    assert [(code, severity) for code, severity, _ in found] == expected
    if found:  # at the first of the equally big denies: spec.policies[1], after 511 clusters
        assert found[0][2] == 8 + 511 + 1 + 1


def test_guard_budget_check_only_when_enabled() -> None:
    assert _check(_fleet_yaml(511, 12, enabled=False)) == []
