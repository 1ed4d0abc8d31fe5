"""Key material in fleet.yaml is refused at its line and never echoed in any output."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
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


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="ab -:#'\"\\\n\tŁ", min_size=1, max_size=12),
        st.text(alphabet="ab -:#'\"\\\n\tŁ", max_size=40),
        max_size=6,
    ),
    st.integers(8, 60),
)
def test_every_string_the_loader_does_not_list_as_rewritten_stands_in_the_source(
    data: dict[str, str], width: int
) -> None:
    """What the decoded-value scan skips, the text scan saw: the loader lists every key and
    value whose decoded form is not its text in the source (whatever style the emitter
    chose: plain, quoted with escapes, block, folded over lines)."""
    import io

    from ruamel.yaml import YAML

    from compiler.diagnostics import FleetError
    from compiler.load import load

    emitter = YAML(typ="safe", pure=True)
    emitter.width = width
    out = io.StringIO()
    emitter.dump({"root": data}, out)
    text = out.getvalue()
    try:
        doc = load(text.encode(), "fleet.yaml")
    except FleetError:  # the pure emitter writes a few documents libyaml refuses
        assume(False)
        return
    assert doc.rewritten is not None
    listed = set(doc.rewritten)
    for key, value in doc.data["root"].items():
        for string in (key, value):
            if isinstance(string, str) and string not in listed:
                assert string in text, (string, text)
