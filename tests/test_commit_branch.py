"""`fleetc commit --branch` and `--push` against real git repositories and a bare remote.

The deploy branch is built with plumbing, so the checks here are about what must NOT move
(working tree, index, HEAD), what must be kept (the rest of the branch), and what a race or a
rejected push does (no lost commit, linear history, a clean exit 1).
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.emit.branch import Conflict, branch_commit, push
from compiler.emit.git import Committed, GitError, locate
from tests.conftest import FLEETS
from tests.emit_support import at_once, fleetc, require_renderers, snapshot
from tests.test_commit import fleet_repo, git, make_repo


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_repo(tmp_path, monkeypatch)


def state(repo: Path) -> tuple[str, str, str, str, str]:
    """Everything --branch must leave alone: status, HEAD, its branch, the index, the diff."""
    return (
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "ls-files", "--stage"),
        git(repo, "diff", "--cached", "HEAD"),
    )


def trailer(repo: Path, rev: str, key: str) -> str:
    return git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)", rev).strip()


def branch_files(repo: Path, rev: str, prefix: str) -> dict[str, bytes]:
    """path (relative to `prefix`) -> bytes of every file under `prefix` at `rev`."""
    listing = git(repo, "ls-tree", "-r", "-z", "--full-tree", rev, "--", prefix)
    files: dict[str, bytes] = {}
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, oid = meta.split()
        assert (mode, kind) == ("100644", "blob"), entry
        blob = subprocess.run(["git", "cat-file", "blob", oid], cwd=repo, capture_output=True)
        files[path.removeprefix(prefix + "/")] = blob.stdout
    return files


def tip(repo: Path, branch: str = "deploy") -> str:
    return git(repo, "rev-parse", f"refs/heads/{branch}").strip()


def test_first_run_creates_the_branch_and_touches_nothing(repo: Path, tmp_path: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    (repo / "staged.txt").write_text("user's staged work\n")
    git(repo, "add", "staged.txt")
    (repo / "README").write_text("unstaged edit\n")
    (repo / "untracked.txt").write_text("x\n")
    before = state(repo)
    proc = fleetc("commit", "--branch", "deploy", "--out", "rendered", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "committed rendered on deploy" in proc.stderr
    assert state(repo) == before
    assert not (repo / "rendered").exists()
    # the branch holds exactly what `render` writes (minus the private cache), all 100644
    expected = tmp_path / "expected"
    assert fleetc("render", "fleet.yaml", "--out", str(expected), cwd=repo).returncode == 0
    assert branch_files(repo, "deploy", "rendered") == snapshot(expected)
    assert git(repo, "rev-list", "--parents", "-n1", "deploy").split() == [tip(repo)]
    assert trailer(repo, "deploy", "Fleetc-Source-Commit") == before[1].strip()


def test_no_change_no_commit_then_one_commit_on_the_previous_tip(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    assert fleetc("commit", "--branch", "deploy", cwd=repo).returncode == 0
    first = tip(repo)
    again = fleetc("commit", "--branch", "deploy", cwd=repo)
    assert again.returncode == 0 and "nothing to commit" in again.stderr
    assert tip(repo) == first
    shutil.copy(FLEETS / "contoso" / "fleet.yaml", repo / "fleet.yaml")
    git(repo, "commit", "-q", "-am", "fleet: contoso")
    source = git(repo, "rev-parse", "HEAD").strip()
    proc = fleetc("commit", "--branch", "deploy", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "rev-parse", "deploy~1").strip() == first
    assert trailer(repo, "deploy", "Fleetc-Source-Commit") == source
    digest = hashlib.sha256((repo / "fleet.yaml").read_bytes()).hexdigest()
    assert trailer(repo, "deploy", "Fleetc-Source-Digest") == f"sha256:{digest}"
    assert trailer(repo, "deploy", "Fleetc-Version")
    assert git(repo, "status", "--porcelain") == ""


def test_dirty_fleet_file_is_refused_and_nothing_is_committed(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    (repo / "fleet.yaml").write_text((repo / "fleet.yaml").read_text() + "# edited\n")
    proc = fleetc("commit", "--branch", "deploy", cwd=repo)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "committed and unmodified" in proc.stderr and "dirty" in proc.stderr
    assert git(repo, "branch", "--list", "deploy") == ""


def put_on_branch(repo: Path, branch: str, files: dict[str, str]) -> None:
    """Give `branch` some content of its own (test setup may switch branches; fleetc may not)."""
    git(repo, "switch", "-q", "-c", branch)
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
        git(repo, "add", path)
    git(repo, "commit", "-q", "-m", f"{branch}: hand-written content")
    git(repo, "switch", "-q", "main")
    for path in files:
        assert not (repo / path).exists()


def test_the_rest_of_the_branch_is_kept(repo: Path) -> None:
    put_on_branch(
        repo,
        "deploy",
        {"envs/prod/old.yaml": "stale\n", "envs/staging/x.yaml": "s\n", "docs/k.md": "k\n"},
    )
    base = tip(repo)
    before = state(repo)
    done = branch_commit(repo, "envs/prod", {"a.yaml": b"a\n", "b/c.yaml": b"c\n"}, "deploy", "m")
    assert done.commit == tip(repo) and git(repo, "rev-parse", "deploy~1").strip() == base
    files = branch_files(repo, "deploy", ".")
    assert files == {
        "README": b"fleet repo\n",
        "docs/k.md": b"k\n",
        "envs/prod/a.yaml": b"a\n",
        "envs/prod/b/c.yaml": b"c\n",
        "envs/staging/x.yaml": b"s\n",
    }
    assert state(repo) == before


def test_a_file_at_dir_is_replaced_and_a_submodule_elsewhere_kept(repo: Path) -> None:
    readme = git(repo, "rev-parse", "HEAD:README").strip()
    gitlink = "1" * 40  # a submodule's commit, not an object of this repository
    entries = f"100644 blob {readme}\tout\x00160000 commit {gitlink}\tvendor\x00"
    root = subprocess.run(
        ["git", "mktree", "-z", "--missing"],
        cwd=repo,
        input=entries,
        capture_output=True,
        text=True,
    ).stdout.strip()
    base = git(repo, "commit-tree", root, "-m", "setup").strip()
    git(repo, "update-ref", "refs/heads/deploy", base)
    branch_commit(repo, "out", {"a.yaml": b"a\n"}, "deploy", "m")
    listing = git(repo, "ls-tree", "-r", "deploy").splitlines()
    assert f"160000 commit {gitlink}\tvendor" in listing
    assert [line.split("\t")[1] for line in listing] == ["out/a.yaml", "vendor"]


def test_a_checked_out_branch_or_a_bad_name_is_refused(repo: Path) -> None:
    with pytest.raises(GitError, match="checked out"):
        branch_commit(repo, "out", {"a.yaml": b"a\n"}, "main", "m")
    with pytest.raises(GitError, match="not a valid branch name"):
        branch_commit(repo, "out", {"a.yaml": b"a\n"}, "bad..name", "m")


def test_a_ref_moved_before_the_swap_is_rebuilt_on_the_new_tip(repo: Path) -> None:
    branch_commit(repo, "one", {"a.yaml": b"1\n"}, "deploy", "first")
    first = tip(repo)
    interloper: list[Committed] = []

    def race() -> None:  # another run lands between our read of the tip and our swap
        if not interloper:
            interloper.append(branch_commit(repo, "two", {"b.yaml": b"2\n"}, "deploy", "other"))

    done = branch_commit(repo, "three", {"c.yaml": b"3\n"}, "deploy", "ours", before_update=race)
    assert done.commit == tip(repo)
    chain = git(repo, "rev-list", "--first-parent", "deploy").split()
    assert chain == [done.commit, interloper[0].commit, first]
    assert set(branch_files(repo, "deploy", ".")) == {"one/a.yaml", "two/b.yaml", "three/c.yaml"}


def test_a_race_lost_on_every_attempt_is_a_conflict(repo: Path) -> None:
    count = iter(range(100))

    def always_race() -> None:
        branch_commit(repo, f"other{next(count)}", {"b.yaml": b"2\n"}, "deploy", "other")

    with pytest.raises(Conflict, match="kept moving"):
        branch_commit(
            repo, "ours", {"a.yaml": b"1\n"}, "deploy", "m", attempts=3, before_update=always_race
        )
    assert "ours/a.yaml" not in branch_files(repo, "deploy", ".")


def test_racing_threads_lose_no_commit(repo: Path) -> None:
    runs = 6
    barrier = threading.Barrier(runs)
    results: dict[int, Committed | Exception] = {}

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = branch_commit(
                repo, f"d{i}", {"f.yaml": f"{i}\n".encode()}, "deploy", f"{i}"
            )
        except Exception as exc:  # recorded, checked below: only a clean Conflict is allowed
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    won = {i: r.commit for i, r in results.items() if isinstance(r, Committed)}
    assert all(isinstance(r, Conflict) for i, r in results.items() if i not in won), results
    assert len(results) == runs and won
    history = git(repo, "rev-list", "deploy").split()
    assert git(repo, "rev-list", "--min-parents=2", "deploy") == ""  # linear
    assert sorted(history) == sorted(c for c in won.values() if c)  # no lost, no extra
    assert set(branch_files(repo, "deploy", ".")) == {f"d{i}/f.yaml" for i in won}


def test_two_racing_commands_both_succeed_and_commit_once(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    codes, errors = at_once(repo, "commit", "--branch", "deploy")
    assert codes == [0, 0], errors
    assert sum("committed" in e for e in errors) == 1, errors
    assert sum("nothing to commit" in e for e in errors) == 1, errors
    assert len(git(repo, "rev-list", "deploy").split()) == 1


# -- pushing to a bare remote ------------------------------------------------------------------


def remote(repo: Path) -> Path:
    bare = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    return bare


def test_push_to_a_bare_remote_then_a_rejected_push_is_a_clean_error(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    bare = remote(repo)
    proc = fleetc("commit", "--branch", "deploy", "--push", "origin", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "pushed deploy to origin" in proc.stderr
    assert git(bare, "rev-parse", "refs/heads/deploy").strip() == tip(repo)
    # someone else moves the remote branch; our next commit is not a fast-forward of it
    other = branch_commit(repo, "elsewhere", {"x.yaml": b"x\n"}, "other", "someone else")
    assert other.commit is not None
    git(repo, "push", "-q", "--force", "origin", f"{other.commit}:refs/heads/deploy")
    shutil.copy(FLEETS / "contoso" / "fleet.yaml", repo / "fleet.yaml")
    git(repo, "commit", "-q", "-am", "fleet: contoso")
    proc = fleetc("commit", "--branch", "deploy", "--push", "origin", cwd=repo)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "rejected" in proc.stderr and "committed rendered on deploy" in proc.stderr
    assert git(bare, "rev-parse", "refs/heads/deploy").strip() == other.commit


def test_push_in_place_pushes_the_current_branch(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    bare = remote(repo)
    proc = fleetc("commit", "--out", "rendered", "--push", "origin", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "pushed main to origin" in proc.stderr
    assert git(bare, "rev-parse", "refs/heads/main") == git(repo, "rev-parse", "HEAD")
    assert git(bare, "ls-tree", "--name-only", "main").split() == [
        "README",
        "fleet.yaml",
        "rendered",
    ]


def test_a_push_refused_for_another_reason_is_a_git_error(repo: Path) -> None:
    bare = remote(repo)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho protected >&2\nexit 1\n")
    hook.chmod(0o755)
    branch_commit(repo, "out", {"a.yaml": b"a\n"}, "deploy", "m")
    with pytest.raises(GitError, match="refused") as caught:
        push(repo, "origin", "deploy")
    assert not isinstance(caught.value, Conflict)
    with pytest.raises(GitError, match="push failed") as caught:
        push(repo, "nowhere", "deploy")
    assert not isinstance(caught.value, Conflict)


def test_locate_places_a_directory_that_does_not_exist_yet(repo: Path) -> None:
    (repo / "sub").mkdir()
    assert locate(repo / "sub" / ".." / "deploy" / "prod") == (repo.resolve(), "deploy/prod")
    assert locate(repo / "sub" / "..") == (repo.resolve(), ".")
    with pytest.raises(GitError):  # inside .git: refused, whichever check sees it first
        locate(repo / ".git" / "x")
    with pytest.raises(GitError, match="not inside a git repository"):
        locate(repo.parent / "elsewhere")


def test_a_fresh_clone_builds_on_the_remote_deploy_branch(repo: Path) -> None:
    require_renderers()
    fleet_repo(repo)
    bare = remote(repo)
    git(repo, "push", "-q", "origin", "main")
    kept = branch_commit(repo, "docs", {"k.md": b"k\n"}, "deploy", "hand-written")
    git(repo, "push", "-q", "origin", "deploy")
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", "-b", "main", str(bare), str(clone))
    proc = fleetc("commit", "--branch", "deploy", "--push", "origin", cwd=clone)
    assert proc.returncode == 0, proc.stderr
    assert git(bare, "rev-parse", "deploy~1").strip() == kept.commit
    assert "docs/k.md" in git(bare, "ls-tree", "-r", "--name-only", "deploy").split()


# -- property: the branch after a commit is the model "old files outside DIR + new files" -----

SEGMENT = st.sampled_from(["a", "b", "c"])
PATHS = st.lists(SEGMENT, min_size=1, max_size=3).map("/".join)


def consistent(paths: list[str]) -> dict[str, bytes]:
    """Files whose paths are not also directories of each other (git cannot hold both)."""
    kept: dict[str, bytes] = {}
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        parents = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)}
        if not parents & kept.keys():
            kept[path] = path.encode() + b"\n"
    return kept


BRANCHES = itertools.count()


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(PATHS, max_size=8), PATHS, st.lists(PATHS, min_size=1, max_size=6))
def test_branch_tree_matches_the_model(
    repo: Path, old_paths: list[str], directory: str, new_paths: list[str]
) -> None:
    old = consistent(old_paths)
    new = {path: b"new " + data for path, data in consistent(new_paths).items()}
    branch = f"b{next(BRANCHES)}"
    if old:
        branch_commit(repo, ".", old, branch, "base")
    done = branch_commit(repo, directory, new, branch, "render")
    ancestors = {"/".join(directory.split("/")[:i]) for i in range(1, directory.count("/") + 1)}
    model = {
        path: data
        for path, data in old.items()
        if path != directory and not path.startswith(directory + "/") and path not in ancestors
    }
    model.update({f"{directory}/{path}": data for path, data in new.items()})
    assert branch_files(repo, f"refs/heads/{branch}", ".") == model
    assert done.commit == tip(repo, branch)
    assert branch_commit(repo, directory, new, branch, "again").commit is None
