"""The JSON Schema of fleet.yaml, generated from the model; `schemas/fleet.schema.json`.

Draft-07, the newest draft editors support everywhere (yaml-language-server warns on 2020-12):
definitions live under ``definitions`` and every reference points there. In draft-07 a
``$ref`` makes its siblings invisible, so a property that refers to a definition and has its
own title and description wraps the reference in ``allOf``. Defaults made by a factory (an
empty list, a nested settings object) are written out too, so editors can show them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from compiler.model.base import human_title
from compiler.model.fleet import Fleet

SCHEMA_ID = "https://fleetc.dev/schemas/fleet.schema.json"
DRAFT = "http://json-schema.org/draft-07/schema#"
REF_TEMPLATE = "#/definitions/{model}"


class _Generator(GenerateJsonSchema):
    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", by_alias=True, exclude_none=True)
        return value if isinstance(value, (list, dict)) else NoDefault


def _draft7(node: Any) -> Any:
    """Wrap ``$ref`` that has siblings in ``allOf``; title every property."""
    if isinstance(node, list):
        return [_draft7(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _draft7(value) for key, value in node.items()}
    properties = out.get("properties")
    if isinstance(properties, dict) and out.get("type") == "object":
        for name, prop in properties.items():
            if "$ref" in prop and len(prop) > 1:
                prop = {"allOf": [{"$ref": prop.pop("$ref")}], **prop}
            prop.setdefault("title", human_title(name))
            properties[name] = prop
    return out


def schema() -> dict[str, Any]:
    generated = Fleet.model_json_schema(
        by_alias=True,
        mode="validation",
        ref_template=REF_TEMPLATE,
        schema_generator=_Generator,
    )
    definitions = generated.pop("$defs", {})
    body = _draft7({**generated, "definitions": definitions})
    return {"$schema": DRAFT, "$id": SCHEMA_ID, **body}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
