"""Diagnostics as SARIF 2.1.0, for code-scanning tools.

One run; the driver lists a rule per diagnostic code that occurs (sorted, so the rule index
of a result is stable), and each result points at its file with a 1-based region. Related
places become ``relatedLocations``, the hint is appended to the message. File names are
given as written on the command line, relative URIs resolved against the working directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from compiler import __version__
from compiler.diagnostics import Diagnostic, Position, Severity
from compiler.load import Source

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def _location(position: Position) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(position.line, 1)}
    if position.column > 0:
        region["startColumn"] = position.column
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": position.file.replace("\\", "/")},
            "region": region,
        }
    }


def _rule(code: str, level: str) -> dict[str, Any]:
    return {
        "id": code,
        "name": "".join(part.capitalize() for part in code.split("-")),
        "shortDescription": {"text": code.replace("-", " ")},
        "defaultConfiguration": {"level": level},
    }


def sarif_log(diagnostics: Sequence[Diagnostic]) -> dict[str, Any]:
    worst: dict[str, Severity] = {}
    for d in diagnostics:
        worst[d.code] = max(worst.get(d.code, d.severity), d.severity)
    codes = sorted(worst)
    index = {code: i for i, code in enumerate(codes)}
    results: list[dict[str, Any]] = []
    for d in diagnostics:
        text = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _LEVELS[d.severity],
            "message": {"text": text},
        }
        if d.position is not None:
            result["locations"] = [_location(d.position)]
        if d.related:
            result["relatedLocations"] = [
                {"id": i, **_location(r.position), "message": {"text": r.message}}
                for i, r in enumerate(d.related)
            ]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fleetc",
                        "version": __version__,
                        "rules": [_rule(code, _LEVELS[worst[code]]) for code in codes],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def format_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, Source]) -> str:
    del sources
    return json.dumps(sarif_log(diagnostics), indent=2, ensure_ascii=False) + "\n"
