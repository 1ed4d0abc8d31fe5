"""Property: for random fleets and flows, the rendered policies mean what the model says.

Hypothesis builds fleets (clusters with labels, services, allow and deny policies naming
services or workload sets with cluster lists, label selectors or CEL, ports and ranges,
defaults allow or deny) and flows between random pods. For every flow the independent
evaluator of the *rendered* policies, under Cilium 1.19 and 1.18 selector defaults, must agree
with `compiler.reach.decide`. Every rendered object must pass the upstream CRD schema.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import reach
from compiler.render.policies import render_policies
from tests.policy_evaluator import Evaluator, Pod, by_cluster, resolve_text
from tests.test_policies import assert_valid

NAMESPACES = ("ns-a", "ns-b", "ns-c")
POD_LABELS = {"app": ("web", "api", "db"), "tier": ("x", "y")}
SERVICE_PORTS = ((80, "TCP"), (443, "TCP"), (53, "UDP"), (8080, "TCP"))
PORT_SPECS = ("80/TCP", "443/TCP", "53/UDP", "8000-8100/TCP", "53/ANY", "9000-9001/SCTP")
FLOW_PORTS = (53, 80, 443, 8000, 8050, 8080, 8100, 8101, 9000, 9001, 9090)
PROTOCOLS = ("TCP", "UDP", "SCTP")
CLUSTER_LABELS = {"env": ("prod", "dev"), "tier": ("a", "b")}

FLOWS_PER_FLEET = 60
CASES = {"fleets": 0, "flows": 0}


@st.composite
def labels(draw: Any, pool: dict[str, tuple[str, ...]], min_size: int = 0) -> dict[str, str]:
    keys = draw(st.lists(st.sampled_from(sorted(pool)), min_size=min_size, unique=True))
    return {k: draw(st.sampled_from(pool[k])) for k in sorted(keys)}


@st.composite
def cluster_selector(draw: Any, names: list[str]) -> Any:
    kind = draw(st.sampled_from(("names", "labels", "expression", "cel")))
    if kind == "names":
        return draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    if kind == "labels":
        return {"matchLabels": draw(labels(CLUSTER_LABELS, min_size=1))}
    if kind == "expression":
        op = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")))
        expr: dict[str, Any] = {
            "key": draw(st.sampled_from(sorted(CLUSTER_LABELS))),
            "operator": op,
        }
        if op in ("In", "NotIn"):
            expr["values"] = draw(
                st.lists(st.sampled_from(CLUSTER_LABELS[expr["key"]]), min_size=1, unique=True)
            )
        return {"matchExpressions": [expr]}
    env = draw(st.sampled_from(CLUSTER_LABELS["env"]))
    return {"cel": f"'env' in cluster.labels && cluster.labels['env'] == '{env}'"}


@st.composite
def peer(draw: Any, names: list[str], services: list[dict[str, Any]], target: bool) -> Any:
    if services and draw(st.booleans()):
        service = draw(st.sampled_from(services))
        out: dict[str, Any] = {"service": f"{service['namespace']}/{service['name']}"}
        if target and service["ports"] and draw(st.booleans()):
            ports = draw(st.lists(st.sampled_from(service["ports"]), min_size=1, unique_by=str))
            out["ports"] = [f"{p['port']}/{p['protocol']}" for p in ports]
        return out
    out = {}
    if draw(st.booleans()):
        out["clusters"] = draw(cluster_selector(names))
    if draw(st.booleans()):
        out["namespace"] = draw(st.sampled_from((*NAMESPACES, "kube-system")))
    if draw(st.booleans()):
        out["selector"] = draw(labels(POD_LABELS, min_size=1))
    if target and out and draw(st.booleans()):
        out["ports"] = draw(
            st.lists(st.sampled_from(PORT_SPECS), min_size=1, max_size=3, unique=True)
        )
    return out


@st.composite
def fleets(draw: Any) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    names = [f"c{i}" for i in range(count)]
    clusters = [
        {
            "name": name,
            "id": i + 1,
            "labels": draw(labels(CLUSTER_LABELS)),
            "podCIDRs": [f"10.{i + 1}.0.0/16"],
            "meshEndpoint": {"address": f"{name}.example"},
        }
        for i, name in enumerate(names)
    ]
    services = []
    for i in range(draw(st.integers(0, 4))):
        ports = draw(st.lists(st.sampled_from(SERVICE_PORTS), max_size=2, unique=True))
        services.append(
            {
                "name": f"svc{i}",
                "namespace": draw(st.sampled_from(NAMESPACES)),
                "selector": draw(labels(POD_LABELS, min_size=1)),
                "ports": [{"port": p, "protocol": proto} for p, proto in ports],
                "clusters": draw(st.lists(st.sampled_from(names), min_size=1, unique=True)),
            }
        )
    policies = [
        {
            "name": f"p{i}",
            "action": draw(st.sampled_from(("allow", "deny"))),
            "from": draw(peer(names, services, target=False)),
            "to": draw(peer(names, services, target=True)),
        }
        for i in range(draw(st.integers(0, 5)))
    ]
    return {
        "apiVersion": "fleetc.dev/v1alpha1",
        "kind": "Fleet",
        "metadata": {"name": "random"},
        "spec": {
            "cilium": {"version": "1.19"},
            "defaults": {
                "ingress": draw(st.sampled_from(("allow", "deny"))),
                "egress": draw(st.sampled_from(("allow", "deny"))),
            },
            "clusters": clusters,
            "services": services,
            "policies": policies,
        },
    }


def random_pod(rnd: random.Random, count: int) -> Pod:
    """A pod anywhere: in a managed namespace or not, kube-dns or not, with random labels."""
    pool = {**POD_LABELS, "k8s-app": ("kube-dns",)}
    pod_labels = {k: rnd.choice(v) for k, v in sorted(pool.items()) if rnd.random() < 0.5}
    namespace = rnd.choice((*NAMESPACES, "kube-system", "other"))
    return Pod(f"c{rnd.randrange(count)}", namespace, tuple(sorted(pod_labels.items())))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), fleet=fleets())
def _agrees(data: Any, fleet: dict[str, Any]) -> None:
    resolved = resolve_text(json.dumps(fleet, indent=1))
    files = render_policies(resolved)
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)
    objects = by_cluster(files)
    on_119, on_118 = Evaluator(objects, True), Evaluator(objects, False)
    count = len(fleet["spec"]["clusters"])
    CASES["fleets"] += 1
    # Flows come from a hypothesis-seeded generator: cheap to draw, still reproducible.
    rnd = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    for _ in range(FLOWS_PER_FLEET):
        src, dst = random_pod(rnd, count), random_pod(rnd, count)
        protocol, port = rnd.choice(PROTOCOLS), rnd.choice(FLOW_PORTS)
        decision = reach.decide(
            resolved,
            reach.Endpoint(src.cluster, src.namespace, src.labels),
            reach.Endpoint(dst.cluster, dst.namespace, dst.labels),
            protocol,
            port,
        )
        CASES["flows"] += 1
        assert on_119.allowed(src, dst, protocol, port) is decision.allowed, (
            src,
            dst,
            protocol,
            port,
            decision.reason,
        )
        assert on_118.allowed(src, dst, protocol, port) is decision.allowed
    # input order of clusters and services does not change a byte
    shuffled = json.loads(json.dumps(fleet))
    shuffled["spec"]["clusters"].reverse()
    shuffled["spec"]["services"].reverse()
    again = render_policies(resolve_text(json.dumps(shuffled, indent=1)))
    assert _unlined(again) == _unlined(files)


def _unlined(files: list[Any]) -> str:
    """The files as JSON, without the fleet.yaml line numbers that moving lists shifts."""
    return re.sub(
        r"fleet\.yaml:[0-9]+", "fleet.yaml", json.dumps([(f.path, f.content) for f in files])
    )


@pytest.mark.slow
def test_rendered_policies_agree_with_the_reachability_model() -> None:
    CASES.update(fleets=0, flows=0)
    _agrees()
    print(f"\nproperty: {CASES['flows']} flows over {CASES['fleets']} random fleets agreed")
    assert CASES["fleets"] >= 100
