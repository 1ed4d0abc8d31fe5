"""Diagnostics as SARIF 2.1.0, for GitHub code scanning and other tools.

One run. The driver names fleetc with its `informationUri` and lists a rule per diagnostic
code that occurs (sorted, so a result's rule index is stable), each with the full description
and help that code scanning shows, from docs/diagnostics.md (`compiler.report.rules`).
Results point at their file with a 1-based region; file URIs are relative to the root of the
git repository holding the file (``uriBaseId: %SRCROOT%``), so they resolve against a
checkout wherever fleetc ran. `partialFingerprints` identify a finding by its code, file, YAML
path and message, never its line: an edit above a finding keeps it the same alert.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler.diagnostics import Diagnostic, Position, Severity
from compiler.load import Source
from compiler.report.rules import sarif_rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://fleetc.dev"
SRCROOT = "%SRCROOT%"
FINGERPRINT = "fleetcFinding/v1"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def repository_uri(file: str) -> str:
    """`file` as a POSIX path relative to its git repository's root (the working directory
    when it is in none); never absolute."""
    absolute = Path(os.path.normpath(os.path.abspath(file)))
    for parent in absolute.parents:
        if (parent / ".git").exists():
            return absolute.relative_to(parent).as_posix()
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.name


def _location(position: Position, uris: dict[str, str]) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(position.line, 1)}
    if position.column > 0:
        region["startColumn"] = position.column
    uri = uris.setdefault(position.file, repository_uri(position.file))
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
            "region": region,
        }
    }


def _fingerprint(d: Diagnostic, uri: str, seen: dict[str, int]) -> str:
    what = "\0".join((d.code, uri, d.path or "", d.message))
    digest = hashlib.sha256(what.encode()).hexdigest()[:32]
    seen[digest] = seen.get(digest, 0) + 1  # identical findings: told apart by their order
    return f"{digest}:{seen[digest]}"


def sarif_log(diagnostics: Sequence[Diagnostic]) -> dict[str, Any]:
    worst: dict[str, Severity] = {}
    for d in diagnostics:
        worst[d.code] = max(worst.get(d.code, d.severity), d.severity)
    codes = sorted(worst)
    index = {code: i for i, code in enumerate(codes)}
    uris: dict[str, str] = {}
    seen: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for d in diagnostics:
        text = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _LEVELS[d.severity],
            "message": {"text": text},
        }
        uri = ""
        if d.position is not None:
            result["locations"] = [_location(d.position, uris)]
            uri = uris[d.position.file]
        if d.related:
            result["relatedLocations"] = [
                {"id": i, **_location(r.position, uris), "message": {"text": r.message}}
                for i, r in enumerate(d.related)
            ]
        result["partialFingerprints"] = {FINGERPRINT: _fingerprint(d, uri, seen)}
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
                        "informationUri": INFORMATION_URI,
                        "rules": [sarif_rule(code, _LEVELS[worst[code]]) for code in codes],
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
