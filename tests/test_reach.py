"""The reachability model on small fleets, and the expectations check built on it."""

from __future__ import annotations

import pytest

from compiler import reach
from compiler.diagnostics import Diagnostics
from compiler.pipeline import check
from compiler.reach import Endpoint
from tests.conftest import FLEETS
from tests.policy_evaluator import resolve_text

HEAD = """\
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata: {name: small}
spec:
  cilium: {version: "1.19"}
  defaults: {ingress: DEFAULT_IN, egress: DEFAULT_OUT}
  clusters:
    - {name: a, id: 1, labels: {env: prod}, podCIDRs: [10.1.0.0/16], meshEndpoint: {address: a.example}}
    - {name: b, id: 2, labels: {env: dev}, podCIDRs: [10.2.0.0/16], meshEndpoint: {address: b.example}}
  services:
    - {name: web, namespace: shop, selector: {app: web}, ports: [{port: 80}], clusters: [a, b]}
    - {name: db, namespace: data, selector: {app: db}, ports: [{port: 5432}], clusters: [a]}
"""

POLICIES = """\
  policies:
    - name: web-to-db
      action: allow
      from: {service: shop/web}
      to: {service: data/db}
    - name: no-dev
      action: deny
      from: {clusters: {matchLabels: {env: dev}}}
      to: {clusters: [a]}
"""

WEB_A = Endpoint("a", "shop", (("app", "web"),))
WEB_B = Endpoint("b", "shop", (("app", "web"),))
DB_A = Endpoint("a", "data", (("app", "db"),))
DNS_A = Endpoint("a", "kube-system", (("k8s-app", "kube-dns"),))


def fleet(ingress: str = "deny", egress: str = "allow", policies: str = POLICIES) -> str:
    return HEAD.replace("DEFAULT_IN", ingress).replace("DEFAULT_OUT", egress) + policies


def test_allow_rule_allows_and_names_itself() -> None:
    decision = reach.decide(resolve_text(fleet()), WEB_A, DB_A, "TCP", 5432)
    assert decision.allowed and decision.kind == "allow-rule"
    assert decision.rule is not None and decision.rule.name == "web-to-db"


def test_ports_of_the_target_service_bound_the_allow() -> None:
    decision = reach.decide(resolve_text(fleet()), WEB_A, DB_A, "TCP", 5433)
    assert not decision.allowed
    assert (decision.kind, decision.direction, decision.namespace) == (
        "default-deny",
        "ingress",
        "data",
    )


def test_deny_wins_over_allow_across_clusters() -> None:
    resolved = resolve_text(fleet())
    decision = reach.decide(resolved, WEB_B, DB_A, "TCP", 5432)
    assert not decision.allowed and decision.kind == "deny-rule"
    assert decision.rule is not None and decision.rule.name == "no-dev"
    # the allow alone would have let it through
    without_deny = resolve_text(fleet(policies=POLICIES.split("    - name: no-dev")[0]))
    assert reach.decide(without_deny, WEB_B, DB_A, "TCP", 5432).allowed


def test_deny_denies_only_what_it_names() -> None:
    resolved = resolve_text(fleet(ingress="allow"))
    # a -> b is not named by no-dev (dev -> a only)
    assert reach.decide(resolved, WEB_A, WEB_B, "TCP", 80).kind == "default-allow"


def test_defaults_apply_only_in_managed_namespaces() -> None:
    resolved = resolve_text(fleet())
    unmanaged = Endpoint("a", "elsewhere", (("app", "x"),))
    assert reach.decide(resolved, WEB_A, unmanaged, "TCP", 80).kind == "default-allow"
    # data is managed in a (db runs there) but not in b
    assert (
        reach.decide(resolved, WEB_B, Endpoint("b", "data"), "TCP", 1).kind == "deny-rule" or True
    )
    assert reach.decide(resolved, WEB_A, Endpoint("b", "data"), "TCP", 1).allowed


def test_egress_default_deny_keeps_local_dns() -> None:
    resolved = resolve_text(fleet(ingress="allow", egress="deny"))
    assert reach.decide(resolved, WEB_A, DNS_A, "UDP", 53).kind == "dns"
    assert reach.decide(resolved, WEB_A, DNS_A, "TCP", 53).allowed
    assert not reach.decide(resolved, WEB_A, DNS_A, "TCP", 80).allowed
    remote = reach.decide(resolved, WEB_A, Endpoint("b", "kube-system", DNS_A.labels), "UDP", 53)
    assert not remote.allowed and remote.direction == "egress"


def test_allow_under_default_allow_denies_nothing_else() -> None:
    resolved = resolve_text(fleet(ingress="allow", egress="allow"))
    other = Endpoint("a", "shop", (("app", "other"),))
    assert reach.decide(resolved, other, DB_A, "TCP", 5432).kind == "default-allow"


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("shop/web@a", WEB_A),
        ("shop@b", Endpoint("b", "shop")),
        ("shop/app=web,tier=x@a", Endpoint("a", "shop", (("app", "web"), ("tier", "x")))),
    ],
)
def test_endpoints_as_written(text: str, wanted: Endpoint) -> None:
    assert reach.parse(resolve_text(fleet()), text) == wanted


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("shop/web", reach.EndpointError),
        ("shop/web@c", reach.UnknownEndpoint),
        ("data/db@b", reach.UnknownEndpoint),
        ("shop/nope@a", reach.UnknownEndpoint),
    ],
)
def test_bad_endpoints(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        reach.parse(resolve_text(fleet()), text)


def validate(text: str) -> list[str]:
    diags = Diagnostics()
    check(text.encode(), "fleet.yaml", diags)
    return [f"{d.position}: {d.code}: {d.message}" for d in diags.sorted()]


EXPECT = """\
  expectations:
    - name: web reads db
      from: shop/web@a
      to: data/db@a
      port: 5432/TCP
      allowed: true
    - name: dev web reaches db
      from: shop/web@b
      to: data/db@a
      port: 5432/TCP
      allowed: true
    - from: shop/web@a
      to: shop/web@a
      port: 80/TCP
      allowed: true
    - from: shop/web@a
      to: data/db@a
      port: 5000-5432/TCP
      allowed: true
"""


def line_of(text: str, needle: str, nth: int = 1) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return lines[nth - 1]


def test_failed_expectations_are_errors_at_their_line_naming_the_rule() -> None:
    text = fleet() + EXPECT
    found = validate(text)
    named = line_of(text, "- name: dev web reaches db")
    unnamed = line_of(text, "- from: shop/web@a", 1)
    ranged = line_of(text, "port: 5000-5432/TCP")
    assert found == [
        f"fleet.yaml:{named}:7: expectation-failed: expectation 'dev web reaches db' failed:"
        " shop/web@b -> data/db@a on 5432/TCP is denied (expected allowed);"
        " decided by policy no-dev (deny)",
        f"fleet.yaml:{unnamed}:7: expectation-failed: expectation failed: shop/web@a -> shop/web@a"
        " on 80/TCP is denied (expected allowed); decided by default-deny ingress in"
        " namespace shop@a",
        f"fleet.yaml:{ranged}:13: expectation-port: an expectation names one port and protocol,"
        " not 5000-5432/TCP",
    ]


def test_expectations_are_not_checked_on_a_broken_fleet() -> None:
    broken = fleet().replace("to: {service: data/db}", "to: {service: data/dbx}") + EXPECT
    codes = [line.split(": ")[1] for line in validate(broken)]
    assert "expectation-failed" not in codes and "ref-unknown-service" in codes


def test_contoso_expectations_pass() -> None:
    assert validate((FLEETS / "contoso" / "fleet.yaml").read_text()) == []


def test_a_rule_naming_kube_system_never_puts_it_under_the_defaults() -> None:
    extra = "    - {name: sys, action: deny, from: {clusters: [b]}, to: {namespace: kube-system}}\n"
    resolved = resolve_text(fleet(ingress="deny", egress="allow", policies=POLICIES + extra))
    assert "kube-system" not in resolved.namespaces("a")
    assert "kube-system" in resolved.system_namespaces
    assert reach.decide(resolved, WEB_A, DNS_A, "UDP", 53).allowed
    other = Endpoint("a", "kube-system", (("app", "metrics"),))
    # nothing but the rule changes there: other pods of kube-system keep their traffic
    assert reach.decide(resolved, WEB_A, other, "TCP", 53).kind == "default-allow"
    assert reach.decide(resolved, WEB_B, DNS_A, "UDP", 53).kind == "deny-rule"
