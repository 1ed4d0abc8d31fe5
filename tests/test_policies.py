"""Rendered policies: upstream CRD schemas, Cilium's rules, the contoso example's meaning."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler import reach
from compiler.model import PortRange
from compiler.render.cilium_rules import CiliumRuleError, check_policy
from compiler.render.policies import CLUSTER_LABEL, render_policies
from compiler.resolve.model import WorkloadSet
from compiler.validate.endpoints import Endpoint, parse_endpoint
from tests.conftest import FLEETS, require_upstream
from tests.policy_evaluator import Evaluator, Pod, by_cluster, resolve_text

CRDS = {
    "CiliumNetworkPolicy": "ciliumnetworkpolicies.yaml",
    "CiliumClusterwideNetworkPolicy": "ciliumclusterwidenetworkpolicies.yaml",
}


@cache
def crd_validator(kind: str) -> Any:
    import jsonschema
    from ruamel.yaml import YAML

    path = require_upstream() / "cilium" / "crds" / "v2" / CRDS[kind]
    crd = YAML(typ="safe").load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v2"]
    schema = _closed(version["schema"]["openAPIV3Schema"])
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def _closed(schema: Any) -> Any:
    """The schema with unknown fields forbidden wherever the API server would prune them:
    a field the CRD does not know is silently dropped, which could change a policy's meaning
    (a pruned ``endPort`` denies one port instead of a range)."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    # oneOf/anyOf branches only add constraints to the node they sit on: leave them open
    out = {
        k: v if k in ("oneOf", "anyOf", "allOf", "not") else _closed(v) for k, v in schema.items()
    }
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def assert_valid(obj: dict[str, Any]) -> None:
    """Upstream CRD schema, plus what the API server checks outside it, plus Cilium's rules."""
    errors = sorted(crd_validator(obj["kind"]).iter_errors(obj), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert obj["apiVersion"] == "cilium.io/v2"
    assert len(obj["metadata"]["name"]) <= 253
    check_policy(obj)


def contoso() -> Any:
    return resolve_text((FLEETS / "contoso" / "fleet.yaml").read_text())


def pods_only(resolved: Any) -> Any:
    """`resolved` less the policies tests/policy_evaluator.py cannot read yet (entities, CIDR
    sets, FQDNs and L7: issue 12, part 7); flows between pods without L7 rules keep their
    meaning, so the evaluator and the reachability model must still agree on them."""
    kept = tuple(
        p
        for p in resolved.policies
        if isinstance(p.source, WorkloadSet)
        and isinstance(p.destination, WorkloadSet)
        and p.http is None
    )
    return dataclasses.replace(resolved, policies=kept)


def peer_selectors(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]
    return [
        selector
        for field in ("ingress", "ingressDeny", "egress", "egressDeny")
        for rule in spec.get(field, [])
        for selector in rule.get("fromEndpoints", []) + rule.get("toEndpoints", [])
    ]


def test_unknown_fields_fail_the_closed_schema() -> None:
    (f, *_) = render_policies(contoso())
    assert isinstance(f.content, dict)
    bad = json.loads(json.dumps(f.content))
    bad["spec"]["enableDefaultDenyy"] = {}
    assert list(crd_validator(bad["kind"]).iter_errors(bad))


def test_contoso_policies_pass_the_upstream_crd_schemas() -> None:
    files = render_policies(contoso())
    assert len(files) > 10
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)


def test_every_peer_names_its_cluster_and_every_object_its_source() -> None:
    for f in render_policies(contoso()):
        assert isinstance(f.content, dict)
        source = f.content["metadata"]["annotations"]["fleetc.dev/source"]
        assert source.startswith("fleet.yaml")
        for selector in peer_selectors(f.content):
            keys = set(selector.get("matchLabels", {})) | {
                e["key"] for e in selector.get("matchExpressions", [])
            }
            assert CLUSTER_LABEL in keys, (f.path, selector)


def test_source_annotation_names_the_policy_and_no_line() -> None:
    text = (FLEETS / "contoso" / "fleet.yaml").read_text().splitlines()
    for f in render_policies(contoso()):
        assert isinstance(f.content, dict)
        source = f.content["metadata"]["annotations"]["fleetc.dev/source"]
        if " policy " in source:
            assert ":" not in source  # a line number would change on any edit above it
            assert f"- name: {source.rsplit(' ', 1)[1]}" in [line.strip() for line in text]


def test_cross_cluster_flow_has_egress_at_source_and_ingress_at_destination() -> None:
    paths = {f.path for f in render_policies(contoso())}
    assert (
        "clusters/us-api/policies/ciliumnetworkpolicy-api-fleetc-api-calls-payments-egress.yaml"
        in paths
    )
    for cluster in ("eu-payments", "eu-standby"):
        name = "ciliumnetworkpolicy-payments-fleetc-api-calls-payments-ingress.yaml"
        assert f"clusters/{cluster}/policies/{name}" in paths
    # a policy's half never lands in a cluster where its side does not run
    assert not any("api-calls-payments" in p for p in paths if p.startswith("clusters/dev/"))


def test_multi_cluster_peers_use_one_in_expression() -> None:
    files = {f.path: f.content for f in render_policies(contoso())}
    obj = files[
        "clusters/us-api/policies/ciliumclusterwidenetworkpolicy-fleetc-no-dev-to-prod-ingress.yaml"
    ]
    assert isinstance(obj, dict)
    (selector,) = peer_selectors(obj)
    # one source cluster: a plain label; clusterwide, so no namespace word is needed
    assert selector == {"matchLabels": {CLUSTER_LABEL: "dev"}}
    egress = files[
        "clusters/dev/policies/ciliumclusterwidenetworkpolicy-fleetc-no-dev-to-prod-egress.yaml"
    ]
    assert isinstance(egress, dict)
    (selector,) = peer_selectors(egress)
    assert {
        "key": CLUSTER_LABEL,
        "operator": "In",
        "values": ["eu-payments", "eu-standby", "us-api"],
    } in selector["matchExpressions"]


def test_rendering_is_deterministic_and_independent_of_input_order() -> None:
    text = (FLEETS / "contoso" / "fleet.yaml").read_text()
    first = json.dumps([(f.path, f.content) for f in render_policies(resolve_text(text))])
    again = json.dumps([(f.path, f.content) for f in render_policies(resolve_text(text))])
    assert first == again


def contoso_expectations(pods: bool = False) -> list[tuple[str, str, str, bool]]:
    """(from, to, port, allowed) of contoso's expectations; with `pods`, only those between
    two pods and without an HTTP request (what `pods_only` keeps the meaning of)."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((FLEETS / "contoso" / "fleet.yaml").read_text())
    return [
        (e["from"], e["to"], e["port"], e["allowed"])
        for e in data["spec"]["expectations"]
        if not pods
        or (
            "http" not in e
            and isinstance(parse_endpoint(e["from"]), Endpoint)
            and isinstance(parse_endpoint(e["to"]), Endpoint)
        )
    ]


@pytest.mark.parametrize("default_local_cluster", [True, False], ids=["cilium-1.19", "cilium-1.18"])
@pytest.mark.parametrize(("src", "dst", "port", "allowed"), contoso_expectations(pods=True))
def test_rendered_contoso_enforces_its_expectations(
    src: str, dst: str, port: str, allowed: bool, default_local_cluster: bool
) -> None:
    resolved = pods_only(contoso())
    evaluator = Evaluator(by_cluster(render_policies(resolved)), default_local_cluster)
    a, b = reach.parse(resolved, src), reach.parse(resolved, dst)
    wanted = PortRange.parse(port)
    pods = Pod(a.cluster, a.namespace, a.labels), Pod(b.cluster, b.namespace, b.labels)
    assert evaluator.allowed(*pods, wanted.protocol, wanted.low) is allowed
    assert reach.decide(resolved, a, b, wanted.protocol, wanted.low).allowed is allowed


def test_contoso_expectations_cover_every_kind_of_decision() -> None:
    resolved = contoso()
    kinds = set()
    crossing = set()
    for src, dst, port, _ in contoso_expectations():
        a, b = reach.parse(resolved, src), reach.parse(resolved, dst)
        wanted = PortRange.parse(port)
        decision = reach.decide(resolved, a, b, wanted.protocol, wanted.low)
        kinds.add(decision.kind)
        if decision.kind == "deny-rule":  # "deny wins" is shown only where an allow also names it
            assert any(
                p.action == "allow" and reach.names_flow(p, a, b, wanted.protocol, wanted.low)
                for p in resolved.policies
            )
        if isinstance(a, reach.Endpoint) and isinstance(b, reach.Endpoint):
            crossing.add((decision.allowed, a.cluster != b.cluster))
    assert {"allow-rule", "deny-rule", "default-deny"} <= kinds
    assert crossing == {(True, True), (True, False), (False, True), (False, False)}


def test_dns_stays_open_under_default_deny_egress(tmp_path: Path) -> None:
    text = (FLEETS / "contoso" / "fleet.yaml").read_text()
    resolved = pods_only(resolve_text(text))
    assert resolved.default_egress == "deny"
    evaluator = Evaluator(by_cluster(render_policies(resolved)))
    gateway = Pod("us-api", "api", (("app", "gateway"),))
    dns = Pod("us-api", "kube-system", (("k8s-app", "kube-dns"),))
    remote_dns = Pod("eu-payments", "kube-system", (("k8s-app", "kube-dns"),))
    for protocol in ("UDP", "TCP"):
        assert evaluator.allowed(gateway, dns, protocol, 53)
    assert not evaluator.allowed(gateway, dns, "TCP", 80)
    assert not evaluator.allowed(gateway, remote_dns, "UDP", 53)
    other = Pod("us-api", "web", (("app", "web"),))
    assert not evaluator.allowed(gateway, other, "TCP", 80)


BAD: list[tuple[str, dict[str, Any]]] = [
    ("empty rule list", {"ingress": []}),
    (
        "two peer kinds",
        {
            "egress": [
                {"toEndpoints": [{"matchLabels": {CLUSTER_LABEL: "a"}}], "toCIDR": ["10.0.0.0/8"]}
            ]
        },
    ),
    (
        "icmp with ports",
        {
            "egress": [
                {
                    "toCIDR": ["10.0.0.0/8"],
                    "icmps": [{"fields": [{"type": 8}]}],
                    "toPorts": [{"ports": [{"port": "80"}]}],
                }
            ]
        },
    ),
    (
        "L7 on deny",
        {
            "egressDeny": [
                {
                    "toCIDR": ["10.0.0.0/8"],
                    "toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{}]}}],
                }
            ]
        },
    ),
    (
        "L7 on port 0",
        {
            "egress": [
                {
                    "toCIDR": ["10.0.0.0/8"],
                    "toPorts": [{"ports": [{"port": "0"}], "rules": {"http": [{}]}}],
                }
            ]
        },
    ),
    (
        "DNS on ingress",
        {
            "ingress": [
                {
                    "fromCIDR": ["10.0.0.0/8"],
                    "toPorts": [
                        {"ports": [{"port": "53"}], "rules": {"dns": [{"matchPattern": "*"}]}}
                    ],
                }
            ]
        },
    ),
    (
        "DNS off port 53",
        {
            "egress": [
                {
                    "toCIDR": ["10.0.0.0/8"],
                    "toPorts": [
                        {"ports": [{"port": "54"}], "rules": {"dns": [{"matchPattern": "*"}]}}
                    ],
                }
            ]
        },
    ),
    (
        "41 ports",
        {
            "egress": [
                {
                    "toCIDR": ["10.0.0.0/8"],
                    "toPorts": [{"ports": [{"port": str(p)} for p in range(1, 42)]}],
                }
            ]
        },
    ),
    ("peer without cluster", {"egress": [{"toEndpoints": [{"matchLabels": {"app": "x"}}]}]}),
    ("empty rule without default deny", {"ingress": [{}]}),
    (
        "duplicate rules",
        {"egress": [{"toCIDR": ["10.0.0.0/8"]}, {"toCIDR": ["10.0.0.0/8"]}]},
    ),
    ("no rules", {}),
]


@pytest.mark.parametrize(("what", "rules"), BAD, ids=[b[0] for b in BAD])
def test_cilium_rule_violations_are_compiler_bugs(what: str, rules: dict[str, Any]) -> None:
    obj = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"endpointSelector": {}, **rules},
    }
    with pytest.raises(CiliumRuleError):
        check_policy(obj)


def test_many_ports_are_split_into_rules_of_forty() -> None:
    ports = ", ".join(f"{p}/TCP" for p in range(1000, 1085))
    text = f"""
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata: {{name: ports}}
spec:
  cilium: {{version: "1.19"}}
  clusters:
    - {{name: a, id: 1, podCIDRs: [10.1.0.0/16], meshEndpoint: {{address: a.example}}}}
  policies:
    - name: wide
      action: allow
      from: {{namespace: x}}
      to: {{namespace: y, ports: [{ports}]}}
"""
    files = render_policies(resolve_text(text))
    assert files
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)
        rule = (f.content["spec"].get("egress") or f.content["spec"]["ingress"])[0]
        assert [len(r["ports"]) for r in rule["toPorts"]] == [40, 40, 5]


def test_a_rule_naming_kube_system_leaves_the_rest_of_it_alone() -> None:
    # egress allowed, so that only kube-system's side of each flow is in question (and
    # without the expectations, which say what egress deny means)
    text = (FLEETS / "contoso" / "fleet.yaml").read_text().split("  expectations:")[0]
    text = text.replace("egress: deny", "egress: allow")
    assert "egress: allow" in text
    text = text.replace(
        "  guardrails:",
        "    - name: no-dev-to-system\n"
        "      action: deny\n"
        "      from: {clusters: [dev]}\n"
        "      to: {namespace: kube-system, selector: {app: metrics}}\n"
        "  guardrails:",
    )
    resolved = pods_only(resolve_text(text))
    assert "kube-system" not in resolved.namespaces("us-api")
    files = render_policies(resolved)
    in_kube_system = [f for f in files if "kube-system" in f.path]
    # the rule is rendered; no default reaches kube-system
    assert in_kube_system and all("no-dev-to-system" in f.path for f in in_kube_system)
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)
    evaluator = Evaluator(by_cluster(files))
    dns = Pod("us-api", "kube-system", (("k8s-app", "kube-dns"),))
    metrics = Pod("us-api", "kube-system", (("app", "metrics"),))
    for src in (Pod("us-api", "api", (("app", "gateway"),)), Pod("us-api", "web")):
        assert evaluator.allowed(src, dns, "UDP", 53)
        assert evaluator.allowed(src, dns, "TCP", 8080)
        assert evaluator.allowed(src, metrics, "TCP", 9100)
    assert evaluator.allowed(Pod("eu-payments", "web"), dns, "UDP", 53)
    assert not evaluator.allowed(Pod("dev", "web"), metrics, "TCP", 9100)


def test_a_side_in_every_cluster_says_exists() -> None:
    text = """
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata: {name: all}
spec:
  cilium: {version: "1.19"}
  clusters:
    - {name: a, id: 1, podCIDRs: [10.1.0.0/16], meshEndpoint: {address: a.example}}
    - {name: b, id: 2, podCIDRs: [10.2.0.0/16], meshEndpoint: {address: b.example}}
  policies:
    - name: x-to-y
      action: allow
      from: {namespace: x}
      to: {namespace: y, selector: {app: db}, ports: [5432/TCP]}
"""
    files = render_policies(resolve_text(text))
    assert [f.path for f in files] == [
        f"clusters/{c}/policies/ciliumnetworkpolicy-{ns}-fleetc-x-to-y-{d}.yaml"
        for c in ("a", "b")
        for ns, d in (("x", "egress"), ("y", "ingress"))
    ]
    for f in files:
        assert isinstance(f.content, dict)
        assert_valid(f.content)
        (selector,) = peer_selectors(f.content)
        assert {"key": CLUSTER_LABEL, "operator": "Exists"} in selector["matchExpressions"]
