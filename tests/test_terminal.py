"""Colour and progress only for a person at a terminal; `-o json` is always JSON on stdout."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FLEETS
from tests.emit_support import require_renderers

BAD = (FLEETS / "minimal" / "fleet.yaml").read_text() + "  nonsense: 1\n"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "FORCE_COLOR")}
    env.pop("TERM", None)
    env["TERM"] = "xterm"
    return {**env, **extra}


def _run(cwd: Path, args: list[str], env: dict[str, str], tty: bool) -> tuple[int, str, str]:
    """fleetc with stderr on a pseudo-terminal (`tty`) or a pipe: (exit, stdout, stderr)."""
    command = [sys.executable, "-m", "compiler", *args]
    if not tty:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout = proc.stdout.read() if proc.stdout else b""
    code = proc.wait()
    os.close(leader)
    return code, stdout.decode(), b"".join(chunks).decode()


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    (tmp_path / "fleet.yaml").write_text(BAD)
    return tmp_path


@pytest.mark.parametrize(
    ("env", "tty", "coloured"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"CI": "true"}, True, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
        ({"TERM": "dumb"}, True, False),
    ],
)
def test_diagnostics_are_coloured_only_for_a_terminal(
    bad: Path, env: dict[str, str], tty: bool, coloured: bool
) -> None:
    code, _, err = _run(bad, ["validate"], _env(**env), tty)
    assert code == 1
    assert "error[model-unknown-field]" in err.replace("\x1b[1;31m", "").replace("\x1b[0m", "")
    assert ("\x1b[" in err) is coloured, repr(err)


@pytest.mark.parametrize(
    ("env", "tty", "shown"), [({}, True, True), ({"CI": "1"}, True, False), ({}, False, False)]
)
def test_render_shows_progress_only_for_a_terminal(
    tmp_path: Path, env: dict[str, str], tty: bool, shown: bool
) -> None:
    require_renderers()
    (tmp_path / "fleet.yaml").write_bytes((FLEETS / "contoso" / "fleet.yaml").read_bytes())
    code, _, err = _run(tmp_path, ["render", "--out", "out"], _env(**env), tty)
    assert code == 0, err
    assert ("\r\x1b[Kfleetc: compiling fleet.yaml" in err) is shown, repr(err)
    if shown:  # the line is cleared before the final status
        assert err.rindex("\r\x1b[K") < err.index("fleetc: out: wrote")


def _check_json(cwd: Path, *extra: str) -> tuple[int, dict[str, object]]:
    code, out, _ = _run(
        cwd, ["render", "--out", "out", "--check", "-o", "json", *extra], _env(), False
    )
    return code, json.loads(out)


def test_render_check_json_is_one_document_on_stdout(tmp_path: Path) -> None:
    require_renderers()
    (tmp_path / "fleet.yaml").write_bytes((FLEETS / "minimal" / "fleet.yaml").read_bytes())
    code, doc = _check_json(tmp_path)  # nothing rendered yet
    assert code == 1 and doc["current"] is False and doc["compared"] is True
    assert doc["missing"] and all(isinstance(p, str) for p in doc["missing"])  # type: ignore[union-attr]
    assert _run(tmp_path, ["render", "--out", "out"], _env(), False)[0] == 0
    code, doc = _check_json(tmp_path)
    assert code == 0 and doc["current"] is True
    assert (doc["stale"], doc["missing"], doc["extra"]) == ([], [], [])
    stale = next(p for p in sorted((tmp_path / "out" / "clusters").rglob("*.yaml")))
    stale.write_text(stale.read_text() + "# edited\n")
    code, doc = _check_json(tmp_path)
    assert code == 1 and doc["stale"] == [stale.relative_to(tmp_path / "out").as_posix()]
    (tmp_path / "fleet.yaml").write_text(BAD)
    code, doc = _check_json(tmp_path)
    assert code == 1 and doc["compared"] is False
    assert [d["code"] for d in doc["diagnostics"]] == ["model-unknown-field"]  # type: ignore[index,union-attr]


def test_drift_only_prints_drift_not_findings(bad: Path) -> None:
    code, out, err = _run(bad, ["render", "--check", "--drift-only"], _env(), False)
    assert code == 1 and out == ""
    assert "model-unknown-field" not in err and "fleet.yaml has errors" in err
    code, _, err = _run(bad, ["render", "--drift-only"], _env(), False)
    assert code == 2 and "--drift-only goes with --check" in err
