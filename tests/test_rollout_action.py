"""The action and the reusable workflow with rollout waves, run locally (see action_support):
a merge commits the first wave only, a manual run commits the wave it names, and a pull
request shows the rollout's status instead of checking the output the rollout owns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.action_support import run_action
from tests.conftest import ROOT, git, require_tool
from tests.emit_support import fleetc, require_renderers
from tests.test_rollout import _fleet, _tree

BIN = str(Path(sys.executable).parent)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fleet repository with waves, rendered on main, then a change merged to main."""
    require_tool("git")
    require_renderers()
    repo = tmp_path / "fleet-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "fleet.yaml").write_text(_fleet(change=False).replace("./out", "./rendered"))
    assert fleetc("render", "--out", "rendered", cwd=repo).returncode == 0
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    (repo / "fleet.yaml").write_text(_fleet(change=True).replace("./out", "./rendered"))
    git(repo, "commit", "-qam", "payments may call the gateway")
    return repo


def _states(repo: Path) -> dict[str, str]:
    done = fleetc("rollout", "status", "--out", "rendered", "-o", "json", cwd=repo)
    assert done.returncode == 0, done.stderr
    return {c["name"]: c["state"] for w in json.loads(done.stdout)["waves"] for c in w["clusters"]}


def _commit(repo: Path, tmp_path: Path, wave: str, event: str) -> None:
    temp = tmp_path / f"runner-{event}-{wave or 'first'}"
    temp.mkdir()
    inputs = {"mode": "commit", "push": "", "wave": wave}
    run = run_action(repo, temp, inputs, {"event_name": event}, [BIN])
    assert not run.failed, run.stdout


def test_a_merge_commits_the_first_wave_and_a_dispatch_the_named_one(
    repo: Path, tmp_path: Path
) -> None:
    us_api = _tree(repo / "rendered", "us-api")
    _commit(repo, tmp_path, "", "push")
    assert "Fleetc-Wave: canary" in git(repo, "log", "-1", "--format=%B")
    assert _states(repo) == {
        "dev": "current",
        "eu-payments": "behind",
        "eu-standby": "behind",
        "us-api": "behind",
    }
    _commit(repo, tmp_path, "europe", "workflow_dispatch")
    assert "Fleetc-Wave: europe" in git(repo, "log", "-1", "--format=%B")
    assert _states(repo)["eu-standby"] == "current"
    assert _tree(repo / "rendered", "us-api") == us_api
    _commit(repo, tmp_path, "rest", "workflow_dispatch")
    assert set(_states(repo).values()) == {"current"}
    assert git(repo, "status", "--porcelain") == ""


def test_a_pull_request_shows_the_rollout_instead_of_checking_the_output(
    repo: Path, tmp_path: Path
) -> None:
    git(repo, "checkout", "-qb", "feature")
    (repo / "fleet.yaml").write_text((repo / "fleet.yaml").read_text() + "# a comment\n")
    git(repo, "commit", "-qam", "comment")
    temp = tmp_path / "runner-pr"
    temp.mkdir()
    context = {
        "event_name": "pull_request",
        "repository": "acme/fleet",
        "base_ref": "main",
        "actor": "alice",
        "event": {"pull_request": {"head": {"repo": {"full_name": "acme/fleet"}}}},
    }
    run = run_action(repo, temp, {"mode": "pr"}, context, [BIN])
    assert not run.failed, run.stdout
    assert run.output("render-check", "status") == "0"
    summary = (temp / "step-summary.md").read_text()
    assert "Rollout of `fleet.yaml`" in summary
    assert "next: fleetc commit --wave canary" in summary


def test_the_reusable_workflow_commits_on_a_merge_or_a_manual_run() -> None:
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "fleet.yml").read_text())
    assert flow[True]["workflow_call"]["inputs"]["wave"]["default"] == ""  # `on:` reads as True
    commit = flow["jobs"]["commit"]
    assert "workflow_dispatch" in commit["if"] and "'push'" in commit["if"]
    assert commit["steps"][2]["with"]["wave"] == "${{ inputs.wave }}"
