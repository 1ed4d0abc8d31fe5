"""Properties of a staged rollout, over random base/head fleet pairs and random wave plans.

1. A mixed DIR equals, cluster by cluster, the renders of the respective revisions: render the
   base fleet in full, then the head fleet with ``--wave k`` into the same DIR; every cluster
   of the waves up to k holds exactly what a full head render gives it, every other cluster
   exactly what the base render gave it (or nothing, when the base had no such cluster).
   ``render --check --wave k`` then finds DIR current.
2. The per-wave connectivity of ``fleetc diff`` equals the reachability model evaluated on
   the mixed fleet: for every pair of endpoint classes (one end a pod) and every port class,
   state by state (waves landed so far), `decide_mixed` with each cluster at its own
   revision, brute force over the class representatives; wave k lists exactly the flows
   whose verdict differs between state k-1 and state k. The net change from the base fleet
   to the head fleet is the plain diff's.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.diagnostics import Diagnostics
from compiler.diff.classes import party_classes, port_classes
from compiler.diff.flows import _merged, diff_flows
from compiler.pipeline import compile_fleet
from compiler.reach import decide_mixed
from compiler.rollout.flows import wave_flows
from compiler.validate.waves import assign
from tests.test_rollout import _pieces_used_exactly, _tree

CLUSTERS = {
    "a": {"env": "prod", "tier": "web"},
    "b": {"env": "prod", "tier": "data"},
    "c": {"env": "dev", "tier": "web"},
    "d": {"env": "dev", "tier": "data"},
    "e": {"env": "prod", "tier": "web"},
}
SERVICES = [
    {"name": "web", "namespace": "web", "selector": {"app": "web"},
     "ports": [{"port": 80}], "clusters": ["a", "c", "e"]},
    {"name": "api", "namespace": "api", "selector": {"app": "api"},
     "ports": [{"port": 8080}], "clusters": ["b", "c"]},
    {"name": "db", "namespace": "data", "selector": {"app": "db"},
     "ports": [{"port": 5432}], "clusters": ["b", "d"]},
]  # fmt: skip
POLICIES = [
    {"action": "allow", "from": {"service": "web/web"}, "to": {"service": "api/api"}},
    {"action": "allow", "from": {"service": "api/api"}, "to": {"service": "data/db"}},
    {"action": "deny", "from": {"clusters": ["c"]}, "to": {"clusters": ["b"]}},
    {"action": "deny", "from": {"service": "web/web"}, "to": {"service": "data/db"}},
    {"action": "allow", "from": {"namespace": "web"}, "to": {"namespace": "data",
     "ports": ["5432/TCP"]}},
    {"action": "allow", "from": {"clusters": {"matchLabels": {"env": "prod"}}, "namespace": "api"},
     "to": {"service": "web/web"}},
    {"action": "deny", "from": {"clusters": {"matchLabels": {"env": "dev"}}},
     "to": {"clusters": {"matchLabels": {"env": "prod"}}, "namespace": "api"}},
]  # fmt: skip


def _fleet(clusters: list[str], policies: list[int], ingress: str, waves: Any) -> bytes:
    spec: dict[str, Any] = {
        "cilium": {"version": "1.19"},
        "defaults": {"ingress": ingress, "egress": "allow"},
        "clusters": [
            {
                "name": name,
                "id": k + 1,
                "labels": CLUSTERS[name],
                "podCIDRs": [f"10.{k + 1}.0.0/16"],
                "meshEndpoint": {"address": f"mesh.{name}.example.internal"},
            }
            for k, name in enumerate(sorted(CLUSTERS))
            if name in clusters
        ],
        "services": [
            {**s, "clusters": [c for c in s["clusters"] if c in clusters]}
            for s in SERVICES
            if any(c in clusters for c in s["clusters"])
        ],
        "policies": [{"name": f"p{i}", **POLICIES[i]} for i in sorted(policies)],
    }
    if waves is not None:
        spec["rollout"] = {"waves": waves}
    doc = {"apiVersion": "fleetc.dev/v1alpha1", "kind": "Fleet", "metadata": {"name": "demo"}}
    return json.dumps({**doc, "spec": spec}, indent=1).encode()  # JSON is YAML too


@st.composite
def change(draw: Any) -> tuple[bytes, bytes, list[str], str]:
    """(base fleet, head fleet with waves, the head's cluster order of waves, the wave k)."""
    base_clusters = ["a", "b", "c", "d"]
    head_clusters = base_clusters + (["e"] if draw(st.booleans()) else [])
    picks = st.lists(st.integers(0, len(POLICIES) - 1), unique=True, max_size=5)
    order = draw(st.permutations(head_clusters))
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=3)))
    groups = [order[i:j] for i, j in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    waves: list[dict[str, Any]] = [
        {"name": f"w{n}", "clusters": list(g)} for n, g in enumerate(groups)
    ]
    if draw(st.booleans()):
        del waves[-1]["clusters"]  # the last wave takes the rest
    ingress = st.sampled_from(("allow", "deny"))
    base = _fleet(base_clusters, draw(picks), draw(ingress), None)
    head = _fleet(head_clusters, draw(picks), draw(ingress), waves)
    return base, head, head_clusters, draw(st.sampled_from([w["name"] for w in waves]))


def _run(*args: str) -> int:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return main(list(args))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=change())
def test_mixed_dir_is_each_cluster_at_its_revision(tmp_path: Path, case: Any) -> None:
    base, head, clusters, wave = case
    work = tmp_path / "w"
    shutil.rmtree(work, ignore_errors=True)
    for side, data in (("base", base), ("head", head)):
        (work / side).mkdir(parents=True)
        (work / side / "fleet.yaml").write_bytes(data)
    base_out, mixed, full = work / "base-out", work / "mixed", work / "full"
    assert _run("render", str(work / "base" / "fleet.yaml"), "--out", str(base_out)) == 0
    shutil.copytree(base_out, mixed)
    head_file = str(work / "head" / "fleet.yaml")
    assert _run("render", head_file, "--out", str(mixed), "--wave", wave) == 0
    assert _run("render", head_file, "--out", str(full)) == 0

    diags = Diagnostics()
    compiled = compile_fleet(head, "fleet.yaml", diags)
    assert compiled is not None
    waves = assign(compiled.checked.fleet)
    upto = [w.name for w in waves].index(wave)
    moved = {c for w in waves[: upto + 1] for c in w.clusters}
    for cluster in clusters:
        expected = _tree(full if cluster in moved else base_out, cluster)
        assert _tree(mixed, cluster) == expected, cluster
    _pieces_used_exactly(mixed)
    assert _run("render", head_file, "--out", str(mixed), "--wave", wave, "--check") == 0
    if upto == len(waves) - 1:
        assert _run("render", head_file, "--out", str(mixed), "--check") == 0


@settings(max_examples=15, deadline=None)
@given(case=change())
def test_wave_flows_are_the_model_on_the_mixed_fleet(case: Any) -> None:
    base_data, head_data, _, _ = case
    base = compile_fleet(base_data, "fleet.yaml", Diagnostics())
    head = compile_fleet(head_data, "fleet.yaml", Diagnostics())
    assert base is not None and head is not None
    waves = assign(head.checked.fleet)
    got = wave_flows(base.resolved, head.resolved, waves, 10**7)
    assert not got.truncated

    # brute force: every pair of classes with a pod end, every port class, every state
    wave_of = {c: k for k, w in enumerate(waves) for c in w.clusters}
    common = sorted({c.name for c in base.resolved.clusters} & set(wave_of))
    parties = party_classes((base.resolved, head.resolved), common)
    ports = port_classes((base.resolved, head.resolved))
    found: list[dict[tuple[int, int], list[Any]]] = [{} for _ in waves]
    net: dict[tuple[int, int], list[Any]] = {}
    for s, src in enumerate(parties):
        for d, dst in enumerate(parties):
            if not (src.pod or dst.pod):
                continue
            for p, port in enumerate(ports):
                states = []
                for k in range(-1, len(waves)):
                    landed = {
                        c for c in common if wave_of[c] <= k
                    }  # pods of these clusters run the head revision

                    def revision(c: str, landed: set[str] = landed) -> Any:
                        return head.resolved if c in landed else base.resolved

                    states.append(
                        decide_mixed(revision, src.party, dst.party, port.protocol, port.port)
                    )
                for k in range(len(waves)):
                    if states[k].allowed != states[k + 1].allowed:
                        found[k].setdefault((s, d), []).append((p, states[k], states[k + 1]))
                if states[0].allowed != states[-1].allowed:
                    net.setdefault((s, d), []).append((p, states[0], states[-1]))
    for k, wave in enumerate(got.waves):
        assert list(wave.flows) == sorted(_merged(parties, ports, found[k])), wave.name
    plain, _ = diff_flows(base.resolved, head.resolved, 10**7)
    assert plain == sorted(_merged(parties, ports, net))
