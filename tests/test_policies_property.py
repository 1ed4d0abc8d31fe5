"""Property: for random fleets and flows, the rendered policies mean what the model says.

Hypothesis builds fleets (clusters with labels, services, allow and deny policies naming
services or workload sets with cluster lists, label selectors or CEL, ports and ranges,
Cilium entities, CIDRs with exceptions, DNS names and HTTP rules; defaults allow or deny) and
flows between random pods, addresses outside the fleet (``world``, ``cidr:IP``,
``fqdn:NAME``) and node-side entities (``host@c``, ``remote-node@c``, ``kube-apiserver@c``),
some with an HTTP request. For every flow the independent evaluator of the *rendered*
policies, under Cilium 1.19 and 1.18 selector defaults, must agree with `compiler.reach.decide`
(and `compiler.reach.requests`). Every rendered object must pass the upstream CRD schema and
Cilium's own rules.

The evaluator runs with two of Cilium's behaviours switched off, each pinned by a strict
xfail in `tests/test_policies_gaps.py` until the model says what Cilium does: the local host
reaching local pods whatever the default (``--allow-localhost=policy`` here), and DNS lookups
that a deny or kube-dns's own policy drops (here the proxy rule alone makes names seen).
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import reach
from compiler.render.policies import render_policies
from tests.policy_evaluator import Evaluator, Party, Pod, by_cluster, resolve_text
from tests.policy_peers import NODE_KINDS, Node, Outside
from tests.test_policies import assert_valid

NAMESPACES = ("ns-a", "ns-b", "ns-c")
POD_LABELS = {"app": ("web", "api", "db"), "tier": ("x", "y")}
SERVICE_PORTS = ((80, "TCP"), (443, "TCP"), (53, "UDP"), (8080, "TCP"))
PORT_SPECS = ("80/TCP", "443/TCP", "53/UDP", "8000-8100/TCP", "53/ANY", "9000-9001/SCTP")
TCP_PORT_SPECS = ("80/TCP", "443/TCP", "8000-8100/TCP")
FLOW_PORTS = (53, 80, 443, 8000, 8050, 8080, 8100, 8101, 9000, 9001, 9090)
PROTOCOLS = ("TCP", "UDP", "SCTP")
CLUSTER_LABELS = {"env": ("prod", "dev"), "tier": ("a", "b")}

ENTITIES = ("world", "kube-apiserver", "host", "remote-node", "health", "ingress", "cluster", "all")
CIDRS = (
    "198.51.100.0/24",
    "198.51.100.0/25",
    "198.51.100.64/26",
    "203.0.113.0/24",
    "2001:db8::/32",
)
"""Nested on purpose: exceptions of one prefix fall inside others."""
EXCEPTS = (
    "198.51.100.0/25",
    "198.51.100.0/26",
    "198.51.100.64/26",
    "198.51.100.128/25",
    "203.0.113.96/27",
    "2001:db8::/64",
)
ADDRESSES = (
    "198.51.100.1",
    "198.51.100.70",
    "198.51.100.130",
    "203.0.113.5",
    "203.0.113.100",
    "2001:db8::1",
    "2001:db8:1::1",
)
WORLD_IP = "100.64.0.1"
"""`world`: an address in no cluster's range and in no CIDR a policy can name here."""
FQDN_PATTERNS = ("api.example.com", "*.example.com", "**.example.com", "exa*le.org", "*")
NAMES = ("api.example.com", "a.b.example.com", "example.com", "example.org", "exle.org")
NAME_IPS = {name: f"100.64.1.{i + 1}" for i, name in enumerate(NAMES)}
"""What each name resolves to: outside every cluster and every CIDR above."""
HTTP_RULES = (
    {"method": "GET"},
    {"method": "GET|HEAD"},
    {"path": "/v1/.*"},
    {"method": "POST", "path": "/v1/items"},
)
REQUESTS = (("GET", "/v1/items"), ("POST", "/v1/items"), ("HEAD", "/health"), ("PUT", "/v2"))
PENDING_VALIDATE = ("policy-ports-no-target",)
"""Validate (issue 12, part 2) does not yet let ``ports`` ride on entities, CIDRs or names."""

FLOWS_PER_FLEET = 60
CASES = {"fleets": 0, "flows": 0, "outside": 0, "requests": 0, "l7": 0}


@st.composite
def labels(draw: Any, pool: Mapping[str, tuple[str, ...]], min_size: int = 0) -> dict[str, str]:
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


def _tcp_only(ports: list[str]) -> bool:
    return bool(ports) and all(p.endswith("/TCP") for p in ports)


@st.composite
def fleet_peer(
    draw: Any, names: list[str], services: list[dict[str, Any]], target: bool, allow: bool
) -> Any:
    """A service or a workload set; as a target maybe with ports, and (allow) HTTP rules."""
    out: dict[str, Any] = {}
    l7 = target and allow and draw(st.booleans())  # then TCP ports only
    if services and draw(st.booleans()):
        service = draw(st.sampled_from(services))
        out["service"] = f"{service['namespace']}/{service['name']}"
        exposed = [p for p in service["ports"] if p["protocol"] == "TCP" or not l7]
        if target and exposed and (l7 or draw(st.booleans())):
            ports = draw(st.lists(st.sampled_from(exposed), min_size=1, unique_by=str))
            out["ports"] = [f"{p['port']}/{p['protocol']}" for p in ports]
    else:
        if draw(st.booleans()):
            out["clusters"] = draw(cluster_selector(names))
        if draw(st.booleans()):
            out["namespace"] = draw(st.sampled_from((*NAMESPACES, "kube-system")))
        if draw(st.booleans()):
            out["selector"] = draw(labels(POD_LABELS, min_size=1))
        if target and out and (l7 or draw(st.booleans())):
            pool = TCP_PORT_SPECS if l7 else PORT_SPECS
            out["ports"] = draw(
                st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True)
            )
    if l7 and _tcp_only(out.get("ports", [])):
        out["http"] = draw(
            st.lists(st.sampled_from(HTTP_RULES), min_size=1, max_size=2, unique_by=str)
        )
    return out


@st.composite
def outside_peer(draw: Any, target: bool, allow: bool) -> dict[str, Any]:
    """Entities, CIDRs (exceptions inside them) or, as an allowed target, DNS names."""
    kinds = ["entities", "cidrs"] + (["fqdns"] if target and allow else [])
    kind = draw(st.sampled_from(kinds))
    out: dict[str, Any]
    if kind == "entities":
        out = {
            "entities": draw(
                st.lists(st.sampled_from(ENTITIES), min_size=1, max_size=3, unique=True)
            )
        }
    elif kind == "fqdns":
        out = {
            "fqdns": draw(
                st.lists(st.sampled_from(FQDN_PATTERNS), min_size=1, max_size=3, unique=True)
            )
        }
    else:
        cidrs = draw(st.lists(st.sampled_from(CIDRS), min_size=1, max_size=3, unique=True))
        # An exception wider than another of the CIDRs is rendered wrong (the narrower CIDR
        # goes out without it): a strict xfail in tests/test_policies_gaps.py; left out here.
        inside = [
            e
            for e in EXCEPTS
            if any(_subnet(e, c) for c in cidrs) and not any(_wider(e, c) for c in cidrs)
        ]
        out = {"cidrs": cidrs}
        if inside and draw(st.booleans()):
            out["except"] = draw(
                st.lists(st.sampled_from(inside), min_size=1, max_size=2, unique=True)
            )
    if target and draw(st.booleans()):
        tcp = allow and draw(st.booleans())
        out["ports"] = draw(
            st.lists(
                st.sampled_from(TCP_PORT_SPECS if tcp else PORT_SPECS),
                min_size=1,
                max_size=2,
                unique=True,
            )
        )
        if tcp and draw(st.booleans()):
            out["http"] = draw(
                st.lists(st.sampled_from(HTTP_RULES), min_size=1, max_size=2, unique_by=str)
            )
    return out


def _wider(outer: str, inner: str) -> bool:
    return outer != inner and _subnet(inner, outer)


def _subnet(inner: str, outer: str) -> bool:
    a, b = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


@st.composite
def policy(draw: Any, i: int, names: list[str], services: list[dict[str, Any]]) -> dict[str, Any]:
    action = draw(st.sampled_from(("allow", "deny")))
    allow = action == "allow"
    outside = draw(st.sampled_from((None, "from", "to")))
    return {
        "name": f"p{i}",
        "action": action,
        "from": draw(outside_peer(False, allow))
        if outside == "from"
        else draw(fleet_peer(names, services, False, allow)),
        "to": draw(outside_peer(True, allow))
        if outside == "to"
        else draw(fleet_peer(names, services, True, allow)),
    }


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
    policies = [draw(policy(i, names, services)) for i in range(draw(st.integers(0, 5)))]
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


def random_other(rnd: random.Random, count: int) -> tuple[reach.Party, Party]:
    """Something that is not a pod, as the model and as the evaluator see it."""
    kind = rnd.choice(("world", "cidr", "fqdn", "host", "remote-node", "kube-apiserver"))
    if kind == "world":
        return reach.Outside("world"), Outside(WORLD_IP)
    if kind == "cidr":
        ip = rnd.choice(ADDRESSES)
        return reach.Outside("cidr", ip), Outside(ip)
    if kind == "fqdn":
        name = rnd.choice(NAMES)
        return reach.Outside("fqdn", name), Outside(NAME_IPS[name], name)
    cluster = f"c{rnd.randrange(count)}"
    return reach.Node(kind, cluster), Node(kind, cluster)


def random_flow(rnd: random.Random, count: int) -> tuple[reach.Party, reach.Party, Party, Party]:
    """(model src, model dst, evaluator src, evaluator dst): pod to pod, or a pod and another."""
    src, dst = random_pod(rnd, count), random_pod(rnd, count)
    pair: list[tuple[reach.Party, Party]] = [(_endpoint(src), src), (_endpoint(dst), dst)]
    shape = rnd.random()
    if shape < 0.25:
        pair[1] = random_other(rnd, count)
    elif shape < 0.5:
        pair[0] = random_other(rnd, count)
    (model_src, src_party), (model_dst, dst_party) = pair
    return model_src, model_dst, src_party, dst_party


def aimed_flow(
    rnd: random.Random, resolved: Any
) -> tuple[reach.Party, reach.Party, Party, Party, str, int] | None:
    """A flow one random policy names (its parties and ports), so rules and L7 filters are
    exercised and not only defaults; the verdict still comes from the model and the
    evaluator alone. None when the fleet has no policy."""
    if not resolved.policies:
        return None
    policy = rnd.choice(resolved.policies)
    count = len(resolved.clusters)
    fleet_side = "source" if hasattr(policy.source, "clusters") else "destination"
    pod = _aimed_pod(rnd, getattr(policy, fleet_side), count)
    other_peer = policy.destination if fleet_side == "source" else policy.source
    other = _aimed(rnd, other_peer, count, pod)
    ends = [(_endpoint(pod), pod), other]
    if fleet_side == "destination":
        ends.reverse()
    protocol, port = rnd.choice(PROTOCOLS), rnd.choice(FLOW_PORTS)
    if policy.ports:
        r = rnd.choice(policy.ports)
        protocol = r.protocol if r.protocol != "ANY" else rnd.choice(PROTOCOLS)
        port = rnd.randint(r.low, r.high) if r.high - r.low < 1000 else r.low
    return ends[0][0], ends[1][0], ends[0][1], ends[1][1], protocol, port


def _aimed_pod(rnd: random.Random, workloads: Any, count: int) -> Pod:
    """A pod of the workload set (or any pod, when the set covers no cluster)."""
    pod = random_pod(rnd, count)
    cluster = rnd.choice(workloads.clusters) if workloads.clusters else pod.cluster
    merged = dict(pod.labels) | dict(workloads.selector or ())
    return Pod(cluster, workloads.namespace or pod.namespace, tuple(sorted(merged.items())))


def _aimed(rnd: random.Random, peer: Any, count: int, near: Pod) -> tuple[reach.Party, Party]:
    """Something `peer` names, seen from a pod `near` (entities are judged in its cluster)."""
    if hasattr(peer, "clusters"):
        pod = _aimed_pod(rnd, peer, count)
        return _endpoint(pod), pod
    if hasattr(peer, "cidrs"):
        # edges: the first address of a named prefix or exception, or anything known
        prefix = rnd.choice((*peer.cidrs, *peer.excepts))
        first = (
            ipaddress.ip_network(prefix)[1]
            if ipaddress.ip_network(prefix).num_addresses > 1
            else ipaddress.ip_network(prefix)[0]
        )
        ip = rnd.choice((str(first), rnd.choice(ADDRESSES)))
        return reach.Outside("cidr", ip), Outside(ip)
    if hasattr(peer, "patterns"):
        name = rnd.choice(NAMES)
        return reach.Outside("fqdn", name), Outside(NAME_IPS[name], name)
    entity = rnd.choice(peer.names)
    here, anywhere = near.cluster, f"c{rnd.randrange(count)}"
    if entity in ("cluster", "all") and rnd.random() < 0.3:
        pod = random_pod(rnd, count)
        pod = Pod(here if entity == "cluster" else pod.cluster, pod.namespace, pod.labels)
        return _endpoint(pod), pod
    kind, cluster = {
        "host": ("host", here),
        "kube-apiserver": ("kube-apiserver", here),
        "remote-node": rnd.choice((("remote-node", anywhere), ("host", anywhere))),
        "cluster": (rnd.choice(NODE_KINDS), here),
    }.get(entity, (None, here))
    if kind is None:
        return random_other(rnd, count)
    return reach.Node(kind, cluster), Node(kind, cluster)


def _endpoint(pod: Pod) -> reach.Endpoint:
    return reach.Endpoint(pod.cluster, pod.namespace, pod.labels)


def check_flows(resolved: Any, evaluators: list[Evaluator], rnd: random.Random, count: int) -> None:
    for i in range(FLOWS_PER_FLEET):
        aimed = aimed_flow(rnd, resolved) if i % 2 else None
        if aimed is None:
            model_src, model_dst, src, dst = random_flow(rnd, count)
            protocol, port = rnd.choice(PROTOCOLS), rnd.choice(FLOW_PORTS)
        else:
            model_src, model_dst, src, dst, protocol, port = aimed
        decision = reach.decide(resolved, model_src, model_dst, protocol, port)
        CASES["flows"] += 1
        CASES["outside"] += not (isinstance(src, Pod) and isinstance(dst, Pod))
        flow = (str(model_src), str(model_dst), protocol, port, decision.reason)
        for evaluator in evaluators:
            assert evaluator.allowed(src, dst, protocol, port) is decision.allowed, flow
        # HTTP requests on allowed TCP connections (53 carries DNS, not HTTP)
        if not decision.allowed or protocol != "TCP" or port == 53:
            continue
        method, path = rnd.choice(REQUESTS)
        passes, _ = reach.requests(decision, method, path)
        CASES["requests"] += 1
        CASES["l7"] += bool(decision.l7)
        for evaluator in evaluators:
            assert evaluator.request(src, dst, protocol, port, method, path) is passes, (
                *flow,
                method,
                path,
            )


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), fleet=fleets())
def _agrees(data: Any, fleet: dict[str, Any]) -> None:
    resolved = resolve_text(json.dumps(fleet, indent=1), tolerate=PENDING_VALIDATE)
    files = render_policies(resolved)
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)
    objects = by_cluster(files)
    evaluators = [
        Evaluator(objects, local, allow_localhost=False, dns_flow=False) for local in (True, False)
    ]
    CASES["fleets"] += 1
    # Flows come from a hypothesis-seeded generator: cheap to draw, still reproducible.
    rnd = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    check_flows(resolved, evaluators, rnd, len(fleet["spec"]["clusters"]))
    # input order of clusters and services does not change a byte
    shuffled = json.loads(json.dumps(fleet))
    shuffled["spec"]["clusters"].reverse()
    shuffled["spec"]["services"].reverse()
    again = render_policies(resolve_text(json.dumps(shuffled, indent=1), tolerate=PENDING_VALIDATE))
    assert _unlined(again) == _unlined(files)


def _unlined(files: list[Any]) -> str:
    """The files as JSON, without the fleet.yaml line numbers that moving lists shifts."""
    return re.sub(
        r"fleet\.yaml:[0-9]+", "fleet.yaml", json.dumps([(f.path, f.content) for f in files])
    )


@pytest.mark.slow
def test_rendered_policies_agree_with_the_reachability_model() -> None:
    CASES.update(fleets=0, flows=0, outside=0, requests=0, l7=0)
    _agrees()
    print(
        f"\nproperty: {CASES['flows']} flows ({CASES['outside']} with an address or a node,"
        f" {CASES['requests']} HTTP requests, {CASES['l7']} under L7 rules) over"
        f" {CASES['fleets']} random fleets agreed"
    )
    assert CASES["fleets"] >= 100
    assert CASES["outside"] >= 1000 and CASES["l7"] >= 20
