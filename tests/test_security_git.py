"""Git argument injection and ref confusion, against real repositories, bare remotes and hooks.

Every value a user gives that reaches git is checked before any work (exit 2, nothing
created); a branch is only ever ``refs/heads/B``; remotes given as a path or a URL work; and
fleetc's own git commands run without hooks, so a hook that runs fleetc cannot deadlock.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FLEETS
from tests.emit_support import fleetc, require_renderers
from tests.test_commit import fleet_repo, git, make_repo


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require_renderers()
    return fleet_repo(make_repo(tmp_path, monkeypatch))


def _bare(repo: Path) -> Path:
    bare = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(bare))
    return bare


def _refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname)")


@pytest.mark.parametrize("option", ["--push", "--branch"])
def test_an_option_smuggled_as_a_value_never_reaches_git(repo: Path, option: str) -> None:
    marker = repo.parent / "pwned"
    value = f"--upload-pack=touch {marker};true"
    args = [option, value] if option == "--branch" else ["--branch", "deploy", option, value]
    refs = _refs(repo)
    done = fleetc("commit", *args, cwd=repo)
    assert done.returncode == 2, done.stderr
    assert "starts with '-'" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()
    assert _refs(repo) == refs  # nothing committed before the refusal
    # in place too (no --branch): the remote is checked before rendering
    done = fleetc("commit", "--out", "rendered", f"--push={value}", cwd=repo)
    assert done.returncode == 2 and not marker.exists()
    assert not (repo / "rendered").exists()


@pytest.mark.parametrize(
    "branch", ["refs/heads/deploy", "@", "HEAD", "@{-1}", "-deploy", "a..b", "de\nploy", ""]
)
def test_a_branch_that_is_not_a_plain_name_is_a_usage_error(repo: Path, branch: str) -> None:
    refs = _refs(repo)
    done = fleetc("commit", f"--branch={branch}", cwd=repo)
    assert done.returncode == 2, done.stderr
    assert "not a valid branch name" in done.stderr and "Traceback" not in done.stderr
    assert _refs(repo) == refs
    assert "\n" not in done.stderr.strip()  # the bad value is escaped, one line


@pytest.mark.parametrize("kind", ["path", "url"])
def test_push_to_a_path_or_url_remote(repo: Path, kind: str) -> None:
    bare = _bare(repo)
    remote = str(bare) if kind == "path" else bare.as_uri()
    done = fleetc("commit", "--branch", "deploy", "--push", remote, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert git(bare, "rev-parse", "refs/heads/deploy") == git(
        repo, "rev-parse", "refs/heads/deploy"
    )
    # a second fleet, from a fresh clone with no local deploy branch: it builds on the remote's
    shutil.copy(FLEETS / "contoso" / "fleet.yaml", repo / "fleet.yaml")
    git(repo, "commit", "-q", "-am", "contoso")
    git(repo, "branch", "-D", "deploy")
    done = fleetc("commit", "--branch", "deploy", "--push", remote, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert git(bare, "rev-list", "--count", "refs/heads/deploy").strip() == "2"


def test_a_tag_named_like_the_deploy_branch_does_not_shadow_it(repo: Path) -> None:
    bare = _bare(repo)
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "tag", "deploy", "HEAD")
    git(repo, "tag", "refs/heads/deploy", "HEAD")  # refs/tags/refs/heads/deploy
    git(repo, "update-ref", "refs/remotes/origin/refs/heads/deploy", "HEAD")
    git(repo, "push", "-q", "origin", "refs/tags/deploy")
    for fleet in ("minimal", "contoso"):
        shutil.copy(FLEETS / fleet / "fleet.yaml", repo / "fleet.yaml")
        git(repo, "commit", "-q", "--allow-empty", "-am", fleet)
        done = fleetc("commit", "--branch", "deploy", "--push", "origin", cwd=repo)
        assert done.returncode == 0, done.stderr
    assert git(repo, "rev-list", "--count", "refs/heads/deploy").strip() == "2"
    assert git(bare, "rev-parse", "refs/tags/deploy") == git(repo, "rev-parse", "refs/tags/deploy")


def test_hooks_that_run_fleetc_do_not_deadlock_and_do_not_run(repo: Path) -> None:
    ran = repo.parent / "hook-ran"
    bare = _bare(repo)
    git(repo, "remote", "add", "origin", str(bare))
    hooks = repo / ".git" / "hooks"
    for hook in ("pre-commit", "post-commit", "reference-transaction", "pre-push"):
        (hooks / hook).write_text(
            f"#!/bin/sh\necho {hook} >> {ran}\n"
            f"cd {repo} && {sys.executable} -m compiler commit --out rendered\n"
        )
        (hooks / hook).chmod(0o755)
    started = time.monotonic()
    done = fleetc("commit", "--out", "rendered", "--push", "origin", cwd=repo, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    assert not ran.exists(), ran.read_text()
    assert "rendered" in git(repo, "ls-tree", "--name-only", "HEAD").split()


def test_a_newline_in_the_fleet_path_does_not_split_the_subject(repo: Path) -> None:
    odd = "fleet\nSigned-off-by: mallory.yaml"
    shutil.copy(FLEETS / "minimal" / "fleet.yaml", repo / odd)
    git(repo, "add", "--", odd)
    git(repo, "commit", "-q", "-m", "odd fleet")
    done = fleetc("commit", odd, "--out", "rendered", cwd=repo)
    assert done.returncode == 0, done.stderr
    subject = git(repo, "log", "-1", "--format=%s")
    assert subject.startswith("fleetc: render fleet") and "\\n" in subject, subject
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Signed-off-by)")
    assert trailers.strip() == ""
