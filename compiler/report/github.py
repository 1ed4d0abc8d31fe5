"""Diagnostics as GitHub Actions workflow commands, which annotate the pull request's files.

``::error file=F,line=L,col=C,title=CODE::message``; warnings use ``::warning`` and notes
``::notice``. Escaping follows the runner's rules: in the message ``%``, CR and LF are
percent-encoded; in property values ``:`` and ``,`` are too, since they delimit properties.
Hints and related places go into the message, on lines of their own.

GitHub shows at most 10 annotations of a step and drops the rest without a word, so only the
10 most severe are annotations (errors, then warnings, then notes, each kind in position
order); when there are more, one plain line follows with the total and where the rest is.
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.diagnostics import Diagnostic, Severity
from compiler.load import Source

LIMIT = 10
"""Annotations GitHub shows per step."""

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


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    """The line that follows the annotations when some could not be shown."""
    counts = {s: sum(1 for d in diagnostics if d.severity is s) for s in Severity}
    parts = ", ".join(f"{counts[s]} {s.label}(s)" for s in sorted(Severity, reverse=True))
    return (
        f"fleetc: {len(diagnostics)} finding(s) in total ({parts}); the {LIMIT} most severe are"
        " annotated above. All of them: the code scanning results (SARIF) of this run, or"
        " `fleetc validate` locally."
    )


def format_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, Source]) -> str:
    del sources
    ordered = sorted(diagnostics, key=lambda d: -d.severity)  # stable: position order kept
    lines = [format_one(d) for d in ordered[:LIMIT]]
    if len(ordered) > LIMIT:
        lines.append(summary(ordered))
    return "".join(line + "\n" for line in lines)
