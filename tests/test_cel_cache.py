"""The CEL parser's tables are cached in the user's cache directory, and a bad cache is harmless."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize("content", [None, b"", b"garbage\n\x80\x81", b"0" * 64 + b"\n"])
def test_parser_cache_is_created_and_survives_corruption(
    tmp_path: Path, content: bytes | None
) -> None:
    cache_file = tmp_path / "fleetc" / "cel-parser.lark-cache"
    if content is not None:
        cache_file.parent.mkdir(parents=True)
        cache_file.write_bytes(content)
    done = _validate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert cache_file.stat().st_size > 10_000  # rebuilt and written
    again = _validate(tmp_path)
    assert again.returncode == 0 and again.stderr == ""


def test_unwritable_cache_directory_is_harmless(tmp_path: Path) -> None:
    (tmp_path / "fleetc").write_text("a file where the directory should be")
    done = _validate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
