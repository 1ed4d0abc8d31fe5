"""Diagnostics as GitHub Actions workflow commands, which annotate the pull request's files.

``::error file=F,line=L,col=C,title=CODE::message``; warnings use ``::warning`` and notes
``::notice``. Escaping follows the runner's rules: in the message ``%``, CR and LF are
percent-encoded; in property values ``:`` and ``,`` are too, since they delimit properties.
Hints and related places go into the message, on lines of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.diagnostics import Diagnostic, Severity
from compiler.load import Source

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_one(d: Diagnostic) -> str:
    properties: list[tuple[str, str]] = []
    if d.position is not None:
        properties.append(("file", d.position.file))
        if d.position.line > 0:
            properties.append(("line", str(d.position.line)))
            if d.position.column > 0:
                properties.append(("col", str(d.position.column)))
    properties.append(("title", d.code))
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
    lines = [d.message]
    lines.extend(f"note: {r.position}: {r.message}" for r in d.related)
    if d.hint:
        lines.append(f"hint: {d.hint}")
    return f"::{_COMMANDS[d.severity]} {props}::{escape_data(chr(10).join(lines))}"


def format_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, Source]) -> str:
    del sources
    return "".join(format_one(d) + "\n" for d in diagnostics)
