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

The evaluator runs with Cilium's own behaviour: the local host reaches local pods whatever
the default (``--allow-localhost=always``), and a name is seen only when its lookup passes
every policy on the way to kube-dns (`tests/test_policies_gaps.py` pins both, and the other
places the model and the rendered policies once parted).
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import reach
from compiler.render.policies import render_policies
from compiler.resolve.model import CIDRSet, Entities, FQDNs, Peer, WorkloadSet
from tests.policy_evaluator import Evaluator, Party, Pod, by_cluster, resolve_text
from tests.policy_fleets import (
    ADDRESSES,
    FLOW_PORTS,
    NAME_IPS,
    NAMES,
    NAMESPACES,
    POD_LABELS,
    PROTOCOLS,
    REQUESTS,
    WORLD_IP,
    fleets,
)
from tests.policy_peers import NODE_KINDS, Node, Outside
from tests.test_policies import assert_valid

FLOWS_PER_FLEET = 60
CASES = {"fleets": 0, "flows": 0, "outside": 0, "requests": 0, "l7": 0}


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
    fleet_side = "source" if isinstance(policy.source, WorkloadSet) else "destination"
    pod = _aimed_pod(rnd, policy.source if fleet_side == "source" else policy.destination, count)
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


def _aimed_pod(rnd: random.Random, workloads: WorkloadSet, count: int) -> Pod:
    """A pod of the workload set (or any pod, when the set covers no cluster)."""
    pod = random_pod(rnd, count)
    cluster = rnd.choice(workloads.clusters) if workloads.clusters else pod.cluster
    merged = dict(pod.labels) | dict(workloads.selector or ())
    return Pod(cluster, workloads.namespace or pod.namespace, tuple(sorted(merged.items())))


def _aimed(rnd: random.Random, peer: Peer, count: int, near: Pod) -> tuple[reach.Party, Party]:
    """Something `peer` names, seen from a pod `near` (entities are judged in its cluster)."""
    if isinstance(peer, WorkloadSet):
        pod = _aimed_pod(rnd, peer, count)
        return _endpoint(pod), pod
    if isinstance(peer, CIDRSet):
        # edges: the first address of a named prefix or exception, or anything known
        net = ipaddress.ip_network(rnd.choice((*peer.cidrs, *peer.excepts)))
        first = net[1] if net.num_addresses > 1 else net[0]
        ip = rnd.choice((str(first), rnd.choice(ADDRESSES)))
        return reach.Outside("cidr", ip), Outside(ip)
    if isinstance(peer, FQDNs):
        name = rnd.choice(NAMES)
        return reach.Outside("fqdn", name), Outside(NAME_IPS[name], name)
    assert isinstance(peer, Entities)
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
    resolved = resolve_text(json.dumps(fleet, indent=1))
    files = render_policies(resolved)
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)
    objects = by_cluster(files)
    evaluators = [Evaluator(objects, local) for local in (True, False)]
    CASES["fleets"] += 1
    # Flows come from a hypothesis-seeded generator: cheap to draw, still reproducible.
    rnd = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    check_flows(resolved, evaluators, rnd, len(fleet["spec"]["clusters"]))
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
    CASES.update(fleets=0, flows=0, outside=0, requests=0, l7=0)
    _agrees()
    print(
        f"\nproperty: {CASES['flows']} flows ({CASES['outside']} with an address or a node,"
        f" {CASES['requests']} HTTP requests, {CASES['l7']} under L7 rules) over"
        f" {CASES['fleets']} random fleets agreed"
    )
    assert CASES["fleets"] >= 100
    assert CASES["outside"] >= 1000 and CASES["l7"] >= 20
