"""The synthetic fleet generator (bench/fleetgen.py) makes fleets that validate cleanly."""

from __future__ import annotations

import ipaddress

import pytest

from bench.fleetgen import generate
from compiler.diagnostics import Diagnostics
from compiler.load import load
from compiler.pipeline import check


@pytest.mark.parametrize(
    ("clusters", "services", "policies", "cel", "seed"),
    [(3, 10, 5, False, 0), (20, 60, 30, True, 1), (260, 40, 20, False, 2), (12, 30, 40, True, 3)],
)
def test_generated_fleet_validates_without_findings(
    clusters: int, services: int, policies: int, cel: bool, seed: int
) -> None:
    text = generate(clusters, services, policies, cel=cel, seed=seed)
    diags = Diagnostics()
    checked = check(text.encode(), "fleet.yaml", diags)
    assert checked is not None
    assert [f"{d.position} {d.code} {d.message}" for d in diags.sorted()] == []
    spec = checked.fleet.spec
    assert (len(spec.clusters), len(spec.services), len(spec.policies)) == (
        clusters,
        services,
        policies,
    )
    assert ("cel:" in text) == cel and bool(spec.guardrails) == cel


def test_generated_fleet_is_deterministic_and_seeded() -> None:
    assert generate(10, 40, 20, seed=5) == generate(10, 40, 20, seed=5)
    assert generate(10, 40, 20, seed=5) != generate(10, 40, 20, seed=6)


def test_generated_clusters_are_realistic() -> None:
    data = load(generate(30, 10, 0).encode(), "fleet.yaml").data
    clusters = data["spec"]["clusters"]
    nets = [ipaddress.ip_network(p) for c in clusters for p in c["podCIDRs"]]
    assert any(n.version == 6 for n in nets) and any(n.version == 4 for n in nets)
    for i, a in enumerate(nets):
        assert not any(a.overlaps(b) for b in nets[i + 1 :] if a.version == b.version)
    assert all({"env", "region", "tier"} <= set(c["labels"]) for c in clusters)
    assert all(1 <= len(s["clusters"]) <= 3 for s in data["spec"]["services"])


def test_the_benchmark_fleet_is_about_the_size_the_target_assumes() -> None:
    size = len(generate(50, 500, 200).encode())
    assert 100_000 <= size <= 160_000
