"""The test oracle itself: the policy evaluator on hand-written Cilium policies, each case
taken from Cilium's documentation (policy language: entities, CIDR, DNS, layer 7), so a
wrong evaluator fails here before it can agree with a wrong renderer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy_evaluator import Evaluator, Party, Pod
from tests.policy_peers import NamePattern, Node, Outside

X = Pod("a", "x", (("app", "web"),))
X2 = Pod("a", "x", (("app", "api"),))
DNS = Pod("a", "kube-system", (("k8s-app", "kube-dns"),))
STRIPE = Outside("100.64.1.1", "api.stripe.com")
DNS_RULE: dict[str, Any] = {
    "toEndpoints": [
        {
            "matchLabels": {
                "k8s:io.kubernetes.pod.namespace": "kube-system",
                "k8s-app": "kube-dns",
                "io.cilium.k8s.policy.cluster": "a",
            }
        }
    ],
    "toPorts": [
        {"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"dns": [{"matchPattern": "*"}]}}
    ],
}


def cnp(spec: dict[str, Any], namespace: str = "x") -> dict[str, Any]:
    return {
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": {"endpointSelector": {}, **spec},
    }


def evaluator(*specs: dict[str, Any], **flags: bool) -> Evaluator:
    return Evaluator({"a": [cnp(s) for s in specs], "b": []}, **flags)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*.cilium.io", "sub.cilium.io", True),
        ("*.cilium.io", "cilium.io", False),
        ("*.cilium.io", "sub.sub.cilium.io", False),
        ("part*ial.com", "partial.com", True),
        ("part*ial.com", "part-extra-ial.com", True),
        ("**.cilium.io", "app.cilium.io", True),
        ("**.cilium.io", "test.app.cilium.io", True),
        ("**.cilium.io", "cilium.io", False),
        ("*", "anything.example", True),
        ("api.stripe.com", "API.Stripe.com.", True),
    ],
)
def test_match_patterns_as_documented(pattern: str, name: str, expected: bool) -> None:
    assert NamePattern(pattern, True).matches(name) is expected


def test_match_name_is_exact() -> None:
    assert NamePattern("api.stripe.com", False).matches("api.stripe.com")
    assert not NamePattern("*.stripe.com", False).matches("api.stripe.com")


PARTIES: dict[str, Party] = {
    "local pod": Pod("a", "y"),
    "remote pod": Pod("b", "y"),
    "world": Outside("100.64.0.1"),
    "host@a": Node("host", "a"),
    "host@b": Node("host", "b"),
    "remote-node@a": Node("remote-node", "a"),
    "remote-node@b": Node("remote-node", "b"),
    "kube-apiserver@a": Node("kube-apiserver", "a"),
    "kube-apiserver@b": Node("kube-apiserver", "b"),
}
COVERS = {
    "world": {"world"},
    "host": {"host@a"},
    "remote-node": {"host@b", "remote-node@a", "remote-node@b"},
    "kube-apiserver": {"kube-apiserver@a"},
    "cluster": {"local pod", "host@a", "host@b", "remote-node@a", "remote-node@b"}
    | {"kube-apiserver@a"},
    "all": set(PARTIES),
    "health": set(),
    "ingress": set(),
}


@pytest.mark.parametrize("entity", sorted(COVERS))
def test_entities_judged_in_the_pods_cluster(entity: str) -> None:
    ev = evaluator(
        {"egress": [{"toEntities": [entity]}], "enableDefaultDeny": {"egress": True}},
    )
    reached = {name for name, party in PARTIES.items() if ev.allowed(X, party, "TCP", 443)}
    assert reached == COVERS[entity]


def test_cidr_set_less_its_exceptions_never_a_pod() -> None:
    rule = {"toCIDRSet": [{"cidr": "198.51.100.0/24", "except": ["198.51.100.128/25"]}]}
    ev = evaluator({"egress": [rule]})
    assert ev.allowed(X, Outside("198.51.100.1"), "TCP", 1433)
    assert not ev.allowed(X, Outside("198.51.100.130"), "TCP", 1433)
    assert not ev.allowed(X, Outside("203.0.113.1"), "TCP", 1433)
    assert not ev.allowed(X, Node("host", "a"), "TCP", 1433)


def test_fqdns_without_a_dns_rule_never_match() -> None:
    rule = {"toFQDNs": [{"matchName": "api.stripe.com"}]}
    assert not evaluator({"egress": [rule]}).allowed(X, STRIPE, "TCP", 443)
    with_dns = evaluator({"egress": [rule, DNS_RULE]})
    assert with_dns.allowed(X, STRIPE, "TCP", 443)
    assert not with_dns.allowed(X, Outside("100.64.1.2", "api.other.com"), "TCP", 443)
    assert not with_dns.allowed(X, Outside(STRIPE.ip), "TCP", 443)  # never looked up


def test_the_dns_rule_must_name_this_clusters_kube_dns_and_allow_the_lookup() -> None:
    rule = {"toFQDNs": [{"matchPattern": "*.stripe.com"}]}
    elsewhere = {**DNS_RULE, "toEndpoints": [{"matchLabels": {"k8s-app": "kube-dns"}}]}
    assert not evaluator({"egress": [rule, elsewhere]}).allowed(X, STRIPE, "TCP", 443)
    narrow = {
        **DNS_RULE,
        "toPorts": [
            {
                "ports": [{"port": "53", "protocol": "UDP"}],
                "rules": {"dns": [{"matchName": "x.io"}]},
            }
        ],
    }
    assert not evaluator({"egress": [rule, narrow]}).allowed(X, STRIPE, "TCP", 443)
    deny_lookup = {"egressDeny": [{"toEntities": ["cluster"]}], "egress": [rule, DNS_RULE]}
    assert not evaluator(deny_lookup).allowed(X, STRIPE, "TCP", 443)
    assert evaluator(deny_lookup, dns_flow=False).allowed(X, STRIPE, "TCP", 443)


def test_an_l7_rule_restricts_only_its_own_peers() -> None:
    def allow(app: str, http: list[dict[str, str]] | None) -> dict[str, Any]:
        ports: dict[str, Any] = {"ports": [{"port": "80", "protocol": "TCP"}]}
        if http is not None:
            ports["rules"] = {"http": http}
        return {"fromEndpoints": [{"matchLabels": {"app": app}}], "toPorts": [ports]}

    dst = Pod("a", "x", (("app", "db"),))
    ev = evaluator(
        {"ingress": [allow("web", [{"method": "GET", "path": "/v1/.*"}]), allow("api", None)]}
    )
    assert ev.request(X, dst, "TCP", 80, "GET", "/v1/items")
    assert not ev.request(X, dst, "TCP", 80, "GET", "/v1")  # the whole path must match
    assert not ev.request(X, dst, "TCP", 80, "POST", "/v1/items")
    assert ev.request(X2, dst, "TCP", 80, "POST", "/v1/items")
    # an L3-only rule for the same peer lets every request through
    lifted = evaluator(
        {
            "ingress": [
                allow("web", [{"method": "GET"}]),
                {"fromEndpoints": [{"matchLabels": {"app": "web"}}]},
            ]
        }
    )
    assert lifted.request(X, dst, "TCP", 80, "POST", "/")


def test_the_local_host_reaches_local_pods_but_for_a_deny() -> None:
    default_deny = {"ingress": [{}], "enableDefaultDeny": {"ingress": True}}
    host = Node("host", "a")
    assert evaluator(default_deny).allowed(host, X, "TCP", 8080)
    assert not evaluator(default_deny, allow_localhost=False).allowed(host, X, "TCP", 8080)
    assert not evaluator(default_deny).allowed(Node("host", "b"), X, "TCP", 8080)
    denied = {**default_deny, "ingressDeny": [{"fromEntities": ["host"]}]}
    assert not evaluator(denied).allowed(host, X, "TCP", 8080)


@pytest.mark.parametrize(
    "spec",
    [
        {"egress": [{"toServices": [{"k8sService": {"serviceName": "s"}}]}]},
        {"egress": [{"toEntities": ["world"], "toCIDR": ["192.0.2.0/24"]}]},
        {"egressDeny": [{"toFQDNs": [{"matchName": "a.io"}]}]},
        {"egressDeny": [{"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{}]}}]}]},
        {
            "ingress": [
                {
                    "toPorts": [
                        {"ports": [{"port": "53"}], "rules": {"dns": [{"matchPattern": "*"}]}}
                    ]
                }
            ]
        },
        {
            "egress": [
                {"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{"headers": ["a"]}]}}]}
            ]
        },
        {"egress": [{"toEntities": ["wrold"]}]},
        {"egress": [{"toCIDRSet": [{"cidr": "192.0.2.0/24", "except": ["198.51.100.0/24"]}]}]},
    ],
)
def test_what_the_evaluator_does_not_model_raises(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        evaluator(spec)
