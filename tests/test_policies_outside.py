"""Rendering peers outside the fleet: entities, CIDR sets, DNS names (with the DNS proxy rule
each needs) and L7 HTTP rules; every object against the upstream CRD and Cilium's rules."""

from __future__ import annotations

from typing import Any

from compiler.render.policies import render_policies
from tests.policy_evaluator import resolve_text
from tests.test_policies import assert_valid

FLEET = """\
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata: {name: outside}
spec:
  cilium: {version: "1.19"}
  defaults: {ingress: deny, egress: deny}
  clusters:
    - {name: a, id: 1, podCIDRs: [10.1.0.0/16], meshEndpoint: {address: a.example}}
    - {name: b, id: 2, podCIDRs: [10.2.0.0/16], meshEndpoint: {address: b.example}}
  services:
    - {name: web, namespace: shop, selector: {app: web}, ports: [{port: 8080}], clusters: [a, b]}
    - {name: pay, namespace: pay, selector: {app: pay}, ports: [{port: 443}], clusters: [a, b]}
  policies:
    - name: stripe
      action: allow
      from: {service: pay/pay}
      to: {fqdns: [api.stripe.com, "*.stripe.com"], ports: [443/TCP]}
    - name: internet
      action: allow
      from: {entities: [world]}
      to: {service: shop/web}
    - name: sql
      action: allow
      from: {namespace: pay}
      to: {cidrs: [10.50.0.0/16, "2001:db8::/32"], except: [10.50.9.0/24], ports: [1433/TCP]}
    - name: read-only
      action: allow
      from: {service: shop/web}
      to: {service: pay/pay, http: [{method: GET, path: "/v1/.*"}, {path: /healthz}]}
    - name: no-hosts
      action: deny
      from: {entities: [host, remote-node]}
      to: {namespace: pay, ports: [9090/TCP]}
    - name: no-tor
      action: deny
      from: {clusters: [b]}
      to: {cidrs: [198.51.100.0/24]}
"""


def files() -> dict[str, dict[str, Any]]:
    out = {}
    for f in render_policies(resolve_text(FLEET)):
        assert isinstance(f.content, dict)
        out[f.path] = f.content
    return out


def spec_of(rendered: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    spec: dict[str, Any] = rendered[path]["spec"]
    return spec


def test_every_object_passes_the_crd_and_ciliums_rules() -> None:
    for obj in files().values():
        assert_valid(obj)
        assert obj["spec"]["enableDefaultDeny"] == {"egress": False, "ingress": False} or (
            obj["metadata"]["name"] == "fleetc-defaults"
        )


def test_only_the_fleet_side_half_is_rendered() -> None:
    names = {p.rsplit("/", 1)[1] for p in files()}
    assert "ciliumnetworkpolicy-shop-fleetc-internet-ingress.yaml" in names
    assert not any("internet-egress" in n for n in names)
    assert "ciliumnetworkpolicy-pay-fleetc-stripe-egress.yaml" in names
    assert not any("stripe-ingress" in n for n in names)


def test_fqdn_egress_carries_the_dns_proxy_rule_of_its_own_cluster() -> None:
    rendered = files()
    for cluster in ("a", "b"):
        spec = spec_of(
            rendered,
            f"clusters/{cluster}/policies/ciliumnetworkpolicy-pay-fleetc-stripe-egress.yaml",
        )
        fqdn, dns = spec["egress"]
        assert fqdn["toFQDNs"] == [
            {"matchPattern": "*.stripe.com"},
            {"matchName": "api.stripe.com"},
        ]
        assert fqdn["toPorts"] == [{"ports": [{"port": "443", "protocol": "TCP"}]}]
        (kube_dns,) = dns["toEndpoints"]
        assert kube_dns["matchLabels"] == {
            "k8s:io.kubernetes.pod.namespace": "kube-system",
            "k8s-app": "kube-dns",
            "io.cilium.k8s.policy.cluster": cluster,
        }
        (ports,) = dns["toPorts"]
        assert ports["rules"] == {"dns": [{"matchPattern": "*"}]}
        assert {(p["port"], p["protocol"]) for p in ports["ports"]} == {
            ("53", "UDP"),
            ("53", "TCP"),
        }


def test_cidr_sets_carry_each_exception_under_its_own_cidr() -> None:
    spec = spec_of(files(), "clusters/a/policies/ciliumnetworkpolicy-pay-fleetc-sql-egress.yaml")
    (rule,) = spec["egress"]
    assert rule["toCIDRSet"] == [
        {"cidr": "10.50.0.0/16", "except": ["10.50.9.0/24"]},
        {"cidr": "2001:db8::/32"},
    ]


def test_denies_use_the_deny_lists_and_never_l7() -> None:
    rendered = files()
    hosts = spec_of(
        rendered, "clusters/a/policies/ciliumnetworkpolicy-pay-fleetc-no-hosts-ingress.yaml"
    )
    assert hosts["ingressDeny"] == [
        {
            "fromEntities": ["host", "remote-node"],
            "toPorts": [{"ports": [{"port": "9090", "protocol": "TCP"}]}],
        }
    ]
    tor = spec_of(
        rendered, "clusters/b/policies/ciliumclusterwidenetworkpolicy-fleetc-no-tor-egress.yaml"
    )
    assert tor["egressDeny"] == [{"toCIDRSet": [{"cidr": "198.51.100.0/24"}]}]
    assert (
        "clusters/a/policies/ciliumclusterwidenetworkpolicy-fleetc-no-tor-egress.yaml"
        not in rendered
    )


def test_http_rules_ride_on_the_ports_of_both_halves() -> None:
    rendered = files()
    for path in (
        "clusters/a/policies/ciliumnetworkpolicy-shop-fleetc-read-only-egress.yaml",
        "clusters/b/policies/ciliumnetworkpolicy-pay-fleetc-read-only-ingress.yaml",
    ):
        spec = spec_of(rendered, path)
        (rule,) = spec.get("egress") or spec["ingress"]
        assert rule["toPorts"] == [
            {
                "ports": [{"port": "443", "protocol": "TCP"}],
                "rules": {"http": [{"method": "GET", "path": "/v1/.*"}, {"path": "/healthz"}]},
            }
        ]
