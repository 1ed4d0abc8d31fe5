"""The output directory under a hostile tree or environment: deep nesting, system roots, a
forged journal, odd entries in ``.fleetc/``, a full or read-only filesystem, no permission.

Real filesystems throughout: a tmpfs of 1 MiB for ENOSPC, a read-only tmpfs for EROFS (both
need root to mount; skipped with the reason otherwise, never under CI), a directory owned by
root for EACCES as an unprivileged user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FLEETS, missing
from tests.emit_support import fleetc, require_renderers, snapshot


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    require_renderers()
    path = tmp_path / "fleet.yaml"
    shutil.copy(FLEETS / "minimal" / "fleet.yaml", path)
    return path


def _render(fleet: Path, out: Path | str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return fleetc("render", str(fleet), "--out", str(out), cwd=fleet.parent, **kwargs)  # type: ignore[arg-type]


def test_deeply_nested_directories_are_walked_without_recursion(
    fleet: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _render(fleet, out).returncode == 0
    deep = out / "stranger"
    deep.mkdir()
    path = deep
    for _ in range(1200):  # ~2,400 characters: under PATH_MAX, over Python's recursion limit
        path = path / "d"
        path.mkdir()  # one level at a time: pathlib's parents=True recurses
    done = _render(fleet, out)
    assert done.returncode == 0, done.stderr  # empty directories are no files: nothing unowned
    assert "internal error" not in done.stderr and "RecursionError" not in done.stderr
    (path / "f").write_text("a stranger's file\n")
    done = _render(fleet, out)
    assert done.returncode == 2 and "does not own" in done.stderr, done.stderr
    assert (path / "f").exists()


@pytest.mark.parametrize("target", ["/", "/usr", "/etc", "/tmp", "/usr/local", "/var/lib", "HOME"])
def test_system_roots_are_refused_before_anything_is_walked(
    fleet: Path, tmp_path: Path, target: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = str(home) if target == "HOME" else target
    before = sorted(os.listdir(out))
    started = time.monotonic()
    done = fleetc("render", str(fleet), "--out", out, cwd=tmp_path, env={"HOME": str(home)})
    assert done.returncode == 2, done.stderr
    assert "refusing --out" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 30
    assert sorted(os.listdir(out)) == before
    # a path that only resolves to one is refused alike
    (tmp_path / "link").symlink_to(out)
    done = fleetc("render", str(fleet), "--out", "link/.", cwd=tmp_path, env={"HOME": str(home)})
    assert done.returncode == 2 and "refusing --out" in done.stderr


def test_a_forged_journal_deletes_and_replaces_nothing_fleetc_does_not_own(
    fleet: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _render(fleet, out).returncode == 0
    before = snapshot(out)
    (out / "precious.txt").write_text("not fleetc's\n")
    staging = out / ".fleetc" / "staging-forged"
    staging.mkdir()
    (staging / "README.md").write_text("replaced\n")
    owned = json.loads((out / ".fleetc" / "manifest.json").read_text())["files"]
    journal = {"staging": "staging-forged", "move": [], "delete": ["precious.txt"]}
    (out / ".fleetc" / "journal.json").write_text(json.dumps(journal))
    done = _render(fleet, out)
    assert (out / "precious.txt").read_text() == "not fleetc's\n"  # never deleted
    assert done.returncode == 2 and "does not own" in done.stderr  # and still refused
    # a journal that would move a staged file over a stranger's file is refused
    (out / "precious.txt").unlink()
    (out / "README.md").write_text("the user's\n")
    assert "README.md" not in {f["path"] for f in owned}
    staging.mkdir()  # the first recovery swept it
    (staging / "README.md").write_text("replaced\n")
    journal = {"staging": "staging-forged", "move": ["README.md"], "delete": []}
    (out / ".fleetc" / "journal.json").write_text(json.dumps(journal))
    done = _render(fleet, out)
    assert done.returncode == 2 and "would replace" in done.stderr, done.stderr
    assert (out / "README.md").read_text() == "the user's\n"
    (out / "README.md").unlink()
    (out / ".fleetc" / "journal.json").unlink()
    assert _render(fleet, out).returncode == 0
    assert snapshot(out) == before


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink", "staging-file"])
def test_odd_entries_named_tmp_in_the_metadata_directory(
    fleet: Path, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / "out"
    assert _render(fleet, out).returncode == 0
    odd = out / ".fleetc" / "x.tmp"
    if kind == "directory":
        (odd / "inner").mkdir(parents=True)
    elif kind == "fifo":
        os.mkfifo(odd)
    elif kind == "staging-file":
        (out / ".fleetc" / "staging-0123").write_text("a file named like staging\n")
    else:
        odd.symlink_to(tmp_path / "fleet.yaml")
    for _ in range(2):
        _drop_one(out)
        done = _render(fleet, out, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "internal error" not in done.stderr
    assert (tmp_path / "fleet.yaml").exists()


def _drop_one(out: Path) -> None:
    """Delete one rendered file, so the next render takes the slow path (and recovery)."""
    manifest = json.loads((out / ".fleetc" / "manifest.json").read_text())
    (out / manifest["files"][0]["path"]).unlink()


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        missing(f"{what} needs root (to mount a small tmpfs)")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    _require_root("a real ENOSPC/EROFS")
    mount = tmp_path / "mnt"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_filesystem_is_an_environment_error_and_leaves_nothing(
    tmp_path: Path, tmpfs: Path
) -> None:
    require_renderers()
    fleet = tmp_path / "fleet.yaml"
    shutil.copy(FLEETS / "contoso" / "fleet.yaml", fleet)  # more than 1 MiB rendered? fill up
    (tmpfs / "filler").write_bytes(b"x" * (1024 * 1024 - 16 * 1024))
    out = tmpfs / "deep" / "out"
    done = _render(fleet, out)
    assert done.returncode == 2, done.stderr
    assert "no space left" in done.stderr and str(tmpfs) in done.stderr, done.stderr
    assert "internal error" not in done.stderr
    assert sorted(os.listdir(tmpfs)) == ["filler"]  # no empty DIR, no parent created for it


def test_a_read_only_filesystem_is_an_environment_error(tmp_path: Path, tmpfs: Path) -> None:
    require_renderers()
    fleet = tmp_path / "fleet.yaml"
    shutil.copy(FLEETS / "minimal" / "fleet.yaml", fleet)
    out = tmpfs / "out"
    assert _render(fleet, out).returncode == 0
    _drop_one(out)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    done = _render(fleet, out)
    assert done.returncode == 2, done.stderr
    assert "read-only" in done.stderr and str(out) in done.stderr, done.stderr
    assert "internal error" not in done.stderr
    done = _render(fleet, tmpfs / "new")
    assert done.returncode == 2 and "read-only" in done.stderr, done.stderr


def test_no_permission_is_an_environment_error(fleet: Path, tmp_path: Path) -> None:
    # root ignores permissions; without CAP_DAC_OVERRIDE it is refused like anyone else
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        missing("a real EACCES needs root and setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
        return
    closed = tmp_path / "closed"
    closed.mkdir()
    closed.chmod(0o555)
    done = subprocess.run(
        [
            setpriv,
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
            sys.executable,
            "-m",
            "compiler",
            "render",
            str(fleet),
            "--out",
            str(closed / "deeper" / "out"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "permission denied" in done.stderr and str(closed) in done.stderr, done.stderr
    assert "internal error" not in done.stderr
    assert os.listdir(closed) == []
