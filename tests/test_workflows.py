"""The GitHub workflows validate against the GitHub workflow schema and pin actions by SHA."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    # check-jsonschema vendors the GitHub workflow schema, so this runs offline.
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_schema(workflow: Path) -> None:
    done = _check_workflow(workflow)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit(workflow: Path) -> None:
    for line in workflow.read_text().splitlines():
        match = re.match(r"\s*-?\s*uses:\s*([^\s#]+)", line)
        if match and not match.group(1).startswith("./"):
            assert re.search(r"@[0-9a-f]{40}$", match.group(1)), f"not pinned: {line.strip()}"


def test_a_broken_workflow_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    assert _check_workflow(bad).returncode != 0
