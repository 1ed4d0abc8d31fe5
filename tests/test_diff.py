"""`fleetc diff` on real git repositories: objects, mesh and connectivity between revisions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from compiler.cli import main
from compiler.diff import compile_side, diff_fleets
from compiler.diff.objects import redact
from compiler.report.diff import format_markdown
from tests.conftest import FLEETS, require_tool

CONTOSO = (FLEETS / "contoso" / "fleet.yaml").read_text()
NEW_POLICY = """    - name: catalog-reads-payments
      action: allow
      from: {service: api/catalog}
      to: {service: payments/payments}
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_tool("git")
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "fleet.yaml").write_text(CONTOSO)
    _git(tmp_path, "add", "fleet.yaml")
    _git(tmp_path, "commit", "-qm", "base")
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
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README").write_text("x")
    _git(tmp_path, "add", "README")
    _git(tmp_path, "commit", "-qm", "empty")
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
