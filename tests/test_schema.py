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


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(committed_schema())


def test_committed_schema_is_what_fleetc_schema_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert SCHEMA_FILE.read_text() == printed, (
        "schemas/fleet.schema.json is stale: run `make schema` and commit the result"
    )


def test_schema_is_a_valid_draft_07_schema() -> None:
    """Draft-07, which yaml-language-server and other editors read without warnings."""
    schema = committed_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft7Validator
    text = SCHEMA_FILE.read_text()
    assert "$defs" not in text and "prefixItems" not in text and "$dynamicRef" not in text
    for node in _nodes(schema):
        if "$ref" in node:
            assert node["$ref"].startswith("#/definitions/"), node
            assert node["$ref"].removeprefix("#/definitions/") in schema["definitions"]
            # draft-07 ignores every keyword beside $ref: nothing may be lost there
            assert set(node) == {"$ref"}, node


def _nodes(node: Any) -> list[dict[str, Any]]:
    """Every schema object in `node`, depth first."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            out.extend(_nodes(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(_nodes(item))
    return out


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, prop)
        for node in _nodes(schema)
        if node.get("type") == "object" and isinstance(node.get("properties"), dict)
        for name, prop in node["properties"].items()
    ]


def test_every_property_has_a_description_and_a_human_title() -> None:
    properties = _properties(committed_schema())
    assert len(properties) > 100
    undescribed = sorted({n for n, p in properties if not p.get("description", "").strip()})
    assert undescribed == []
    for name, prop in properties:
        title = prop.get("title", "")
        assert title and title[0].isupper(), (name, title)
        if any(c.isupper() for c in name[1:]):  # camelCase: never "Podcidrs"
            assert title != name[:1].upper() + name[1:].lower(), (name, title)
    titles = {name: prop["title"] for name, prop in properties}
    assert titles["podCIDRs"] == "Pod CIDRs"
    assert titles["meshEndpoint"] == "Mesh Endpoint"
    assert titles["apiVersion"] == "API Version"
    assert titles["ips"] == "IPs" and titles["fqdns"] == "FQDNs"


def test_examples_and_defaults_for_editors() -> None:
    schema = committed_schema()
    properties = _properties(schema)
    examples = [n for n, p in properties if p.get("examples")]
    assert len(examples) >= 40
    for node in _nodes(schema):  # every example and default is valid where it stands
        shown = list(node.get("examples", [])) if isinstance(node.get("examples"), list) else []
        if "default" in node and isinstance(node.get("title"), str):
            shown.append(node["default"])
        if not shown or "definitions" in node:
            continue
        local = {k: v for k, v in node.items() if k not in ("examples", "default")}
        check = jsonschema.Draft7Validator({**local, "definitions": schema["definitions"]})
        for example in shown:
            assert not list(check.iter_errors(example)), (node.get("title"), example)
    spec = schema["definitions"]["Spec"]["properties"]
    assert spec["mesh"]["default"]["serviceDiscovery"] == "mcs-api"
    assert spec["defaults"]["default"] == {"ingress": "allow", "egress": "allow"}
    cilium = schema["definitions"]["Cilium"]["properties"]
    assert cilium["maxConnectedClusters"]["default"] == 255
    assert cilium["routingMode"]["default"] == "tunnel"
    assert spec["services"]["default"] == []


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


INVALID = sorted((ROOT / "tests" / "schema_invalid").glob("*.yaml"))


def test_there_are_invalid_examples() -> None:
    assert len(INVALID) >= 10


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_file_is_refused_by_schema_and_model(path: Path) -> None:
    """Each file holds one mistake (its first line says which): the schema an editor uses
    flags it, and fleetc refuses it too."""
    assert path.read_text().startswith("# "), "say what is wrong on the first line"
    doc = load(path.read_bytes(), path.name)
    assert list(validator().iter_errors(doc.data)), "the schema accepted it"
    diags = Diagnostics()
    assert parse(doc, diags) is None, "the model accepted it"
    assert diags.has_errors
