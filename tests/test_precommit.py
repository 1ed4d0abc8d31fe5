"""The pre-commit hooks, run through the real pre-commit framework against a temp git repo.

``pre-commit try-repo`` installs this project into a hook environment of its own (about
40 s the first time, from the machine's configured package index), so the environment is
shared by the tests of this module through one PRE_COMMIT_HOME.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, missing, require_tool

pytestmark = pytest.mark.slow

BAD_TAIL = """\
  guardrails:
    - name: two-clusters
      expression: |
        fleet.clusters.size() ==
          == 2
      message: exactly two clusters
"""


def _pre_commit() -> str:
    found = Path(sys.executable).with_name("pre-commit")
    if found.exists():
        return str(found)
    path = shutil.which("pre-commit")
    if path is None:
        missing("pre-commit is not installed (pip install -e '.[dev]')")
        raise AssertionError("unreachable")
    return path


@pytest.fixture(scope="module")
def fleet_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    git = require_tool("git")
    repo = tmp_path_factory.mktemp("fleet-repo")
    minimal = (ROOT / "fleets" / "minimal" / "fleet.yaml").read_text()
    (repo / "good").mkdir()
    (repo / "good" / "fleet.yaml").write_text(minimal)
    (repo / "bad").mkdir()
    (repo / "bad" / "fleet.yml").write_text(minimal + BAD_TAIL)
    # not a fleet file by name: the hook must not look at it
    (repo / "values.yaml").write_text("replicas: 3\n")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PRE_COMMIT_COLOR": "never",
    }
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "fleets"]):
        subprocess.run([git, *args], cwd=repo, env=env, check=True)
    return repo, env


def _try_repo(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_pre_commit(), "try-repo", str(ROOT), "fleetc-validate", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_hook_passes_on_a_good_fleet(fleet_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = fleet_repo
    result = _try_repo(repo, env, "--files", "good/fleet.yaml", "values.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fleetc validate" in result.stdout
    assert "Passed" in result.stdout


def test_hook_fails_on_a_bad_fleet_with_the_diagnostic(
    fleet_repo: tuple[Path, dict[str, str]],
) -> None:
    repo, env = fleet_repo
    result = _try_repo(repo, env, "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "Failed" in out
    line = (repo / "bad" / "fleet.yml").read_text().splitlines().index("          == 2") + 1
    assert f"bad/fleet.yml:{line}:11: error[cel-syntax]:" in out
    assert "good/fleet.yaml" not in out
    assert "values.yaml" not in out


def test_hook_manifest_is_valid_for_pre_commit() -> None:
    _pre_commit()
    from pre_commit.clientlib import load_manifest

    hooks = {hook["id"]: hook for hook in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}
    assert sorted(hooks) == ["fleetc-render-check", "fleetc-validate"]
    assert hooks["fleetc-validate"]["entry"] == "fleetc validate"
    assert hooks["fleetc-validate"]["pass_filenames"] is True
    assert hooks["fleetc-render-check"]["entry"] == "fleetc render --check --drift-only"
    assert hooks["fleetc-render-check"]["pass_filenames"] is False


def test_both_hooks_print_each_finding_once(
    fleet_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    git = require_tool("git")
    _, env = fleet_repo
    repo = tmp_path / "root-fleet"
    repo.mkdir()
    minimal = (ROOT / "fleets" / "minimal" / "fleet.yaml").read_text()
    (repo / "fleet.yaml").write_text(minimal + BAD_TAIL)
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "fleet"]):
        subprocess.run([git, *args], cwd=repo, env=env, check=True)
    result = subprocess.run(
        [_pre_commit(), "try-repo", str(ROOT), "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count("error[cel-syntax]") == 1, result.stdout
    assert "has errors, so rendered was not compared" in result.stdout

    (repo / "fleet.yaml").write_text(minimal)
    result = subprocess.run(
        [_pre_commit(), "try-repo", str(ROOT), "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "missing: clusters/" in result.stdout  # never rendered: the render check says so
    assert "fleetc validate" in result.stdout and "Passed" in result.stdout
