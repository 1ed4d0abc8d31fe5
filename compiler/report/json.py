"""Diagnostics as JSON: a list of flat objects, one per finding, in the order they print.

Each object has the same keys every time (null when absent), so tools can rely on the shape:
``code, severity, message, file, line, column, hint, related, path``; ``related`` is a list
of ``{file, line, column, message}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from compiler.diagnostics import Diagnostic, Position, Related, Severity
from compiler.load import Source


def _where(position: Position | None) -> dict[str, Any]:
    if position is None:
        return {"file": None, "line": None, "column": None}
    return {"file": position.file, "line": position.line, "column": position.column}


def as_data(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as plain data, keys in a fixed order."""
    return {
        "code": d.code,
        "severity": d.severity.label,
        "message": d.message,
        **_where(d.position),
        "hint": d.hint,
        "related": [{**_where(r.position), "message": r.message} for r in d.related],
        "path": d.path,
    }


def from_data(data: dict[str, Any]) -> Diagnostic:
    """`as_data` read back (fleetc's render cache keeps findings this way); ``redact`` is
    read too when present, though `as_data` does not write it."""

    def where(item: dict[str, Any]) -> Position | None:
        if item.get("file") is None:
            return None
        return Position(str(item["file"]), int(item["line"]), int(item["column"]))

    related = []
    for item in data.get("related") or []:
        position = where(item)
        if position is not None:
            related.append(Related(position, str(item["message"])))
    return Diagnostic(
        code=str(data["code"]),
        message=str(data["message"]),
        position=where(data),
        severity=Severity[str(data["severity"]).upper()],
        related=tuple(related),
        hint=data.get("hint"),
        path=data.get("path"),
        redact=bool(data.get("redact", False)),
    )


def format_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, Source]) -> str:
    del sources  # positions are enough; the source text is for people
    return json.dumps([as_data(d) for d in diagnostics], indent=2, ensure_ascii=False) + "\n"
