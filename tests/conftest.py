"""Shared test fixtures: paths, and the rule that real components skip only outside CI."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLEETS = ROOT / "fleets"
UPSTREAM = ROOT.parent / "shared" / "upstream"
IN_CI = os.environ.get("CI") == "true"

# fleetc caches (CEL tables, explain's resolved fleets) go to a directory of this test run,
# inherited by every fleetc the tests start: tests neither read the user's cache nor fill it
# with entries for temporary fleets.
_CACHE = tempfile.mkdtemp(prefix="fleetc-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)


def missing(reason: str) -> None:
    """Skip with `reason` on a developer's machine; fail under CI=true, where nothing may skip."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of executable `name`, or skip/fail saying it is missing."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (on PATH)")
        raise AssertionError("unreachable")
    return path


def require_upstream() -> Path:
    if not UPSTREAM.is_dir():
        missing(f"upstream schemas not found at {UPSTREAM}")
    return UPSTREAM


@pytest.fixture
def upstream() -> Path:
    return require_upstream()


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` as a throwaway identity; its stdout (fails the test on an error)."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
