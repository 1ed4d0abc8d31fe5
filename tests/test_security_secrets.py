"""Secrets written so the raw text hides them, or spread over a multi-line value, are refused
and never echoed, in every output format."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.cli import main
from tests.conftest import FLEETS

MINIMAL = (FLEETS / "minimal" / "fleet.yaml").read_text()

# (how it is written in fleet.yaml, fragments that must never be printed)
HIDDEN = {
    "hex-escape": ('"\\x2d----BEGIN PRIVATE KEY-----MIIEvQ"', ["PRIVATE KEY", "MIIEvQ"]),
    "unicode-escape": ('"\\u0041KIAIOSFODNN7EXAMPLE"', ["IOSFODNN7EXAMPLE"]),
    "long-escape": ('"\\U00000067hp_abcdefghijklmnopqrstuvwxyz0123"', ["abcdefghijklmnop"]),
    "continuation": (
        '"-----BEGIN RSA PRIV\\\n    ATE KEY-----"',
        ["ATE KEY", "RSA PRIV"],
    ),
    "folded-plain": ("-----BEGIN PRIVATE\n      KEY-----", ["BEGIN PRIVATE"]),
}


def _run(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, output: str) -> str:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(text)
    code = main(["validate", str(fleet), "-o", output])
    captured = capsys.readouterr()
    assert code == 1
    return captured.out + captured.err


@pytest.mark.parametrize("case", sorted(HIDDEN))
@pytest.mark.parametrize("output", ["text", "json", "github", "sarif"])
def test_escaped_secrets_are_found_after_decoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, output: str
) -> None:
    written, fragments = HIDDEN[case]
    text = MINIMAL.replace(
        "  name: minimal\n", f"  name: minimal\n  annotations:\n    k: {written}\n"
    )
    everything = _run(capsys, tmp_path, text, output)
    assert "secret-in-fleet" in everything
    for fragment in fragments:
        assert fragment not in everything


@pytest.mark.parametrize("output", ["text", "json", "github", "sarif"])
def test_a_secret_on_a_later_line_of_a_value_withholds_errors_about_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    # a cluster name the model refuses, quoting it, whose third line holds a key
    value = "|\n        not a name\n        and more\n        -----BEGIN EC PRIVATE KEY-----\n"
    value += "        MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oqjQ1eG/0Bn6oAoGCCqGSM49\n"
    text = MINIMAL.replace("    - name: alpha\n", f"    - name: {value}", 1)
    everything = _run(capsys, tmp_path, text, output)
    assert "secret-in-fleet" in everything
    for fragment in ("not a name", "and more", "MHcCAQEEIBkg4LVW", "PRIVATE KEY"):
        assert fragment not in everything, fragment


def test_a_guardrail_message_never_echoes_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "ghp_" + "A1b2C3d4" * 4
    text = MINIMAL + (
        "  guardrails:\n"
        "    - name: never\n"
        "      expression: 'false'\n"
        f'      message: "call \\x67hp_{"A1b2C3d4" * 4} for help"\n'
    )
    everything = _run(capsys, tmp_path, text, "text")
    assert "secret-in-fleet" in everything
    assert token[4:16] not in everything
