"""Cilium values per cluster: the shape of each cluster's Cilium minor, checked against that
minor's own chart (values.schema.json closed, every key present in values.yaml), and the
switches for what the fleet relies on (IPv6, native routing per family, SCTP, L7/DNS proxy).

Chart data: 1.18.8's chart for minors before 1.19, 1.19.2's from 1.19 (the stored ones)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.render import clustermesh
from compiler.render.cilium_values import policy_default_local_cluster
from compiler.resolve.model import ResolvedFleet
from tests.render_support import (
    cilium_chart_values,
    cilium_values_schema,
    compile_data,
    fleet_data,
    missing_chart_keys,
    schema_errors,
)

V4 = {"a": "10.1.0.0/16", "b": "10.2.0.0/16", "c": "10.3.0.0/16"}
V6 = {"a": "fd00:10:1::/48", "b": "fd00:10:2::/48", "c": "fd00:10:3::/48"}


def _fleet(versions: dict[str, str | None], families: dict[str, str] | None = None) -> Any:
    """A three-cluster fleet on Cilium 1.19; `versions` sets ciliumVersion per cluster,
    `families` the pod ranges ("4", "6" or "46")."""
    families = families or {}
    clusters = []
    for i, name in enumerate(("a", "b", "c"), start=1):
        family = families.get(name, "4")
        cluster: dict[str, Any] = {
            "name": name,
            "id": i,
            "podCIDRs": [r[name] for f, r in (("4", V4), ("6", V6)) if f in family],
            "meshEndpoint": {"address": f"mesh.{name}.example.internal"}
            if i != 2
            else {"ips": ["192.0.2.10"]},
        }
        if versions.get(name):
            cluster["ciliumVersion"] = versions[name]
        clusters.append(cluster)
    return {
        "apiVersion": "fleetc.dev/v1alpha1",
        "kind": "Fleet",
        "metadata": {"name": "t"},
        "spec": {"cilium": {"version": "1.19"}, "clusters": clusters},
    }


def _values(resolved: ResolvedFleet) -> dict[str, dict[str, Any]]:
    return {c.name: clustermesh.values(resolved, c) for c in resolved.clusters}


def _chart_problems(resolved: ResolvedFleet) -> list[str]:
    problems = []
    for cluster in resolved.clusters:
        values = clustermesh.values(resolved, cluster)
        version = cluster.cilium_version
        problems += [
            f"{cluster.name}: {e}" for e in schema_errors(cilium_values_schema(version), values)
        ]
        problems += [
            f"{cluster.name}: no {key} in the {version} chart"
            for key in missing_chart_keys(values, cilium_chart_values(version))
        ]
    return problems


def test_list_form_before_1_19_dict_form_from_1_19() -> None:
    values = _values(compile_data(_fleet({"a": "1.18", "b": "1.17", "c": "1.20"})).resolved)
    assert values["a"]["clustermesh"]["config"]["clusters"] == [
        {"name": "b", "ips": ["192.0.2.10"], "port": 2379},
        {"name": "c", "address": "mesh.c.example.internal", "port": 2379},
    ]
    assert isinstance(values["b"]["clustermesh"]["config"]["clusters"], list)
    assert values["c"]["clustermesh"]["config"]["clusters"] == {
        "a": {"address": "mesh.a.example.internal", "port": 2379},
        "b": {"ips": ["192.0.2.10"], "port": 2379},
    }
    assert values["a"]["clustermesh"]["enableMCSAPISupport"] is True
    assert "mcsapi" not in values["a"]["clustermesh"]
    assert values["c"]["clustermesh"]["mcsapi"] == {"enabled": True}
    assert "enableMCSAPISupport" not in values["c"]["clustermesh"]


def test_policy_default_local_cluster_keeps_each_versions_default() -> None:
    fleet = _fleet({"a": "1.18", "b": "1.17", "c": "1.19"})
    values = _values(compile_data(fleet).resolved)
    assert values["a"]["clustermesh"]["policyDefaultLocalCluster"] is False
    assert "policyDefaultLocalCluster" not in values["b"]["clustermesh"]  # no such option
    assert values["c"]["clustermesh"]["policyDefaultLocalCluster"] is True
    for setting in (True, False):
        chosen = copy.deepcopy(fleet)
        chosen["spec"]["cilium"]["policyDefaultLocalCluster"] = setting
        resolved = compile_data(chosen).resolved
        values = _values(resolved)
        assert values["a"]["clustermesh"]["policyDefaultLocalCluster"] is setting
        assert values["c"]["clustermesh"]["policyDefaultLocalCluster"] is setting
        assert "policyDefaultLocalCluster" not in values["b"]["clustermesh"]
        assert policy_default_local_cluster(resolved, resolved.cluster("b")) is False


def test_mcs_api_keys_only_where_the_chart_has_them() -> None:
    values = _values(compile_data(_fleet({"a": "1.16"})).resolved)
    assert "enableMCSAPISupport" not in values["a"]["clustermesh"]
    assert "mcsapi" not in values["a"]["clustermesh"]


def test_ip_families() -> None:
    fleet = _fleet({}, {"a": "46", "b": "6", "c": "4"})
    values = _values(compile_data(fleet).resolved)
    assert values["a"]["ipv6"] == {"enabled": True} and "ipv4" not in values["a"]
    assert values["b"]["ipv6"] == {"enabled": True} and values["b"]["ipv4"] == {"enabled": False}
    assert "ipv6" not in values["c"] and "ipv4" not in values["c"]


def test_native_routing_per_family() -> None:
    fleet = _fleet({}, {"a": "46", "b": "6", "c": "4"})
    fleet["spec"]["cilium"] |= {
        "routingMode": "native",
        "nativeRoutingCIDR": "10.0.0.0/8",
        "ipv6NativeRoutingCIDR": "fd00:10::/32",
    }
    values = _values(compile_data(fleet).resolved)
    assert values["a"]["ipv4NativeRoutingCIDR"] == "10.0.0.0/8"
    assert values["a"]["ipv6NativeRoutingCIDR"] == "fd00:10::/32"
    assert "ipv4NativeRoutingCIDR" not in values["b"]
    assert values["b"]["ipv6NativeRoutingCIDR"] == "fd00:10::/32"
    assert "ipv6NativeRoutingCIDR" not in values["c"]
    # an IPv6-only fleet may give its one range as nativeRoutingCIDR
    only6 = _fleet({}, {"a": "6", "b": "6", "c": "6"})
    only6["spec"]["cilium"] |= {"routingMode": "native", "nativeRoutingCIDR": "fd00:10::/32"}
    values = _values(compile_data(only6).resolved)
    assert values["a"]["ipv6NativeRoutingCIDR"] == "fd00:10::/32"
    assert "ipv4NativeRoutingCIDR" not in values["a"]


def _policies(fleet: dict[str, Any], *policies: dict[str, Any]) -> dict[str, Any]:
    fleet["spec"]["services"] = [
        {"name": "web", "namespace": "shop", "selector": {"app": "web"}, "clusters": ["b"],
         "ports": [{"port": 443}]},
    ]  # fmt: skip
    fleet["spec"]["policies"] = list(policies)
    return fleet


def test_sctp_where_a_policy_concerning_the_cluster_names_it() -> None:
    fleet = _policies(
        _fleet({}),
        {"name": "sig", "action": "allow", "from": {"clusters": ["a"], "namespace": "x"},
         "to": {"clusters": ["b"], "namespace": "y", "ports": ["3868/SCTP"]}},
    )  # fmt: skip
    values = _values(compile_data(fleet).resolved)
    assert values["a"]["sctp"] == {"enabled": True}
    assert values["b"]["sctp"] == {"enabled": True}
    assert "sctp" not in values["c"]


def test_sctp_for_an_exported_sctp_service_everywhere() -> None:
    fleet = _policies(_fleet({}))
    fleet["spec"]["services"][0]["ports"] = [{"port": 3868, "protocol": "SCTP"}]
    values = _values(compile_data(fleet).resolved)
    assert all(v["sctp"] == {"enabled": True} for v in values.values())
    fleet["spec"]["services"][0]["export"] = False
    values = _values(compile_data(fleet).resolved)
    assert "sctp" in values["b"] and "sctp" not in values["a"]


def test_l7_proxy_where_http_or_fqdns_rules_are() -> None:
    fleet = _policies(
        _fleet({}),
        {"name": "read", "action": "allow", "from": {"clusters": ["a"], "namespace": "x"},
         "to": {"service": "shop/web", "http": [{"method": "GET"}]}},
    )  # fmt: skip
    values = _values(compile_data(fleet).resolved)
    assert values["a"]["l7Proxy"] is True and values["b"]["l7Proxy"] is True
    assert "l7Proxy" not in values["c"]
    fleet = _policies(
        _fleet({}),
        {"name": "out", "action": "allow", "from": {"clusters": ["c"], "namespace": "x"},
         "to": {"fqdns": ["api.example.com"]}},
        {"name": "deny", "action": "deny", "from": {"clusters": ["a"], "namespace": "x"},
         "to": {"clusters": ["b"]}},
    )  # fmt: skip
    values = _values(compile_data(fleet).resolved)
    assert values["c"]["l7Proxy"] is True
    assert "l7Proxy" not in values["a"] and "l7Proxy" not in values["b"]


def test_the_examples_and_every_switch_fit_each_versions_chart() -> None:
    fleet = _policies(
        _fleet({"a": "1.18", "b": "1.19", "c": "1.17"}, {"a": "46", "b": "6", "c": "4"}),
        {"name": "sig", "action": "allow", "from": {"clusters": ["a", "c"], "namespace": "x"},
         "to": {"service": "shop/web", "ports": ["3868/SCTP"]}},
        {"name": "web", "action": "allow", "from": {"clusters": ["a", "c"], "namespace": "x"},
         "to": {"service": "shop/web", "ports": ["443/TCP"], "http": [{"path": "/.*"}]}},
    )  # fmt: skip
    fleet["spec"]["cilium"] |= {
        "routingMode": "native",
        "nativeRoutingCIDR": "10.0.0.0/8",
        "ipv6NativeRoutingCIDR": "fd00:10::/32",
        "encryption": "ipsec",
    }
    fleet["spec"]["services"][0]["ports"].append({"port": 3868, "protocol": "SCTP"})
    resolved = compile_data(fleet).resolved
    values = _values(resolved)
    assert values["a"]["sctp"] == {"enabled": True} and values["a"]["l7Proxy"] is True
    assert _chart_problems(resolved) == []
    for example in ("contoso", "minimal"):
        assert _chart_problems(compile_data(fleet_data(example)).resolved) == []


def test_the_chart_checks_can_fail() -> None:
    values = _values(compile_data(_fleet({"a": "1.18"})).resolved)["a"]
    assert schema_errors(cilium_values_schema((1, 18)), values) == []
    values["clustermesh"]["mcsapi"] = {"enabled": True}  # 1.19's key, not 1.18's
    values["clustermesh"]["config"]["clusters"] = {"b": {"port": 1}}  # 1.19's form
    assert missing_chart_keys(values, cilium_chart_values((1, 18))) == ["clustermesh.mcsapi"]
    assert len(schema_errors(cilium_values_schema((1, 18)), values)) == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    versions=st.fixed_dictionaries(
        {n: st.sampled_from([None, "1.16", "1.17", "1.18", "1.19", "1.20"]) for n in "abc"}
    ),
    families=st.fixed_dictionaries({n: st.sampled_from(["4", "6", "46"]) for n in "abc"}),
    native=st.booleans(),
    setting=st.sampled_from([None, True, False]),
    discovery=st.sampled_from(["mcs-api", "annotations"]),
)
def test_any_mix_of_versions_and_families_fits_the_charts(
    versions: dict[str, str | None],
    families: dict[str, str],
    native: bool,
    setting: bool | None,
    discovery: str,
) -> None:
    fleet = _fleet(versions, families)
    fleet["spec"]["mesh"] = {"serviceDiscovery": discovery}
    if native:
        fleet["spec"]["cilium"] |= {
            "routingMode": "native",
            "nativeRoutingCIDR": "10.0.0.0/8",
            "ipv6NativeRoutingCIDR": "fd00:10::/32",
        }
    if setting is not None:
        fleet["spec"]["cilium"]["policyDefaultLocalCluster"] = setting
    resolved = compile_data(fleet).resolved
    assert _chart_problems(resolved) == []
    for cluster in resolved.clusters:
        values = clustermesh.values(resolved, cluster)
        has = {6 if ":" in c else 4 for c in cluster.pod_cidrs}
        assert values.get("ipv4", {"enabled": True})["enabled"] == (4 in has)
        assert values.get("ipv6", {"enabled": False})["enabled"] == (6 in has)
        peers = values["clustermesh"]["config"]["clusters"]
        assert isinstance(peers, dict) == (cluster.cilium_version >= (1, 19))
        assert len(peers) == 2
        local = values["clustermesh"].get("policyDefaultLocalCluster")
        if cluster.cilium_version < (1, 18):
            assert local is None
        else:
            expected = setting if setting is not None else cluster.cilium_version >= (1, 19)
            assert local is expected


def _warnings(fleet: dict[str, Any]) -> list[str]:
    from compiler.diagnostics import Diagnostics
    from compiler.emit.yaml import dump
    from compiler.pipeline import check

    diags = Diagnostics()
    check(dump(fleet).encode(), "fleet.yaml", diags)
    return [d.message for d in diags.items if d.code == "cilium-version-selector-meaning"]


def test_the_version_warning_says_what_the_rendered_values_do() -> None:
    fleet = _fleet({"a": "1.18", "b": "1.17", "c": "1.20"})
    warned = _warnings(fleet)
    assert len(warned) == 2  # a and b read "any cluster", the fleet's 1.19 "local only"
    assert all("means any cluster" in w and "it means only the local cluster" in w for w in warned)
    resolved = compile_data(fleet).resolved
    values = _values(resolved)
    assert values["a"]["clustermesh"]["policyDefaultLocalCluster"] is False  # as the warning says
    fleet["spec"]["cilium"]["policyDefaultLocalCluster"] = True
    warned = _warnings(fleet)
    assert len(warned) == 1 and "'b' runs Cilium 1.17" in warned[0]
    assert "no policyDefaultLocalCluster option" in warned[0]
    fleet["spec"]["cilium"]["policyDefaultLocalCluster"] = False
    assert _warnings(fleet) == []  # every cluster reads "any cluster"
