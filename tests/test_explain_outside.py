"""`fleetc explain` with endpoints outside the fleet and L7 requests, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.cli import main
from tests.test_policies_outside import FLEET


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    return path


def explain(capsys: pytest.CaptureFixture[str], fleet: Path, *args: str) -> tuple[int, str, str]:
    code = main(["explain", str(fleet), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_world_into_a_service_names_the_rule_and_its_ingress_object(
    capsys: pytest.CaptureFixture[str], fleet: Path
) -> None:
    code, out, err = explain(
        capsys, fleet, "--from", "world", "--to", "shop/web@b", "--port", "8080/TCP", "-o", "json"
    )
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["allowed"] and result["decision"]["rule"]["name"] == "internet"
    assert [o["path"] for o in result["objects"]] == [
        "clusters/b/policies/ciliumnetworkpolicy-shop-fleetc-internet-ingress.yaml"
    ]


def test_fqdn_and_cidr_endpoints(capsys: pytest.CaptureFixture[str], fleet: Path) -> None:
    code, out, _ = explain(
        capsys, fleet, "--from", "pay/pay@a", "--to", "fqdn:api.stripe.com", "--port", "443/TCP"
    )
    assert code == 0 and out.startswith("allowed:") and "policy stripe" in out
    assert "clusters/a/policies/ciliumnetworkpolicy-pay-fleetc-stripe-egress.yaml" in out
    code, out, _ = explain(
        capsys, fleet, "--from", "pay/pay@a", "--to", "cidr:10.50.9.7", "--port", "1433/TCP",
        "--exit-code",
    )  # fmt: skip
    assert code == 1 and out.startswith("denied:") and "default-deny egress" in out


def test_an_address_inside_the_fleet_is_not_a_cidr_endpoint(
    capsys: pytest.CaptureFixture[str], fleet: Path
) -> None:
    code, _, err = explain(
        capsys, fleet, "--from", "pay/pay@a", "--to", "cidr:10.2.3.4", "--port", "443/TCP"
    )
    assert code == 2 and "pod range of cluster b" in err


def test_http_requests_against_l7_rules(capsys: pytest.CaptureFixture[str], fleet: Path) -> None:
    args = ["--from", "shop/web@a", "--to", "pay/pay@b", "--port", "443/TCP"]
    code, out, _ = explain(capsys, fleet, *args)
    assert code == 0 and "filtered by policy read-only" in out
    code, out, _ = explain(capsys, fleet, *args, "--http", "GET /v1/items", "--exit-code")
    assert code == 0 and out.startswith("allowed:") and "(GET /v1/items)" in out
    code, out, _ = explain(capsys, fleet, *args, "--http", "DELETE /v1/items", "--exit-code")
    assert code == 1 and out.startswith("denied:")
    code, _, err = explain(capsys, fleet, *args, "--http", "get /v1")
    assert code == 2 and "--http" in err


def test_node_entities_and_no_fleet_pod(capsys: pytest.CaptureFixture[str], fleet: Path) -> None:
    code, out, _ = explain(
        capsys, fleet, "--from", "host@a", "--to", "pay/pay@a", "--port", "9090/TCP"
    )
    assert code == 0 and out.startswith("denied:") and "policy no-hosts (deny)" in out
    code, _, err = explain(capsys, fleet, "--from", "world", "--to", "host@a", "--port", "22/TCP")
    assert code == 2 and "pod of the fleet" in err
    code, _, err = explain(
        capsys, fleet, "--from", "host@c", "--to", "pay/pay@a", "--port", "1/TCP"
    )
    assert code == 2 and "unknown cluster 'c'" in err


def test_a_pod_in_a_namespace_fleet_yaml_never_names(
    capsys: pytest.CaptureFixture[str], fleet: Path
) -> None:
    code, out, _ = explain(
        capsys, fleet, "--from", "*@a", "--to", "pay/pay@a", "--port", "443/TCP", "--exit-code"
    )
    assert code == 1 and "default-deny ingress in namespace pay@a" in out
    code, out, _ = explain(
        capsys, fleet, "--from", "pay/pay@a", "--to", "*/app=x@b", "--port", "80/TCP"
    )
    assert code == 0 and out.startswith("denied:") and "default-deny egress" in out
    code, _, err = explain(
        capsys, fleet, "--from", "*/web@a", "--to", "pay/pay@a", "--port", "1/TCP"
    )
    assert code == 2 and "never names" in err


def test_an_expectation_naming_a_fleet_address_as_cidr_is_an_error(tmp_path: Path) -> None:
    from compiler.diagnostics import Diagnostics
    from compiler.pipeline import check

    text = FLEET.replace(
        "  policies:\n",
        "  expectations:\n"
        "    - {from: pay/pay@a, to: 'cidr:10.2.0.9', port: 443/TCP, allowed: false}\n"
        "  policies:\n",
    )
    diags = Diagnostics()
    check(text.encode(), "fleet.yaml", diags)
    (found,) = [d for d in diags if d.code == "expectation-endpoint-invalid"]
    assert (
        "pod range of cluster b" in found.message
        and found.hint == "name the pods, e.g. NAMESPACE@b"
    )
