"""`fleetc explain`, run in-process: verdicts, deciding rules, enforcing objects, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.render import render
from tests.conftest import FLEETS
from tests.policy_evaluator import resolve_text

CONTOSO = FLEETS / "contoso" / "fleet.yaml"


def explain(
    capsys: pytest.CaptureFixture[str], *args: str, fleet: Path = CONTOSO
) -> tuple[int, str, str]:
    code = main(["explain", str(fleet), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_allowed_cross_cluster_flow_names_rule_line_and_both_halves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = explain(
        capsys,
        "--from", "api/gateway@us-api",
        "--to", "payments/payments@eu-payments",
        "--port", "443/TCP",
        "--exit-code",
    )  # fmt: skip
    assert (code, err) == (0, "")
    line = next(
        i + 1
        for i, text in enumerate(CONTOSO.read_text().splitlines())
        if text.strip() == "- name: api-calls-payments"
    )
    assert out.splitlines()[:2] == [
        "allowed: api/gateway@us-api -> payments/payments@eu-payments on 443/TCP",
        f"  decided by: policy api-calls-payments (allow) at {CONTOSO}:{line}",
    ]
    assert "clusters/us-api/policies/" in out and "clusters/eu-payments/policies/" in out


@pytest.mark.parametrize(
    ("src", "dst", "port", "kind"),
    [
        ("api/catalog@dev", "api/catalog@us-api", "8080/TCP", "deny-rule"),
        ("api/catalog@us-api", "payments/payments@eu-payments", "443/TCP", "default-deny"),
        ("api/gateway@us-api", "payments/payments@eu-payments", "443/TCP", "allow-rule"),
        ("web@us-api", "other/app=x@dev", "80/TCP", "default-allow"),
    ],
)
def test_json_objects_are_rendered_paths(
    capsys: pytest.CaptureFixture[str], src: str, dst: str, port: str, kind: str
) -> None:
    code, out, _ = explain(capsys, "--from", src, "--to", dst, "--port", port, "-o", "json")
    assert code == 0
    result = json.loads(out)
    assert result["decision"]["kind"] == kind
    assert result["allowed"] is (kind in ("allow-rule", "default-allow"))
    rendered = {f.path for f in render(resolve_text(CONTOSO.read_text()))}
    paths = [o["path"] for o in result["objects"]]
    assert set(paths) <= rendered
    assert bool(paths) is (kind != "default-allow")
    if kind.endswith("-rule"):
        assert result["decision"]["rule"]["line"] > 0
        directions = [o["direction"] for o in result["objects"]]
        assert directions[:2] == ["egress", "ingress"]
        # a cluster-level deny is also in the fleet guard's seeds of both clusters
        guard = ["guard-disabled"] * 2 if src.split("@")[1] != dst.split("@")[1] else []
        assert directions[2:] == (guard if kind == "deny-rule" else [])


def test_exit_code_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    flow = ["--from", "api/catalog@dev", "--to", "api/catalog@us-api", "--port", "8080/TCP"]
    assert explain(capsys, *flow)[0] == 0
    code, out, _ = explain(capsys, *flow, "--exit-code")
    assert code == 1 and out.startswith("denied:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "api/gateway", "--to", "api@us-api", "--port", "443/TCP"], "names no cluster"),
        (["--from", "api@us-api", "--to", "api@us-api", "--port", "443"], "--port"),
        (["--from", "api@us-api", "--to", "api@us-api", "--port", "1-2/TCP"], "one port"),
        (["--from", "api@nowhere", "--to", "api@us-api", "--port", "1/TCP"], "unknown cluster"),
        (["--from", "api/gatewy@us-api", "--to", "api@us-api", "--port", "1/TCP"], "did you mean"),
        (["--from", "api/gateway@dev", "--to", "api@us-api", "--port", "1/TCP"], "does not run"),
        (["--to", "api@us-api", "--port", "1/TCP"], ""),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = explain(capsys, *args)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_fleet_errors_are_diagnostics_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text(
        CONTOSO.read_text().replace("{service: payments/ledger}", "{service: payments/ledgr}")
    )
    code, out, err = explain(
        capsys, "--from", "api@us-api", "--to", "api@dev", "--port", "1/TCP", fleet=broken
    )
    assert code == 1 and out == ""
    assert "ref-unknown-service" in err and "payments/ledger" in err


def test_a_failing_expectation_does_not_stop_explain(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    text = CONTOSO.read_text()
    assert text.count("allowed: false") >= 1
    fleet.write_text(text.replace("allowed: false", "allowed: true"))
    code, out, _ = explain(
        capsys,
        "--from", "api/catalog@dev", "--to", "api/catalog@us-api", "--port", "8080/TCP",
        fleet=fleet,
    )  # fmt: skip
    assert code == 0 and out.startswith("denied:")


def test_dns_under_egress_deny_names_the_defaults_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(CONTOSO.read_text().replace("egress: allow", "egress: deny"))
    code, out, _ = explain(
        capsys,
        "--from", "api/gateway@us-api", "--to", "kube-system/k8s-app=kube-dns@us-api",
        "--port", "53/UDP", "-o", "json",
        fleet=fleet,
    )  # fmt: skip
    result = json.loads(out)
    assert code == 0 and result["allowed"] and result["decision"]["kind"] == "dns"
    assert [o["path"] for o in result["objects"]] == [
        "clusters/us-api/policies/ciliumnetworkpolicy-api-fleetc-defaults.yaml"
    ]
