"""Helpers for the render tests: compile fleets through the real pipeline, read upstream
schemas, and write a rendered tree to disk with the canonical writer."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml

from compiler.diagnostics import Diagnostics
from compiler.emit.yaml import dump
from compiler.pipeline import Compiled, compile_fleet
from compiler.render.output import File
from tests.conftest import FLEETS, require_upstream


def fleet_data(name: str = "contoso") -> dict[str, Any]:
    data = yaml.safe_load((FLEETS / name / "fleet.yaml").read_text())
    assert isinstance(data, dict)
    return data


def compile_data(data: dict[str, Any]) -> Compiled:
    diags = Diagnostics()
    compiled = compile_fleet(dump(data).encode(), "fleet.yaml", diags)
    assert compiled is not None, [str(d) for d in diags.items]
    return compiled


def variant(name: str = "contoso", **spec: Any) -> Compiled:
    """`name`'s fleet with top-level spec sections merged (one level deep) and compiled."""
    data = copy.deepcopy(fleet_data(name))
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(data["spec"].get(key), dict):
            data["spec"][key] = {**data["spec"][key], **value}
        else:
            data["spec"][key] = value
    return compile_data(data)


def by_path(compiled: Compiled) -> dict[str, File]:
    return {f.path: f for f in compiled.files}


def objects(compiled: Compiled, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f.path, f.content)
        for f in compiled.files
        if isinstance(f.content, dict) and f.content.get("kind") == kind
    ]


@functools.cache
def crd_schema(relative: str, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of `version` in the upstream CRD file `relative`."""
    crd = yaml.safe_load((require_upstream() / relative).read_text())
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version and entry.get("served"):
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"{relative} serves no {version}")


def closed(schema: Any, branch: bool = False) -> Any:
    """`schema` with unknown fields refused: ``additionalProperties: false`` wherever it lists
    properties and says nothing about others (and does not preserve unknown fields), so a
    misspelled field fails instead of passing unseen. A branch of ``oneOf``/``anyOf``/
    ``allOf`` only adds constraints to the schema around it (Cilium's "endpointSelector or
    nodeSelector"), so it stays open; its own children are closed."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        key: [closed(item, branch=True) for item in value]
        if key in ("oneOf", "anyOf", "allOf") and isinstance(value, list)
        else closed(value)
        for key, value in schema.items()
    }
    if (
        not branch
        and isinstance(out.get("properties"), dict)
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def closed_crd_schema(relative: str, version: str) -> dict[str, Any]:
    schema: dict[str, Any] = closed(crd_schema(relative, version))
    return schema


def chart_dir(version: tuple[int, int]) -> Path:
    """The Cilium chart data for a minor: 1.18's before 1.19 (the oldest stored), else 1.19's
    (the newest stored)."""
    name = "helm-1.18" if version < (1, 19) else "helm"
    return require_upstream() / "cilium" / name


@functools.cache
def cilium_values_schema(version: tuple[int, int] = (1, 19)) -> dict[str, Any]:
    """The chart's values.schema.json for `version`, closed where it lists properties."""
    schema: dict[str, Any] = closed(
        json.loads((chart_dir(version) / "values.schema.json").read_text())
    )
    return schema


@functools.cache
def cilium_chart_values(version: tuple[int, int]) -> dict[str, Any]:
    """The chart's values.yaml (its defaults) for `version`."""
    data: dict[str, Any] = yaml.safe_load((chart_dir(version) / "values.yaml").read_text())
    return data


def missing_chart_keys(values: Any, chart: Any, path: str = "") -> list[str]:
    """Keys of `values` the chart's values.yaml does not have. A chart value that is an empty
    map, a list or null takes anything (annotations, the peers of clustermesh.config)."""
    if not isinstance(values, dict) or not isinstance(chart, dict) or not chart:
        return []
    out: list[str] = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in chart:
            out.append(where)
        else:
            out.extend(missing_chart_keys(value, chart[key], where))
    return out


def schema_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    )


def write_tree(files: tuple[File, ...] | list[File], root: Path) -> None:
    """The rendered files as the canonical writer makes them (no header: that is emit's)."""
    for file in files:
        target = root / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = file.content if isinstance(file.content, str) else dump(file.content)
        target.write_text(text)
