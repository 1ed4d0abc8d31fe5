"""`fleetc diff` on real git repositories: objects, mesh and connectivity between revisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from compiler.cli import main
from compiler.diagnostics import Diagnostics
from compiler.diff import compile_side, diff_fleets
from compiler.diff.objects import redact
from compiler.report.diff import format_markdown
from tests.conftest import FLEETS, git, require_tool

CONTOSO = (FLEETS / "contoso" / "fleet.yaml").read_text()
PODS = (Path(__file__).parent / "fleets" / "contoso-pods.yaml").read_text()
"""contoso without peers beyond the fleet and with egress allowed: the base the class tests
change one thing in."""
NEW_POLICY = """    - name: catalog-reads-payments
      action: allow
      from: {service: api/catalog}
      to: {service: payments/payments}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_tool("git")
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "fleet.yaml").write_text(CONTOSO)
    git(tmp_path, "add", "fleet.yaml")
    git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def _without_expectation(text: str, name: str) -> str:
    start = text.index(f"    - name: {name}")
    end = text.find("    - name:", start + 10)
    return text[:start] + (text[end:] if end != -1 else "")


def _open_catalog_to_payments(text: str) -> str:
    text = text.replace("    - name: no-dev-to-prod", NEW_POLICY + "    - name: no-dev-to-prod")
    return _without_expectation(text, "nothing else enters payments (default deny)")


def _diff(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["diff", str(repo / "fleet.yaml"), "--base", "main", *extra])
    return code, capsys.readouterr().out


def test_unchanged_fleet_has_no_diff(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _diff(repo, capsys, "--exit-code")
    assert code == 0
    assert out.startswith("no change")


def test_new_allow_rule_shows_newly_allowed_flows(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "fleet.yaml").write_text(_open_catalog_to_payments(CONTOSO))
    code, out = _diff(repo, capsys, "--exit-code", "-o", "json")
    data = json.loads(out)
    assert code == 1
    flows = {(f["from"], f["to"], f["port"]) for f in data["flows"]}
    assert flows == {
        ("api/catalog@us-api", "payments/payments@eu-payments", "443/TCP"),
        ("api/catalog@us-api", "payments/payments@eu-standby", "443/TCP"),
    }
    assert all(f["after"] and not f["before"] for f in data["flows"])
    # dev's catalog stays denied: no-dev-to-prod wins over the new allow
    assert not any(f["from"].endswith("@dev") for f in data["flows"])
    added = {
        (o["cluster"], o["kind"], o["name"]) for o in data["objects"] if o["change"] == "added"
    }
    assert ("eu-payments", "CiliumNetworkPolicy", "fleetc-catalog-reads-payments-ingress") in added
    # moving rules down the file changes only source line numbers: not an object change
    # (guard seeds do change: rule ids rank policy names, and a new name shifts some)
    changed = [
        o for o in data["objects"] if o["change"] == "changed" and "/guard/" not in o["path"]
    ]
    assert all(
        "catalog-reads-payments" in o["diff"]
        or "ports" in o["diff"]
        or "toEndpoints" in o["diff"]
        or "fromEndpoints" in o["diff"]
        for o in changed
    )


def test_removed_deny_rule_is_newly_allowed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = CONTOSO
    start = text.index("    - name: no-dev-to-prod")
    end = text.index("  guardrails:")
    text = text[:start] + text[end:]
    text = text[: text.index("  expectations:")]  # they pin the deny; this change drops it
    (repo / "fleet.yaml").write_text(text)
    code, out = _diff(repo, capsys, "-o", "json")
    data = json.loads(out)
    if data["head"]["failed"]:
        pytest.fail(json.dumps(data["head"]["diagnostics"], indent=1))
    assert code == 0
    assert data["flows"], "removing a deny must open flows"
    assert all(f["after"] and f["from"].endswith("@dev") for f in data["flows"])
    removed = [o for o in data["objects"] if o["change"] == "removed"]
    assert removed and all("no-dev-to-prod" in o["name"] for o in removed)


def test_cluster_id_change_is_disruptive(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "fleet.yaml").write_text(CONTOSO.replace("      id: 3\n", "      id: 4\n"))
    code, out = _diff(repo, capsys)
    assert code == 0
    assert "DISRUPTIVE: cluster us-api changes ID 3 -> 4" in out


def test_cluster_rename_is_disruptive(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "fleet.yaml").write_text(
        CONTOSO.replace("name: dev\n", "name: sandbox\n")
        .replace("@dev", "@sandbox")
        .replace("[us-api, dev]", "[us-api, sandbox]")
    )
    _code, out = _diff(repo, capsys, "-o", "json")
    data = json.loads(out)
    assert not data["head"]["failed"], data["head"]["diagnostics"]
    kinds = {(m["kind"], m["subject"], m["disruptive"]) for m in data["mesh"]}
    assert ("cluster-renamed", "sandbox", True) in kinds


def test_broken_head_is_reported_not_mass_deleted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "fleet.yaml").write_text(CONTOSO.replace("      id: 3\n", "      id: 1\n"))
    code, out = _diff(repo, capsys, "-o", "json")
    data = json.loads(out)
    assert code == 1
    assert data["head"]["failed"]
    assert data["objects"] == [] and data["flows"] == []
    assert any(d["code"] == "cluster-duplicate-id" for d in data["head"]["diagnostics"])


def test_new_fleet_is_all_added(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("git")
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README").write_text("x")
    git(tmp_path, "add", "README")
    git(tmp_path, "commit", "-qm", "empty")
    (tmp_path / "fleet.yaml").write_text(CONTOSO)
    code, out = _diff(tmp_path, capsys, "-o", "json")
    data = json.loads(out)
    assert code == 0
    assert data["base"]["missing"]
    assert data["objects"] and all(o["change"] == "added" for o in data["objects"])
    assert {m["kind"] for m in data["mesh"]} == {"cluster-joined", "service-global"}


def test_unknown_revision_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["diff", str(repo / "fleet.yaml"), "--base", "no-such-rev"])
    assert code == 2
    assert "no-such-rev" in capsys.readouterr().err


def test_markdown_comment(snapshot: SnapshotAssertion) -> None:
    base = compile_side("base", CONTOSO.encode(), "fleet.yaml")
    head = compile_side("head", _open_catalog_to_payments(CONTOSO).encode(), "fleet.yaml")
    assert format_markdown(diff_fleets(base, head), "contoso") == snapshot


def test_markdown_fits_budget_by_cutting_whole_objects() -> None:
    base = compile_side("base", None, "fleet.yaml")
    head = compile_side("head", CONTOSO.encode(), "fleet.yaml")
    result = diff_fleets(base, head)
    full = format_markdown(result, "contoso")
    budget = len(full) // 3
    cut = format_markdown(result, "contoso", budget=budget)
    assert len(cut) <= budget
    assert cut.startswith("<!-- fleetc-diff:contoso -->")
    assert "Cut to stay within the size budget" in cut and "Not shown:" in cut
    assert cut.count("```diff") == cut.count("```diff\n") and cut.count("```") % 2 == 0


def test_secret_values_are_hashed() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "x"},
        "data": {"k": "c2VjcmV0"},
    }
    shown = redact(secret)
    assert "c2VjcmV0" not in json.dumps(shown)
    assert shown["data"]["k"].startswith("sha256:")
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}
    assert redact(other) is other


def _flows(base: str, head: str) -> list[dict[str, object]]:
    """`fleetc diff -o json`'s flows between two fleet.yaml texts."""
    from compiler.report.diff import format_json

    result = diff_fleets(
        compile_side("base", base.encode(), "fleet.yaml"),
        compile_side("head", head.encode(), "fleet.yaml"),
    )
    assert not result.failed, (result.base.diagnostics, result.head.diagnostics)
    assert not result.flows_truncated
    flows: list[dict[str, object]] = json.loads(format_json(result))["flows"]
    return flows


def _with_policy(text: str, policy: str) -> str:
    return text.replace("  guardrails:", policy + "  guardrails:")


def test_widened_cluster_deny_reports_unnamed_and_other_pods() -> None:
    head = PODS.replace(
        "to: {clusters: {matchLabels: {env: prod}}}",
        "to: {clusters: [dev, eu-payments, eu-standby, us-api]}",
    )
    flows = _flows(PODS, head)
    lines = {(f["from"], f["to"], f["port"], f["before"], f["after"]) for f in flows}
    # pods of namespaces fleet.yaml never names, and the other pods of a named one, one line
    # per class pair: dev now denies dev to dev
    assert ("*@dev", "*@dev", "1-65535/ANY", True, False) in lines
    assert ("api@dev", "*@dev", "1-65535/ANY", True, False) in lines
    assert ("*@dev", "kube-system/k8s-app=kube-dns@dev", "1-65535/ANY", True, False) in lines
    assert ("api/catalog@dev", "api/catalog@dev", "8080/TCP", True, False) in lines
    # already denied by dev's default ingress deny in api: no change, no line
    assert not any(
        f["to"] in ("api@dev", "api/catalog@dev") and f["from"] == "*@dev" for f in flows
    )
    assert all(str(f["from"]).endswith("@dev") and str(f["to"]).endswith("@dev") for f in flows)
    assert all(f["ruleAfter"] == "policy no-dev-to-prod (deny)" for f in flows)


def test_world_ingress_allow() -> None:
    policy = """    - name: internet-to-gateway
      action: allow
      from: {entities: [world]}
      to: {service: api/gateway}
"""
    flows = _flows(PODS, _with_policy(PODS, policy))
    assert [(f["from"], f["to"], f["port"], f["before"], f["after"]) for f in flows] == [
        ("world", "api/gateway@us-api", "8443/TCP", False, True)
    ]


def test_markdown_widened_deny(snapshot: SnapshotAssertion) -> None:
    """Classes, not pods, in the comment's table and graph (objects cut: not the point)."""
    head = PODS.replace(
        "to: {clusters: {matchLabels: {env: prod}}}",
        "to: {clusters: [dev, eu-payments, eu-standby, us-api]}",
    )
    result = diff_fleets(
        compile_side("base", PODS.encode(), "fleet.yaml"),
        compile_side("head", head.encode(), "fleet.yaml"),
    )
    text = format_markdown(result, "contoso")
    assert text.split("<details>")[0] == snapshot


SQL = """    - name: payments-not-to-sql
      action: deny
      from: {namespace: payments}
      to: {cidrs: [10.50.0.0/16], except: [%s]}
"""


def test_cidr_except_change() -> None:
    base = _with_policy(PODS, SQL % "10.50.9.0/24")
    head = _with_policy(PODS, SQL % "10.50.8.0/24")
    flows = _flows(base, head)
    assert flows
    outcome = {(f["to"], f["port"], f["before"], f["after"]) for f in flows}
    # inside the new exception: now allowed; inside the old one: now denied; the rest of the
    # /16 (cidr:10.50.0.1) stays denied and is not listed
    assert outcome == {
        ("cidr:10.50.8.1", "1-65535/ANY", False, True),
        ("cidr:10.50.9.1", "1-65535/ANY", True, False),
    }
    sources = {f["from"] for f in flows}
    assert {"payments@eu-payments", "payments/payments@eu-standby", "payments@dev"} <= sources
    assert all(str(s).startswith("payments") for s in sources)


def test_fqdn_added() -> None:
    base = PODS.replace("    egress: allow", "    egress: deny")
    policy = """    - name: payments-to-stripe
      action: allow
      from: {service: payments/payments}
      to: {fqdns: [api.stripe.com, "*.stripe.com"]}
"""
    flows = _flows(base, _with_policy(base, policy))
    assert {(f["from"], f["to"], f["port"], f["before"], f["after"]) for f in flows} == {
        (f"payments/payments@{c}", f"fqdn:{name}", "1-65535/ANY", False, True)
        for c in ("eu-payments", "eu-standby")
        for name in ("api.stripe.com", "x.stripe.com")
    }


def test_limit_truncates_and_keeps_what_was_found() -> None:
    base = compile_side("base", PODS.encode(), "fleet.yaml")
    head = compile_side(
        "head", PODS.replace("    egress: allow", "    egress: deny").encode(), "fleet.yaml"
    )
    full = diff_fleets(base, head)
    cut = diff_fleets(base, head, flow_limit=50)
    assert not full.flows_truncated and cut.flows_truncated
    assert cut.flows and len(cut.flows) < len(full.flows)
    assert {(f.source, f.destination) for f in cut.flows} <= {
        (f.source, f.destination) for f in full.flows
    }


def test_every_flow_line_explains_to_its_verdicts() -> None:
    """A reviewer pastes a flow's endpoints into `fleetc explain`: same answer, both sides."""
    from compiler import reach
    from compiler.resolve import resolve

    head_text = PODS.replace(
        "to: {clusters: {matchLabels: {env: prod}}}",
        "to: {clusters: [dev, eu-payments, eu-standby, us-api]}",
    )
    sides = []
    for text in (PODS, head_text):
        side = compile_side("x", text.encode(), "fleet.yaml")
        assert side.compiled is not None
        checked = side.compiled.checked
        sides.append(resolve(checked.doc, checked.fleet, Diagnostics()))
    flows = _flows(PODS, head_text)
    assert any(str(f["from"]).startswith("*@") for f in flows)
    for flow in flows:
        # the first port of the line's first class: "1-52,54-65535/TCP 1-65535/SCTP" -> 1/TCP
        ports, proto = str(flow["port"]).split()[0].rsplit("/", 1)
        low = int(ports.split(",")[0].split("-")[0])
        protocol = "TCP" if proto == "ANY" else proto
        for resolved, expected in zip(sides, (flow["before"], flow["after"]), strict=True):
            src = reach.parse(resolved, str(flow["from"]))
            dst = reach.parse(resolved, str(flow["to"]))
            assert reach.decide(resolved, src, dst, protocol, low).allowed is expected, flow
