"""The reachability model with peers outside the fleet: entities, CIDRs, DNS names and L7.

Each test states one sentence of the contract ("Policies beyond the fleet") on a small fleet
and asks `decide` about the flows it speaks of, and the flows just beside them.
"""

from __future__ import annotations

import pytest

from compiler import reach
from compiler.reach import Endpoint, Node, Outside
from compiler.resolve.model import ResolvedFleet
from tests.policy_evaluator import resolve_text

HEAD = """\
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata: {name: outside}
spec:
  cilium: {version: "1.19"}
  defaults: {ingress: deny, egress: deny}
  clusters:
    - {name: a, id: 1, podCIDRs: [10.1.0.0/16], nodeCIDRs: [172.16.1.0/24], meshEndpoint: {address: a.example}}
    - {name: b, id: 2, podCIDRs: [10.2.0.0/16], meshEndpoint: {address: b.example}}
  services:
    - {name: web, namespace: shop, selector: {app: web}, ports: [{port: 8080}], clusters: [a, b]}
    - {name: pay, namespace: pay, selector: {app: pay}, ports: [{port: 443}], clusters: [a]}
  policies:
"""

WEB_A = Endpoint("a", "shop", (("app", "web"),))
WEB_B = Endpoint("b", "shop", (("app", "web"),))
PAY_A = Endpoint("a", "pay", (("app", "pay"),))
WORLD = Outside("world")


def fleet(policies: str) -> ResolvedFleet:
    return resolve_text(HEAD + policies)


def allowed(resolved: ResolvedFleet, src: reach.Party, dst: reach.Party, port: str) -> bool:
    number, protocol = port.split("/")
    return reach.decide(resolved, src, dst, protocol, int(number)).allowed


def test_world_ingress_is_judged_in_the_destination_cluster() -> None:
    resolved = fleet(
        "    - {name: in, action: allow, from: {entities: [world]}, to: {service: shop/web}}\n"
    )
    assert allowed(resolved, WORLD, WEB_A, "8080/TCP")
    assert allowed(resolved, Outside("cidr", "203.0.113.7"), WEB_B, "8080/TCP")
    assert allowed(resolved, Outside("fqdn", "example.com"), WEB_A, "8080/TCP")
    assert not allowed(resolved, WORLD, WEB_A, "9090/TCP")  # the service's ports only
    assert not allowed(resolved, WORLD, PAY_A, "443/TCP")  # default deny in pay
    # nodes are not the world, and the rule has no egress half: pods still need their own
    assert not allowed(resolved, Node("remote-node", "a"), WEB_A, "8080/TCP")
    assert not allowed(resolved, PAY_A, WEB_A, "8080/TCP")


def test_host_and_remote_node_depend_on_the_judging_cluster() -> None:
    resolved = fleet(
        "    - {name: h, action: allow, from: {entities: [host]}, to: {service: shop/web}}\n"
    )
    assert allowed(resolved, Node("host", "a"), WEB_A, "8080/TCP")
    assert not allowed(resolved, Node("host", "a"), WEB_B, "8080/TCP")  # a's node is remote to b
    assert not allowed(resolved, Node("remote-node", "a"), WEB_A, "8080/TCP")
    remote = fleet(
        "    - {name: r, action: allow, from: {entities: [remote-node]}, to: {service: shop/web}}\n"
    )
    assert allowed(remote, Node("host", "a"), WEB_B, "8080/TCP")
    assert allowed(remote, Node("remote-node", "b"), WEB_A, "8080/TCP")
    # a pod's own node is never a remote node; it gets in under the default (allow-localhost)
    assert reach.decide(remote, Node("host", "a"), WEB_A, "TCP", 8080).kind == "host"
    denied = fleet(
        "    - {name: no-host, action: deny, from: {entities: [host]}, to: {service: shop/web}}\n"
    )
    assert not allowed(denied, Node("host", "a"), WEB_A, "8080/TCP")


def test_kube_apiserver_is_never_world_and_only_the_local_one() -> None:
    resolved = fleet(
        "    - {name: api, action: allow, from: {service: shop/web},"
        " to: {entities: [kube-apiserver], ports: [443/TCP]}}\n"
        "    - {name: out, action: allow, from: {service: pay/pay}, to: {entities: [world]}}\n"
    )
    assert allowed(resolved, WEB_A, Node("kube-apiserver", "a"), "443/TCP")
    assert not allowed(resolved, WEB_A, Node("kube-apiserver", "b"), "443/TCP")
    assert not allowed(resolved, WEB_A, WORLD, "443/TCP")
    assert not allowed(resolved, PAY_A, Node("kube-apiserver", "a"), "443/TCP")
    assert allowed(resolved, PAY_A, WORLD, "443/TCP")


def test_cluster_entity_is_the_local_cluster_and_all_is_everything() -> None:
    resolved = fleet(
        "    - {name: c, action: allow, from: {entities: [cluster]}, to: {service: pay/pay}}\n"
    )
    # ingress at pay allows every local party; web's own egress default still applies
    assert allowed(resolved, Node("host", "a"), PAY_A, "443/TCP")
    assert allowed(resolved, Node("kube-apiserver", "a"), PAY_A, "443/TCP")
    assert not allowed(resolved, WEB_A, PAY_A, "443/TCP")  # egress default deny in shop
    assert not allowed(resolved, WORLD, PAY_A, "443/TCP")
    every = fleet(
        "    - {name: c, action: allow, from: {entities: [all]}, to: {service: pay/pay}}\n"
    )
    assert allowed(every, WORLD, PAY_A, "443/TCP")
    assert allowed(every, Node("kube-apiserver", "b"), PAY_A, "443/TCP")


def test_cidrs_with_exceptions() -> None:
    resolved = fleet(
        "    - {name: sql, action: allow, from: {namespace: pay},"
        " to: {cidrs: [10.50.0.0/16, '2001:db8::/32'], except: [10.50.9.0/24], ports: [1433/TCP]}}\n"
    )
    assert allowed(resolved, PAY_A, Outside("cidr", "10.50.1.1"), "1433/TCP")
    assert allowed(resolved, PAY_A, Outside("cidr", "2001:db8::5"), "1433/TCP")
    assert not allowed(resolved, PAY_A, Outside("cidr", "10.50.9.1"), "1433/TCP")
    assert not allowed(resolved, PAY_A, Outside("cidr", "10.51.0.1"), "1433/TCP")
    assert not allowed(resolved, PAY_A, WORLD, "1433/TCP")  # world is outside every named CIDR
    assert not allowed(resolved, PAY_A, Outside("cidr", "10.50.1.1"), "1434/TCP")
    assert not allowed(resolved, WEB_A, Outside("cidr", "10.50.1.1"), "1433/TCP")


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("api.stripe.com", "api.stripe.com", True),
        ("api.stripe.com", "API.Stripe.com.", True),
        ("api.stripe.com", "x.api.stripe.com", False),
        ("*.stripe.com", "api.stripe.com", True),
        ("*.stripe.com", "stripe.com", False),
        ("*.stripe.com", "a.b.stripe.com", False),
        ("**.stripe.com", "a.b.stripe.com", True),
        ("**.stripe.com", "stripe.com", False),
        ("*stripe.com", "stripe.com", True),
        ("*stripe.com", "substripe.com", True),
        ("*stripe.com", "www.stripe.com", False),
        ("sub*.cilium.io", "subdomain.cilium.io", True),
        ("sub*.cilium.io", "www.cilium.io", False),
        ("*", "anything.at.all", True),
    ],
)
def test_fqdn_patterns_follow_ciliums_match_pattern(pattern: str, name: str, matches: bool) -> None:
    assert reach.fqdn_matches(pattern, name) is matches


def test_fqdns_allow_names_not_world_and_deny_world_wins() -> None:
    allow = (
        "    - {name: stripe, action: allow, from: {service: pay/pay},"
        " to: {fqdns: [api.stripe.com, '*.stripe.com'], ports: [443/TCP]}}\n"
    )
    resolved = fleet(allow)
    assert allowed(resolved, PAY_A, Outside("fqdn", "api.stripe.com"), "443/TCP")
    assert allowed(resolved, PAY_A, Outside("fqdn", "files.stripe.com"), "443/TCP")
    assert not allowed(resolved, PAY_A, Outside("fqdn", "stripe.com"), "443/TCP")
    assert not allowed(resolved, PAY_A, WORLD, "443/TCP")
    denied = fleet(
        allow + "    - {name: no-world, action: deny, from: {namespace: pay},"
        " to: {entities: [world]}}\n"
    )
    decision = reach.decide(denied, PAY_A, Outside("fqdn", "api.stripe.com"), "TCP", 443)
    assert (decision.allowed, decision.kind, decision.rule and decision.rule.name) == (
        False,
        "deny-rule",
        "no-world",
    )


def test_dns_to_the_local_kube_dns_stays_open_under_egress_deny() -> None:
    resolved = fleet(
        "    - {name: x, action: allow, from: {service: shop/web}, to: {service: pay/pay}}\n"
    )
    dns_a = Endpoint("a", "kube-system", (("k8s-app", "kube-dns"),))
    dns_b = Endpoint("b", "kube-system", (("k8s-app", "kube-dns"),))
    assert reach.decide(resolved, PAY_A, dns_a, "UDP", 53).kind == "dns"
    assert not allowed(resolved, PAY_A, dns_b, "53/UDP")
    assert not allowed(resolved, PAY_A, dns_a, "54/UDP")


def test_l7_rules_filter_only_their_own_sources() -> None:
    resolved = fleet(
        "    - {name: read, action: allow, from: {service: shop/web},"
        " to: {service: pay/pay, http: [{method: GET, path: '/v1/.*'}]}}\n"
        "    - {name: ops, action: allow, from: {namespace: ops}, to: {service: pay/pay}}\n"
    )
    decision = reach.decide(resolved, WEB_A, PAY_A, "TCP", 443)
    assert decision.allowed and [d for d, _ in decision.l7] == ["egress", "ingress"]
    assert reach.requests(decision, "GET", "/v1/items")[0]
    assert not reach.requests(decision, "POST", "/v1/items")[0]
    assert not reach.requests(decision, "GET", "/v2/items")[0]
    ops = reach.decide(resolved, Endpoint("a", "ops"), PAY_A, "TCP", 443)
    assert ops.allowed and not ops.l7  # another source's rule has no L7: all requests pass
    assert reach.requests(ops, "DELETE", "/")[0]


def test_a_flow_with_no_fleet_pod_is_not_ours_to_decide() -> None:
    resolved = fleet(
        "    - {name: in, action: allow, from: {entities: [world]}, to: {service: shop/web}}\n"
    )
    with pytest.raises(ValueError):
        reach.decide(resolved, WORLD, Node("host", "a"), "TCP", 80)
