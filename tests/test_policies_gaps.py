"""Where the rendered policies, as Cilium applies them, and the reachability model part ways.

Each case is the smallest fleet found (by the property test in
`tests/test_policies_property.py`, or by reading Cilium's documentation against the model)
where `compiler.reach.decide` and the independent evaluator of the rendered objects disagree,
with the answer Cilium's documentation and PRODUCT.md give. Each was a strict xfail until the
renderer, the model or validate was fixed; they stay as the examples that pin each fix.
"""

from __future__ import annotations

from compiler import reach
from compiler.render.policies import render_policies
from tests.policy_evaluator import Evaluator, Party, Pod, by_cluster, resolve_text
from tests.policy_peers import Node, Outside
from tests.test_policies import assert_valid

FLEET = """
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata: {{name: gaps}}
spec:
  cilium: {{version: "1.19"}}
  defaults: {{ingress: deny, egress: deny}}
  clusters:
    - {{name: a, id: 1, podCIDRs: [10.1.0.0/16], meshEndpoint: {{address: a.example}}}}
  policies:
{policies}
"""


def verdicts(
    policies: str, src: tuple[reach.Party, Party], dst: tuple[reach.Party, Party], port: int
) -> tuple[bool, bool]:
    """(the model's answer, Cilium's on the rendered objects) for one TCP flow."""
    resolved = resolve_text(FLEET.format(policies=policies))
    files = render_policies(resolved)
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)
    decision = reach.decide(resolved, src[0], dst[0], "TCP", port)
    return decision.allowed, Evaluator(by_cluster(files)).allowed(src[1], dst[1], "TCP", port)


def test_an_exception_covering_a_whole_cidr_removes_it() -> None:
    policies = (
        "    - {name: x-to-db, action: allow, from: {namespace: x},"
        " to: {cidrs: [198.51.100.0/24, 198.51.100.64/26], except: [198.51.100.0/25]}}"
    )
    pod = (reach.Endpoint("a", "x"), Pod("a", "x"))
    address = (reach.Outside("cidr", "198.51.100.70"), Outside("198.51.100.70"))
    model, cilium = verdicts(policies, pod, address, 443)
    assert not model  # 198.51.100.70 is excepted: default-deny egress in x
    assert cilium is model  # rendered: toCIDRSet [{/24, except [/25]}, {198.51.100.64/26}]


def test_the_local_host_reaches_local_pods_under_default_deny() -> None:
    policies = "    - {name: x-to-y, action: allow, from: {namespace: x}, to: {namespace: y}}"
    host = (reach.Node("host", "a"), Node("host", "a"))
    pod = (reach.Endpoint("a", "y"), Pod("a", "y"))
    model, cilium = verdicts(policies, host, pod, 8080)
    assert cilium  # y is managed, ingress default deny: the agent still lets its host in
    assert model is cilium


def test_a_denied_lookup_leaves_fqdns_nothing_to_match() -> None:
    policies = (
        "    - {name: x-to-api, action: allow, from: {namespace: x},"
        " to: {fqdns: [api.example.com]}}\n"
        "    - {name: x-not-system, action: deny, from: {namespace: x},"
        " to: {namespace: kube-system}}"
    )
    pod = (reach.Endpoint("a", "x"), Pod("a", "x"))
    name = (reach.Outside("fqdn", "api.example.com"), Outside("100.64.1.1", "api.example.com"))
    model, cilium = verdicts(policies, pod, name, 443)
    assert not cilium  # the lookup to kube-dns is denied: default-deny egress in x
    assert model is cilium


def test_http_rules_never_meet_the_dns_proxy_rule() -> None:
    policies = (
        "    - {name: x-to-dns, action: allow, from: {namespace: x},"
        " to: {namespace: kube-system, ports: [53/TCP], http: [{method: GET}]}}"
    )
    try:
        resolved = resolve_text(FLEET.format(policies=policies))
    except AssertionError:
        return  # validate refuses the fleet: what Cilium would do
    evaluator = Evaluator(by_cluster(render_policies(resolved)))
    dns = Pod("a", "kube-system", (("k8s-app", "kube-dns"),))
    evaluator.allowed(Pod("a", "x"), dns, "TCP", 53)  # the agent rejects: mixed L7 types
