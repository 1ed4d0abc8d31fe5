"""action.yml, run locally step by step against a real git repository (see action_support):
a pull request from the same repository, from a fork and from a bot, a broken fleet, stale
output, and commit mode. Plus what the reusable workflow must keep: permissions, concurrency,
and that it runs this action."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.action_support import ACTION, Run, action, run_action
from tests.conftest import ROOT, git, require_tool
from tests.emit_support import require_renderers
from tests.test_diff import CONTOSO, _open_catalog_to_payments

WORKFLOW = ROOT / ".github" / "workflows" / "fleet.yml"
BIN = str(Path(sys.executable).parent)


def _render(repo: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "compiler", "render", "--out", "rendered"],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fleet repository: contoso rendered on main, a pull request branch checked out."""
    require_tool("git")
    require_renderers()
    repo = tmp_path / "fleet-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "fleet.yaml").write_text(CONTOSO)
    _render(repo)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    return repo


def _pr(
    repo: Path, tmp_path: Path, fleet: str, render: bool = True, **github: Any
) -> tuple[Run, Path]:
    (repo / "fleet.yaml").write_text(fleet)
    if render:
        _render(repo)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "change", "--allow-empty")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    context = {
        "event_name": "pull_request",
        "repository": "acme/fleet",
        "base_ref": "main",
        "actor": "alice",
        "event": {"pull_request": {"head": {"repo": {"full_name": "acme/fleet"}}}},
        **github,
    }
    return run_action(repo, temp, {"mode": "pr"}, context, [BIN]), temp


def test_pull_request_from_the_repository(repo: Path, tmp_path: Path) -> None:
    run, temp = _pr(repo, tmp_path, _open_catalog_to_payments(CONTOSO))
    assert not run.failed, run.stdout
    report = Path(run.output("context", "report"))
    assert report == temp / "fleetc-report"
    assert run.output("context", "writable") == "true"
    assert (run.output("validate", "status"), run.output("render-check", "status")) == ("0", "0")
    comment = (report / "comment.md").read_text()
    assert comment.startswith("<!-- fleetc-diff:contoso -->")
    assert len(comment) <= 65_536 and "Flows newly allowed (2)" in comment
    assert json.loads((report / "diff.json").read_text())["changed"] is True
    assert (report / "diff.md").read_text() == comment  # small enough to be whole
    sarif = json.loads((report / "fleetc.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []
    assert "### fleetc diff" in (temp / "step-summary.md").read_text()
    # what the third-party actions are given
    sticky = run.used["post or update the sticky comment"]
    assert sticky["path"] == str(report / "comment.md") and sticky["header"] == "fleetc-fleet.yaml"
    assert run.used["upload the full report"]["path"] == str(report)
    assert run.used["upload the full report"]["name"] == "fleetc-diff"
    assert run.used["upload SARIF to code scanning"]["sarif_file"] == str(report / "fleetc.sarif")
    assert "fleet.yaml is valid and rendered is current" in run.stdout["verdict"]
    assert "fleetc commit" in run.skipped


@pytest.mark.parametrize(
    "who",
    [
        {"event": {"pull_request": {"head": {"repo": {"full_name": "mallory/fleet"}}}}},
        {"actor": "dependabot[bot]"},
    ],
    ids=["fork", "bot"],
)
def test_read_only_token_gets_the_job_summary_and_does_not_fail(
    repo: Path, tmp_path: Path, who: dict[str, Any]
) -> None:
    run, temp = _pr(repo, tmp_path, _open_catalog_to_payments(CONTOSO), **who)
    assert not run.failed, run.stdout
    assert run.output("context", "writable") == "false"
    assert "post or update the sticky comment" in run.skipped
    assert "upload SARIF to code scanning" in run.skipped
    assert "upload the full report" in run.used
    summary = (temp / "step-summary.md").read_text()
    assert "Flows newly allowed" in summary and "token is read-only" in summary


def test_failed_validation_replaces_the_comment_with_the_findings(
    repo: Path, tmp_path: Path
) -> None:
    broken = CONTOSO.replace("spec:\n", "spec:\n  nonsense: 1\n", 1)
    run, temp = _pr(repo, tmp_path, broken, render=False)
    assert run.failed
    assert run.output("validate", "status") == "1"
    assert "::error file=fleet.yaml,line=" in run.stdout["validate"]
    report = Path(run.output("context", "report"))
    comment = (report / "comment.md").read_text()
    assert "does not compile" in comment and "model-unknown-field" in comment
    assert "post or update the sticky comment" in run.used  # the old diff is replaced
    summary = (temp / "step-summary.md").read_text()
    assert "fleetc validate: `fleet.yaml` has errors" in summary
    assert "has errors" in run.stdout["verdict"]
    assert json.loads((report / "fleetc.sarif").read_text())["runs"][0]["results"]


def test_stale_output_fails_with_an_annotation(repo: Path, tmp_path: Path) -> None:
    run, temp = _pr(repo, tmp_path, _open_catalog_to_payments(CONTOSO), render=False)
    assert run.failed
    assert run.output("validate", "status") == "0"
    assert run.output("render-check", "status") == "1"
    assert "::error title=fleetc render --check::" in run.stdout["render-check"]
    assert "is not current" in (temp / "step-summary.md").read_text()
    assert (
        "Flows newly allowed" in (Path(run.output("context", "report")) / "comment.md").read_text()
    )


def test_commit_mode_commits_the_output(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "fleet.yaml").write_text(_open_catalog_to_payments(CONTOSO))
    git(repo, "commit", "-qam", "open catalog to payments")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    before = git(repo, "rev-parse", "HEAD")
    run = run_action(repo, temp, {"mode": "commit", "push": ""}, {"event_name": "push"}, [BIN])
    assert not run.failed, run.stdout
    assert git(repo, "rev-parse", "HEAD~1") == before
    assert "rendered/" in git(repo, "show", "--name-only", "--format=", "HEAD")
    assert git(repo, "status", "--porcelain") == ""


def test_an_unknown_mode_stops_before_installing(repo: Path, tmp_path: Path) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    run = run_action(repo, temp, {"mode": "review"}, {}, [BIN], skip=())
    assert run.failed and "mode must be pr or commit" in run.stdout["install"]
    assert not (temp / "fleetc-venv").exists()


@pytest.mark.slow
def test_install_step_builds_fleetc_from_the_action_checkout(repo: Path, tmp_path: Path) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    inputs = {"mode": "commit", "python": sys.executable, "push": ""}
    run = run_action(repo, temp, inputs, {"event_name": "push"}, [], skip=("fleetc commit",))
    assert not run.failed, run.stdout
    venv = temp / "fleetc-venv" / "bin"
    assert (temp / "github-path").read_text().split() == [str(venv)]
    assert run.stdout["install"].strip().startswith("fleetc ")
    done = subprocess.run([venv / "fleetc", "validate", "fleet.yaml"], cwd=repo, check=False)
    assert done.returncode == 0


# --- the definitions themselves --------------------------------------------------------------


def _uses(text: str) -> list[str]:
    return [
        line.strip() for line in text.splitlines() if line.strip().startswith(("uses:", "- uses:"))
    ]


@pytest.mark.parametrize("path", [ACTION, *sorted((ROOT / ".github" / "workflows").glob("*.yml"))])
def test_third_party_actions_are_pinned_with_their_version(path: Path) -> None:
    for line in _uses(path.read_text()):
        ref = line.split("uses:", 1)[1].strip()
        if ref.startswith("./"):
            continue
        assert __import__("re").search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", ref), line


def test_action_matches_github_schema() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-actions",
            str(ACTION),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_installs_from_its_own_checkout() -> None:
    install = next(s for s in action()["runs"]["steps"] if s.get("id") == "install")
    assert install["env"]["SOURCE"] == "${{ github.action_path }}"
    assert 'pip install --quiet --disable-pip-version-check "$SOURCE"' in install["run"]


def _workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def test_reusable_workflow_runs_this_action_with_minimal_permissions() -> None:
    flow = _workflow()
    assert flow["permissions"] == {"contents": "read"}
    pr, commit = flow["jobs"]["pull-request"], flow["jobs"]["commit"]
    assert pr["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "security-events": "write",
        "actions": "read",
    }
    assert commit["permissions"] == {"contents": "write"}
    assert pr["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in pr["concurrency"]["group"]
    assert commit["concurrency"]["cancel-in-progress"] is False
    for job, mode in ((pr, "pr"), (commit, "commit")):
        fleetc = job["steps"][1]
        assert fleetc["with"]["repository"] == "${{ job.workflow_repository }}"
        assert fleetc["with"]["ref"] == "${{ job.workflow_sha }}"
        assert job["steps"][2] == {**job["steps"][2], "uses": "./.fleetc-action"}
        assert job["steps"][2]["with"]["mode"] == mode
    assert "pip install" not in WORKFLOW.read_text()
