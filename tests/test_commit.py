"""`fleetc commit` and `compiler.emit.git` against real git repositories in temp dirs."""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler import __version__
from compiler.emit.git import GitError, commit, source_state, with_trailers
from compiler.emit.serialize import build_tree
from compiler.emit.write import locked
from compiler.render.output import File
from tests.conftest import FLEETS, require_tool
from tests.emit_support import at_once, fleetc, require_renderers, snapshot

IDENTITY = {
    "GIT_AUTHOR_NAME": "Fleet Test",
    "GIT_AUTHOR_EMAIL": "fleet@example.invalid",
    "GIT_COMMITTER_NAME": "Fleet Test",
    "GIT_COMMITTER_EMAIL": "fleet@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit, under an isolated git identity and config."""
    require_tool("git")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README").write_text("fleet repo\n")
    git(root, "add", "README")
    git(root, "commit", "-q", "-m", "initial")
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_repo(tmp_path, monkeypatch)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def put(out: Path, files: dict[str, str]) -> None:
    tree = build_tree([File(p, c) for p, c in files.items()], "demo", "fleet.yaml", b"x", "1")
    with locked(out, create=True) as output:
        output.write(tree.items())


def test_commits_only_the_output_directory(repo: Path) -> None:
    (repo / "other.txt").write_text("user's staged work\n")
    git(repo, "add", "other.txt")
    put(repo / "rendered", {"clusters/a/x.yaml": "1\n"})
    done = commit(repo / "rendered", "fleetc: render demo")
    assert done.commit is not None and done.pathspec == "rendered"
    assert git(repo, "rev-parse", "HEAD").strip() == done.commit
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert "other.txt" not in files and "rendered/clusters/a/x.yaml" in files
    assert "rendered/.fleetc/manifest.json" in files
    assert git(repo, "diff", "--cached", "--name-only").split() == ["other.txt"]


def test_no_commit_when_unchanged_and_prune_is_committed(repo: Path) -> None:
    out = repo / "rendered"
    put(out, {"a.yaml": "1\n", "b.yaml": "2\n"})
    first = commit(out, "one").commit
    assert commit(out, "again").commit is None
    assert git(repo, "rev-parse", "HEAD").strip() == first
    put(out, {"a.yaml": "1\n"})
    assert commit(out, "pruned").commit is not None
    assert "rendered/b.yaml" not in git(repo, "ls-files").split()


def test_cache_and_journal_stay_out_of_git(repo: Path) -> None:
    out = repo / "rendered"
    put(out, {"a.yaml": "1\n"})
    with locked(out, create=False) as output:
        output.remember("key")
    assert (out / ".fleetc/cache.json").exists()
    commit(out, "one")
    assert "rendered/.fleetc/cache.json" not in git(repo, "ls-files").split()


def test_first_commit_in_empty_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("git")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    put(root / "out", {"a.yaml": "1\n"})
    assert commit(root / "out", "first").commit is not None
    assert commit(root / "out", "second").commit is None


def test_refuses_outside_a_repository(tmp_path: Path) -> None:
    require_tool("git")
    put(tmp_path / "out", {"a.yaml": "1\n"})
    with pytest.raises(GitError, match="not inside a git repository"):
        commit(tmp_path / "out", "x")


def test_someone_elses_index_lock_is_reported_not_deleted(repo: Path) -> None:
    put(repo / "rendered", {"a.yaml": "1\n"})
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    with pytest.raises(GitError, match=r"index\.lock"):
        commit(repo / "rendered", "x", lock_wait=0.5)
    assert lock.exists()
    lock.unlink()
    assert commit(repo / "rendered", "x").commit is not None


# -- the command, end to end ---------------------------------------------------------------


def fleet_repo(repo: Path, fleet: str = "minimal") -> Path:
    shutil.copy(FLEETS / fleet / "fleet.yaml", repo / "fleet.yaml")
    git(repo, "add", "fleet.yaml")
    git(repo, "commit", "-q", "-m", "fleet")
    return repo


def test_commit_command_commits_then_says_nothing_changed(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    first = fleetc("commit", "fleet.yaml", "--out", "rendered", cwd=repo)
    assert first.returncode == 0, first.stderr
    assert "committed rendered" in first.stderr
    message = git(repo, "log", "-1", "--format=%B")
    assert "minimal" in message and "sha256:" in message
    head = git(repo, "rev-parse", "HEAD")
    second = fleetc("commit", "fleet.yaml", "--out", "rendered", cwd=repo)
    assert second.returncode == 0 and "nothing to commit" in second.stderr
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""


def test_commit_command_outside_repository_writes_nothing(tmp_path: Path) -> None:
    require_tool("git")
    shutil.copy(FLEETS / "minimal" / "fleet.yaml", tmp_path / "fleet.yaml")
    proc = fleetc("commit", "fleet.yaml", "--out", "rendered", cwd=tmp_path)
    assert proc.returncode == 2
    assert "not inside a git repository" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "rendered").exists()


def test_commit_command_with_fleet_errors_commits_nothing(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    text = (repo / "fleet.yaml").read_text().replace("id: 2", "id: 1")
    (repo / "fleet.yaml").write_text(text)
    head = git(repo, "rev-parse", "HEAD")
    proc = fleetc("commit", "fleet.yaml", "--out", "rendered", cwd=repo)
    assert proc.returncode == 1 and "fleet.yaml:" in proc.stderr
    assert not (repo / "rendered").exists()
    assert git(repo, "rev-parse", "HEAD") == head


def test_commit_command_recommits_after_manual_edit(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    assert fleetc("commit", "--out", "rendered", cwd=repo).returncode == 0
    rendered = snapshot(repo / "rendered")
    victim = sorted(p for p in rendered if p.endswith(".yaml") and "/" in p)[0]
    (repo / "rendered" / victim).write_text("hand edit\n")
    git(repo, "commit", "-q", "-am", "someone edited generated output")
    proc = fleetc("commit", "--out", "rendered", cwd=repo)
    assert proc.returncode == 0 and "committed" in proc.stderr
    assert snapshot(repo / "rendered") == rendered
    assert git(repo, "status", "--porcelain") == ""


def tree_at(repo: Path, rev: str) -> str:
    return git(repo, "ls-tree", "-r", rev, "--", "rendered")


def test_two_commits_at_once_serialise(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    codes, errors = at_once(repo, "commit", "--out", "rendered")
    assert codes == [0, 0], errors
    assert sum("committed" in e for e in errors) == 1
    assert sum("nothing to commit" in e for e in errors) == 1
    assert git(repo, "status", "--porcelain") == ""


def test_sigkill_commit_at_random_moments(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    minimal = (repo / "fleet.yaml").read_text()
    contoso = (FLEETS / "contoso" / "fleet.yaml").read_text()
    rng = random.Random(11)
    start = time.monotonic()
    assert fleetc("commit", "--out", "rendered", cwd=repo).returncode == 0
    duration = time.monotonic() - start
    for round_ in range(6):
        text = contoso if round_ % 2 == 0 else minimal
        (repo / "fleet.yaml").write_text(text)
        git(repo, "commit", "-q", "-am", f"fleet change {round_}")
        old_head = git(repo, "rev-parse", "HEAD").strip()
        proc = subprocess.Popen(
            [sys.executable, "-m", "compiler", "commit", "--out", "rendered"],
            cwd=repo,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 1.2) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        head = git(repo, "rev-parse", "HEAD").strip()
        # HEAD is the old commit or one new commit on top of it, never anything else
        assert head == old_head or git(repo, "rev-parse", "HEAD~1").strip() == old_head
        done = fleetc("commit", "--out", "rendered", cwd=repo)  # recovers on its own
        assert done.returncode == 0, done.stderr
        assert git(repo, "status", "--porcelain") == ""
        assert fleetc("render", "--out", "rendered", "--check", cwd=repo).returncode == 0
        assert git(repo, "fsck", "--no-progress").strip() == ""


def test_directory_names_are_literal_pathspecs(repo: Path) -> None:
    put(repo / "out [x]*", {"a.yaml": "1\n"})
    put(repo / "out x", {"b.yaml": "2\n"})  # would match the glob `out [x]*`
    done = commit(repo / "out [x]*", "literal")
    assert done.commit is not None
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split("\n")
    assert "out [x]*/a.yaml" in files and not any(f.startswith("out x/") for f in files)


# -- trailers: which source commit a rendered commit came from ------------------------------


def trailers(repo: Path, rev: str = "HEAD") -> list[str]:
    message = git(repo, "log", "-1", "--format=%B", rev)
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    )
    return parsed.stdout.splitlines()


def test_in_place_commit_names_its_source_commit_and_leaves_staged_work(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    source = git(repo, "rev-parse", "HEAD").strip()
    (repo / "other.txt").write_text("user's staged work\n")
    git(repo, "add", "other.txt")
    proc = fleetc("commit", "--out", "rendered", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    digest = hashlib.sha256((repo / "fleet.yaml").read_bytes()).hexdigest()
    assert trailers(repo) == [
        f"Fleetc-Source-Commit: {source}",
        f"Fleetc-Source-Digest: sha256:{digest}",
        f"Fleetc-Version: {__version__}",
    ]
    assert git(repo, "rev-parse", "HEAD~1").strip() == source
    assert "other.txt" not in git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert git(repo, "diff", "--cached", "--name-only").split() == ["other.txt"]


def test_in_place_commit_of_a_dirty_fleet_says_so(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    (repo / "fleet.yaml").write_text((repo / "fleet.yaml").read_text() + "# not committed\n")
    proc = fleetc("commit", "--out", "rendered", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    lines = trailers(repo)
    assert "Fleetc-Source: working tree (dirty)" in lines
    assert not any(line.startswith("Fleetc-Source-Commit") for line in lines)


def test_source_state_compares_the_rendered_bytes_with_head(repo: Path) -> None:
    fleet = repo / "fleet.yaml"
    fleet.write_text("a\n")
    digest = hashlib.sha256(b"a\n").hexdigest()
    assert source_state(fleet, digest).detail == "untracked (not in HEAD)"
    git(repo, "add", "fleet.yaml")
    git(repo, "commit", "-q", "-m", "fleet")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert source_state(fleet, digest).commit == head
    # the file changed after it was read: what counts is the digest of what was rendered
    fleet.write_text("b\n")
    assert source_state(fleet, digest).commit == head
    assert source_state(fleet, hashlib.sha256(b"b\n").hexdigest()).detail == "working tree (dirty)"
    assert source_state(repo.parent / "elsewhere.yaml", digest).detail == "not in a git repository"


def test_trailers_join_an_existing_trailer_block(repo: Path) -> None:
    message = "deploy\n\nbody text\n\nSigned-off-by: A <a@example.invalid>\n"
    out = with_trailers(message, [("Fleetc-Version", "1"), ("Fleetc-Source", "x")], repo)
    assert out.startswith("deploy\n\nbody text\n\nSigned-off-by:")
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=out, capture_output=True, text=True
    ).stdout.splitlines()
    assert parsed == [
        "Signed-off-by: A <a@example.invalid>",
        "Fleetc-Version: 1",
        "Fleetc-Source: x",
    ]
    plain = with_trailers("subject only", [("Fleetc-Version", "1")], repo)
    assert plain == "subject only\n\nFleetc-Version: 1\n"
