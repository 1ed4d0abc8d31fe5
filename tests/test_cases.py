"""Diagnostic case files: each `tests/cases/*.txtar` holds a fleet and the exact output of
``fleetc validate fleet.yaml`` on it, so one file shows a rule, its input and its message.

Format (txtar): a comment saying what the case is about, then sections::

    -- fleet.yaml --            the input, verbatim
    -- fleet.yaml escaped --    or the input with \\xHH bytes and \\repeat{N}{text}
    -- expected --              stderr of `fleetc validate fleet.yaml`

Exit status is 1 when the expected output holds an error, else 0. Run with
``FLEETC_UPDATE_GOLDENS=1`` to rewrite every expected section; review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compiler.cli import main

CASES_DIR = Path(__file__).resolve().parent / "cases"
CASES = sorted(CASES_DIR.glob("*.txtar"))
UPDATE = os.environ.get("FLEETC_UPDATE_GOLDENS") == "1"
COMPILER = Path(__file__).resolve().parents[1] / "compiler"
_MARKER = re.compile(r"^-- (.+?) --$", re.MULTILINE)


def parse_txtar(text: str) -> tuple[str, dict[str, str]]:
    """(comment, {section name: content}); content keeps its trailing newline."""
    parts = _MARKER.split(text)
    comment, sections = parts[0], {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sections[name] = body[1:] if body.startswith("\n") else body
    return comment, sections


def unescape(text: str) -> bytes:
    r"""``\xHH`` is one byte, ``\repeat{N}{text}`` is text N times, ``\\`` a backslash."""
    out = bytearray()
    pos = 0
    pattern = re.compile(r"\\x([0-9a-fA-F]{2})|\\repeat\{([0-9]+)\}\{([^}]*)\}|\\\\")
    for match in pattern.finditer(text):
        out += text[pos : match.start()].encode()
        if match.group(1):
            out.append(int(match.group(1), 16))
        elif match.group(2):
            out += match.group(3).encode() * int(match.group(2))
        else:
            out += b"\\"
        pos = match.end()
    out += text[pos:].encode()
    return bytes(out)


def fleet_bytes(sections: dict[str, str]) -> bytes:
    if "fleet.yaml escaped" in sections:
        return unescape(sections["fleet.yaml escaped"].removesuffix("\n"))
    return sections["fleet.yaml"].encode()


def run_validate(
    data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`fleetc validate` in-process on `data`, with the file called ``fleet.yaml`` in output."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_bytes(data)
    code = main(["validate", str(fleet)])
    captured = capsys.readouterr()
    # The command names the file as given; cases show it as the relative name a user types.
    return (
        code,
        captured.out.replace(str(fleet), "fleet.yaml"),
        captured.err.replace(str(fleet), "fleet.yaml"),
    )


def test_enough_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_case(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = case.read_text(encoding="utf-8")
    comment, sections = parse_txtar(text)
    assert comment.strip(), f"{case.name}: say what the case is about before the first section"
    code, out, err = run_validate(fleet_bytes(sections), tmp_path, capsys)
    assert "Traceback" not in err and "internal error" not in err, err
    assert out == "", "text diagnostics go to stderr; nothing else is printed"
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.yaml"], "validate writes nothing"
    if UPDATE:
        start = text.index("-- expected --\n") + len("-- expected --\n")
        case.write_text(text[:start] + err, encoding="utf-8")
        return
    assert err == sections["expected"]
    assert code == (1 if "error[" in err else 0)
    assert err, "a case file shows a finding; clean fleets belong in fleets/"


# Codes shown elsewhere: a 32 MiB input is no case file (tests/test_load.py covers it).
NOT_IN_CASES = {"load-too-large"}


def _codes_in_source() -> set[str]:
    codes: set[str] = set()
    for module in ("validate/mesh.py", "validate/references.py"):
        source = (COMPILER / module).read_text(encoding="utf-8")
        codes.update(re.findall(r'diags\.(?:error|warning)\(\s*"([a-z0-9-]+)"', source))
    for module in ("validate/peers.py", "validate/system.py"):
        source = (COMPILER / module).read_text(encoding="utf-8")
        codes.update(re.findall(r'"(policy-[a-z0-9-]+)"', source))
    for module in ("load/yaml.py", "load/scalars.py"):
        source = (COMPILER / module).read_text(encoding="utf-8")
        codes.update(re.findall(r'"((?:load|yaml)-[a-z-]+)"', source))
    return codes


def test_every_load_and_semantic_code_has_a_case() -> None:
    seen: set[str] = set()
    for case in CASES:
        seen.update(re.findall(r"(?:error|warning|note)\[([a-z0-9-]+)\]", case.read_text("utf-8")))
    codes = _codes_in_source()
    assert len(codes) > 30, "the code patterns stopped matching the checks"
    assert sorted(codes - seen - NOT_IN_CASES) == []


def test_output_is_byte_identical_across_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES_DIR / "cidr-overlap-pod.txtar"
    data = fleet_bytes(parse_txtar(case.read_text("utf-8"))[1])
    runs = {run_validate(data, tmp_path, capsys) for _ in range(3)}
    assert len(runs) == 1


def test_every_code_is_documented() -> None:
    documented = set(
        re.findall(r"`([a-z0-9-]+)`", (COMPILER.parent / "docs" / "diagnostics.md").read_text())
    )
    in_cases: set[str] = set()
    for case in CASES:
        in_cases.update(
            re.findall(r"(?:error|warning|note)\[([a-z0-9-]+)\]", case.read_text("utf-8"))
        )
    assert sorted((_codes_in_source() | in_cases) - documented) == []
