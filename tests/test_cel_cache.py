"""The CEL parser's tables are cached as JSON in a private directory; a hostile cache is harmless.

A cache another user could write must never run code (lark's own cache is a pickle), and a
symlink at the cache path must not make fleetc write through it.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FLEETS

CONTOSO = FLEETS / "contoso" / "fleet.yaml"  # has a CEL guardrail


def _validate(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "compiler", "validate", str(CONTOSO)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _ok(cache: Path) -> None:
    done = _validate(cache)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("content", [None, b"", b"garbage\n\x80\x81", b"0" * 64 + b"\n", b"{}"])
def test_parser_cache_is_created_and_survives_corruption(
    tmp_path: Path, content: bytes | None
) -> None:
    cache_file = tmp_path / "fleetc" / "cel-parser.json"
    if content is not None:
        cache_file.parent.mkdir(parents=True, mode=0o700)
        cache_file.write_bytes(content)
        cache_file.chmod(0o600)
    _ok(tmp_path)
    assert cache_file.stat().st_size > 10_000  # rebuilt and written
    assert json.loads(cache_file.read_bytes())["key"]  # data, not a pickle
    assert cache_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "fleetc").stat().st_mode & 0o777 == 0o700
    before = cache_file.stat()
    _ok(tmp_path)
    after = cache_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # read, kept


def test_unwritable_cache_directory_is_harmless(tmp_path: Path) -> None:
    (tmp_path / "fleetc").write_text("a file where the directory should be")
    _ok(tmp_path)


class _Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    directory = tmp_path / "fleetc"
    directory.mkdir(mode=0o700)
    payload = pickle.dumps(_Payload(marker))
    for name in ("cel-parser.json", "cel-parser.lark-cache"):
        (directory / name).write_bytes(b"0" * 64 + b"\n" + payload + payload)
        (directory / name).chmod(0o600)
    _ok(tmp_path)
    assert not marker.exists()
    assert not list(Path.cwd().glob(".lark_cache*"))  # lark's own cache is never used


def test_a_symlink_at_the_cache_path_is_replaced_not_written_through(tmp_path: Path) -> None:
    directory = tmp_path / "fleetc"
    directory.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (directory / "cel-parser.json").symlink_to(victim)
    _ok(tmp_path)
    assert victim.read_text() == "precious\n"
    assert not (directory / "cel-parser.json").is_symlink()


def test_a_cache_others_can_write_is_not_read(tmp_path: Path) -> None:
    _ok(tmp_path)
    cache_file = tmp_path / "fleetc" / "cel-parser.json"
    doc = json.loads(cache_file.read_bytes())
    doc["key"] = "forged"  # so a rewrite shows; the bytes below are never read as tables
    cache_file.write_text(json.dumps(doc))
    cache_file.chmod(0o666)  # group and world writable: not ours alone
    _ok(tmp_path)
    assert json.loads(cache_file.read_bytes())["key"] != "forged"
    assert cache_file.stat().st_mode & 0o777 == 0o600


def test_a_shared_cache_directory_is_neither_read_nor_written(tmp_path: Path) -> None:
    directory = tmp_path / "fleetc"
    directory.mkdir()
    directory.chmod(0o777)
    _ok(tmp_path)
    assert list(directory.iterdir()) == []
    if os.geteuid() == 0:  # a directory owned by another user, even if private
        directory.chmod(0o700)
        os.chown(directory, 65534, 65534)
        _ok(tmp_path)
        assert list(directory.iterdir()) == []


def test_a_symlinked_cache_directory_is_not_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "fleetc").symlink_to(elsewhere)
    _ok(cache)
    assert list(elsewhere.iterdir()) == []
