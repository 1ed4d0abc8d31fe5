"""Key material in fleet.yaml is refused at its line and never echoed in any output."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cli import main
from tests.conftest import FLEETS

SECRETS = {
    "pem": "-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEA7",
    "ec": "-----BEGIN EC PRIVATE KEY-----",
    "openssh": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "bearer": "Bearer s3cr3tT0kenValue0123456789abcdef",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "access-key": "AKIAIOSFODNN7EXAMPLE",
    "pat": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
@pytest.mark.parametrize("output", ["text", "json", "github", "sarif"])
def test_secret_is_refused_and_not_echoed(
    tmp_path, capsys: pytest.CaptureFixture[str], kind: str, output: str
) -> None:
    secret = SECRETS[kind]
    text = (FLEETS / "minimal" / "fleet.yaml").read_text()
    # in a value that the model also rejects, so a second diagnostic could quote it
    text = text.replace("name: minimal", f'name: "{secret}"', 1)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(text)
    line = text.splitlines().index(f'  name: "{secret}"') + 1

    code = main(["validate", str(fleet), "-o", output])

    captured = capsys.readouterr()
    everything = captured.out + captured.err
    assert code == 1
    assert "secret-in-fleet" in everything
    assert (
        f":{line}:" in everything
        or f'"line": {line}' in everything
        or f"line={line}" in everything
        or f'"startLine": {line}' in everything
    )
    # no fragment of the secret long enough to mean anything appears anywhere
    for start in range(0, len(secret) - 12):
        assert secret[start : start + 12] not in everything


def test_secret_in_a_comment_is_refused(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (FLEETS / "minimal" / "fleet.yaml").read_text()
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(text + "# Bearer abcdefghijklmnopqrstuvwxyz0123456789\n")
    assert main(["validate", str(fleet)]) == 1
    assert "secret-in-fleet" in capsys.readouterr().err


def test_clean_fleets_have_no_false_positive(capsys: pytest.CaptureFixture[str]) -> None:
    for example in sorted(FLEETS.glob("*/fleet.yaml")):
        main(["validate", str(example)])
        assert "secret-in-fleet" not in capsys.readouterr().err


_PIECES = st.sampled_from(
    [
        "Bearer ",
        "bearer\t",
        "eyJ",
        ".",
        "AKIA",
        "ASIA",
        "ghp_",
        "glpat-",
        "xoxb-",
        "token: ",
        "client-key-data:",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE REQUEST-----",
        " ",
        "\n",
        "_",
        "-",
        "=",
        "/",
    ]
)
_TOKEN = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij0123456789", min_size=0, max_size=45)
_SECRETISH = st.lists(st.one_of(_PIECES, _TOKEN), max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_SECRETISH, max_size=6))
def test_the_joined_search_misses_no_match_of_a_single_string(texts: list[str]) -> None:
    # scan_values skips the per-string scan when no pattern matches the joined text
    from compiler.validate.secrets import _PATTERNS

    joined = "\n".join(texts)
    for _, _, pattern in _PATTERNS:
        if any(pattern.search(text) for text in texts):
            assert pattern.search(joined), (pattern.pattern, texts)
