"""Report formats: json, github workflow commands and SARIF 2.1.0, each on its own and via the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.cli import main
from compiler.diagnostics import Diagnostic, Diagnostics, Position, Related, Severity
from compiler.load import Source
from compiler.report import FORMATS, formatter
from compiler.report import github as gh
from compiler.report.json import format_diagnostics as to_json
from compiler.report.sarif import format_diagnostics as to_sarif
from tests.conftest import ROOT

SOURCE = {"fleet.yaml": Source("fleet.yaml", "a: 1\nb: 2\nc: 3\n")}

DIAGNOSTICS = [
    Diagnostic(
        "cluster-id-duplicate",
        "cluster id 1 is used twice",
        Position("fleet.yaml", 3, 7),
        Severity.ERROR,
        (Related(Position("fleet.yaml", 1, 7), "first used here"),),
        "pick an unused id",
        "spec.clusters[1].id",
    ),
    Diagnostic(
        "cilium-selector-semantics",
        "100% local\non 1.19",
        Position("fleet.yaml", 2, 0),
        Severity.WARNING,
    ),
    Diagnostic("note-code", "just so you know", None, Severity.NOTE),
]


# --- json -----------------------------------------------------------------------------------


def test_json_is_a_list_of_flat_objects_with_fixed_keys() -> None:
    data = json.loads(to_json(DIAGNOSTICS, SOURCE))
    keys = ["code", "severity", "message", "file", "line", "column", "hint", "related", "path"]
    assert [list(item) for item in data] == [keys] * 3
    first, second, third = data
    assert first == {
        "code": "cluster-id-duplicate",
        "severity": "error",
        "message": "cluster id 1 is used twice",
        "file": "fleet.yaml",
        "line": 3,
        "column": 7,
        "hint": "pick an unused id",
        "related": [{"file": "fleet.yaml", "line": 1, "column": 7, "message": "first used here"}],
        "path": "spec.clusters[1].id",
    }
    assert (second["severity"], second["message"], second["hint"]) == (
        "warning",
        "100% local\non 1.19",
        None,
    )
    assert (third["file"], third["line"], third["column"], third["related"]) == (
        None,
        None,
        None,
        [],
    )


def test_json_of_nothing_is_an_empty_list() -> None:
    assert json.loads(to_json([], {})) == []


# --- github ---------------------------------------------------------------------------------


def test_github_workflow_commands() -> None:
    lines = gh.format_diagnostics(DIAGNOSTICS, SOURCE).splitlines()
    assert lines == [
        "::error file=fleet.yaml,line=3,col=7,title=cluster-id-duplicate::cluster id 1 is used"
        " twice%0Anote: fleet.yaml:1:7: first used here%0Ahint: pick an unused id",
        "::warning file=fleet.yaml,line=2,title=cilium-selector-semantics::100%25 local%0Aon 1.19",
        "::notice title=note-code::just so you know",
    ]


def test_github_escapes_property_delimiters_in_file_names() -> None:
    d = Diagnostic("x", "m", Position("dir,a:b/fleet%.yaml", 1, 1))
    line = gh.format_diagnostics([d], {})
    assert line.startswith("::error file=dir%2Ca%3Ab/fleet%25.yaml,line=1,col=1,title=x::m")


def _unescape(text: str) -> str:
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda m: chr(int(m.group(1), 16)), text)


@given(
    st.text(min_size=1, max_size=40),
    st.text(min_size=1, max_size=40),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
)
def test_github_escaping_round_trips(message: str, file: str, code: str) -> None:
    line = gh.format_one(Diagnostic(code, message, Position(file, 4, 2)))
    assert "\n" not in line and "\r" not in line
    head, _, body = line.partition("::")[2].partition("::")
    command, _, props = head.partition(" ")
    assert command == "error"
    values = dict(p.split("=", 1) for p in props.split(","))
    assert list(values) == ["file", "line", "col", "title"]
    assert _unescape(values["file"]) == file
    assert _unescape(values["title"]) == code
    assert _unescape(body) == message


# --- sarif ----------------------------------------------------------------------------------

# The parts of the SARIF 2.1.0 schema (OASIS) that fleetc's output uses, transcribed by hand:
# the full schema is not available offline and must not be fetched by tests.
LOCATION = {
    "type": "object",
    "required": ["physicalLocation"],
    "properties": {
        "id": {"type": "integer", "minimum": -1},
        "physicalLocation": {
            "type": "object",
            "required": ["artifactLocation", "region"],
            "properties": {
                "artifactLocation": {
                    "type": "object",
                    "required": ["uri", "uriBaseId"],
                    "properties": {
                        "uri": {"type": "string", "format": "uri-reference", "pattern": "^[^/]"},
                        "uriBaseId": {"const": "%SRCROOT%"},
                    },
                },
                "region": {
                    "type": "object",
                    "required": ["startLine"],
                    "additionalProperties": False,
                    "properties": {
                        "startLine": {"type": "integer", "minimum": 1},
                        "startColumn": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
        "message": {"$ref": "#/$defs/message"},
    },
}
SARIF_SUBSET = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "message": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": {"type": "string"}},
        },
        "location": LOCATION,
    },
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "informationUri", "rules"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "informationUri": {"type": "string", "format": "uri"},
                                    "version": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": [
                                                "id",
                                                "shortDescription",
                                                "fullDescription",
                                                "help",
                                            ],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "name": {"type": "string"},
                                                "shortDescription": {"$ref": "#/$defs/message"},
                                                "fullDescription": {"$ref": "#/$defs/message"},
                                                "help": {
                                                    "type": "object",
                                                    "required": ["text", "markdown"],
                                                    "properties": {
                                                        "text": {"type": "string", "minLength": 1},
                                                        "markdown": {"type": "string"},
                                                    },
                                                },
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {
                                                        "level": {
                                                            "enum": [
                                                                "none",
                                                                "note",
                                                                "warning",
                                                                "error",
                                                            ]
                                                        }
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message", "ruleId", "partialFingerprints"],
                            "properties": {
                                "partialFingerprints": {
                                    "type": "object",
                                    "minProperties": 1,
                                    "additionalProperties": {"type": "string"},
                                },
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {"$ref": "#/$defs/message"},
                                "locations": {
                                    "type": "array",
                                    "items": {"$ref": "#/$defs/location"},
                                },
                                "relatedLocations": {
                                    "type": "array",
                                    "items": {"$ref": "#/$defs/location"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_matches_the_schema_subset_and_links_results_to_rules() -> None:
    log = json.loads(to_sarif(DIAGNOSTICS, SOURCE))
    jsonschema.Draft202012Validator(SARIF_SUBSET).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({d.code for d in DIAGNOSTICS})
    for result, d in zip(run["results"], DIAGNOSTICS, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == d.code
        assert result["level"] == d.severity.label
    first = run["results"][0]
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 7}
    assert first["relatedLocations"][0]["message"]["text"] == "first used here"
    assert first["message"]["text"].endswith("\nhint: pick an unused id")
    # a whole-line position has no column; a position-less note has no location
    assert run["results"][1]["locations"][0]["physicalLocation"]["region"] == {"startLine": 2}
    assert "locations" not in run["results"][2]


def test_sarif_rule_level_is_the_worst_seen_for_the_code() -> None:
    items = [
        Diagnostic("same", "w", Position("f", 1, 1), Severity.WARNING),
        Diagnostic("same", "e", Position("f", 2, 1), Severity.ERROR),
    ]
    rules = json.loads(to_sarif(items, {}))["runs"][0]["tool"]["driver"]["rules"]
    assert [(r["id"], r["defaultConfiguration"]) for r in rules] == [("same", {"level": "error"})]
    assert rules[0]["help"]["text"]  # a code missing from the doc still has help


def test_every_rule_has_help_from_the_diagnostics_doc() -> None:
    from compiler.report.rules import parse, sarif_rule
    from compiler.report.rules_table import RULES

    doc = (ROOT / "docs" / "diagnostics.md").read_text()
    assert parse(doc) == RULES, "stale: run make rules"
    rule = sarif_rule("cidr-overlap", "error")
    assert rule["fullDescription"]["text"].startswith("Two ranges overlap")
    assert "(The fleet as a whole)" in rule["help"]["text"]
    assert "**`cidr-overlap`**" in rule["help"]["markdown"]
    assert parse(doc)["flux-path-mismatch"][1].startswith("the output directory is not")


def _fingerprints(text: str) -> list[str]:
    diags = [
        Diagnostic("cidr-overlap", "a overlaps b", Position("fleet.yaml", 3 + text.count("\n"), 7)),
        Diagnostic("cidr-overlap", "a overlaps b", Position("fleet.yaml", 9 + text.count("\n"), 7)),
        Diagnostic("model-type", "not a number", Position("fleet.yaml", 12, 3), path="spec.x"),
    ]
    log = json.loads(to_sarif(diags, {}))
    return [r["partialFingerprints"]["fleetcFinding/v1"] for r in log["runs"][0]["results"]]


def test_sarif_fingerprints_survive_lines_moving_and_tell_findings_apart() -> None:
    before, after = _fingerprints(""), _fingerprints("\n\n# a comment added above\n")
    assert before == after
    assert len(set(before)) == 3


def test_sarif_uris_are_relative_to_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "fleets" / "prod").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "fleets")
    for spelling in ("prod/fleet.yaml", str(tmp_path / "fleets" / "prod" / "fleet.yaml")):
        diags = [Diagnostic("cidr-overlap", "x", Position(spelling, 1, 1))]
        result = json.loads(to_sarif(diags, {}))["runs"][0]["results"][0]
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location == {"uri": "fleets/prod/fleet.yaml", "uriBaseId": "%SRCROOT%"}


def test_github_annotates_the_ten_most_severe_then_says_how_many() -> None:
    notes = [Diagnostic("n", f"note {i}", Position("f", i, 1), Severity.NOTE) for i in range(1, 9)]
    warnings = [
        Diagnostic("w", f"w {i}", Position("f", 20 + i, 1), Severity.WARNING) for i in range(6)
    ]
    errors = [Diagnostic("e", f"e {i}", Position("f", 40 + i, 1)) for i in range(5)]
    lines = gh.format_diagnostics(notes + warnings + errors, {}).splitlines()
    assert len(lines) == 11
    assert [line.split(" ")[0] for line in lines[:10]] == ["::error"] * 5 + ["::warning"] * 5
    assert "line=40" in lines[0] and "line=44" in lines[4]  # position order within a severity
    assert not lines[10].startswith("::")
    assert "19 finding(s) in total (5 error(s), 6 warning(s), 8 note(s))" in lines[10]
    assert len(gh.format_diagnostics(errors, {}).splitlines()) == 5


# --- through the CLI ------------------------------------------------------------------------

BAD = """\
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata:
  name: bad
spec:
  cilium:
    version: "1.19"
  clusters:
    - name: alpha
      id: 1
      podCIDRs: [10.1.0.0/16]
      meshEndpoint: {address: mesh.alpha.example.internal}
  guardrails:
    - name: g
      expression: "fleet.clusters.size() == 2"
      message: two clusters, please
"""


@pytest.mark.parametrize("output", [f for f in FORMATS if f != "text"])
def test_cli_formats_print_to_stdout_and_exit_1(
    output: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(BAD)
    assert main(["validate", "-o", output, str(fleet)]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    diags = Diagnostics()
    diags.error(
        "guardrail-failed",
        "guardrail 'g' failed: two clusters, please",
        Position(str(fleet), 15, 20),
        related=[Related(Position(str(fleet), 14, 7), "guardrail defined here")],
    )
    assert out == formatter(output)(diags.sorted(), {})


@pytest.mark.parametrize("output", FORMATS)
def test_each_format_is_deterministic(output: str) -> None:
    fmt = formatter(output)
    assert fmt(DIAGNOSTICS, SOURCE) == fmt(list(DIAGNOSTICS), dict(SOURCE))


def test_validate_takes_several_files_and_reports_them_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = ROOT / "fleets" / "minimal" / "fleet.yaml"
    bad = tmp_path / "fleet.yaml"
    bad.write_text(BAD)
    assert main(["validate", "-o", "json", str(good), str(bad), str(good)]) == 1
    found = json.loads(capsys.readouterr().out)
    assert [(d["file"], d["code"]) for d in found] == [(str(bad), "guardrail-failed")]
    assert main(["validate", str(good), str(good)]) == 0
    assert main(["validate", str(good), str(tmp_path / "missing.yaml")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "missing.yaml: no such file" in err
