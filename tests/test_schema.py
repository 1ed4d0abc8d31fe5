"""The committed JSON Schema is current, valid, and agrees with the model on the examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from compiler.cli import main
from compiler.diagnostics import Diagnostics
from compiler.load import load
from compiler.model import parse
from tests.conftest import FLEETS, ROOT

SCHEMA_FILE = ROOT / "schemas" / "fleet.schema.json"
EXAMPLES = sorted(FLEETS.glob("*/fleet.yaml"))
COMMENT = "# yaml-language-server: $schema="


def committed_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return data


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(committed_schema())


def test_committed_schema_is_what_fleetc_schema_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert SCHEMA_FILE.read_text() == printed, (
        "schemas/fleet.schema.json is stale: run `make schema` and commit the result"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = committed_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_there_are_examples() -> None:
    assert {p.parent.name for p in EXAMPLES} >= {"contoso", "minimal"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_validates_against_the_schema(path: Path) -> None:
    doc = load(path.read_bytes(), str(path))
    errors = sorted(validator().iter_errors(doc.data), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_names_the_schema_for_editors(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith(COMMENT), f"{path} must start with '{COMMENT}...'"
    target = (path.parent / first.removeprefix(COMMENT).strip()).resolve()
    assert target == SCHEMA_FILE.resolve()


def _minimal() -> dict[str, Any]:
    doc = load((FLEETS / "minimal" / "fleet.yaml").read_bytes(), "fleet.yaml")
    data: dict[str, Any] = doc.data
    return data


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for item in path[:-1]:
        node = node[item]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "clusters", 0, "colour"), "blue"),
        (("spec", "cilium", "routingMode"), "bgp"),
        (("spec", "cilium", "maxConnectedClusters"), 300),
        (("spec", "clusters", 0, "id"), "1"),
        (("kind",), "Fleets"),
        (("spec", "clusters", 0, "name"), "Alpha"),
    ],
)
def test_schema_and_model_reject_the_same_mistakes(path: tuple[Any, ...], value: Any) -> None:
    data = _set(_minimal(), path, value)
    assert list(validator().iter_errors(data)), "the schema accepted it"
    text = json.dumps(data)  # JSON is YAML: load it through the real loader and model
    doc = load(text.encode(), "fleet.yaml")
    diags = Diagnostics()
    assert parse(doc, diags) is None, "the model accepted it"
    assert diags.has_errors
