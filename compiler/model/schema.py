"""The JSON Schema of fleet.yaml, generated from the model; `schemas/fleet.schema.json`."""

from __future__ import annotations

import json

from compiler.model.fleet import Fleet

SCHEMA_ID = "https://fleetc.dev/schemas/fleet.schema.json"


def schema() -> dict[str, object]:
    generated = Fleet.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
