"""Diagnostics for people: ``file:line:col: error[code]: message``, the line and a caret."""

from __future__ import annotations

from collections.abc import Sequence

from compiler.diagnostics import Diagnostic, Severity
from compiler.load import Source


def format_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, Source]) -> str:
    out: list[str] = []
    for d in diagnostics:
        where = f"{d.position}: " if d.position else ""
        out.append(f"{where}{d.severity.label}[{d.code}]: {d.message}")
        if d.position is not None and d.position.line > 0 and not d.redact:
            source = sources.get(d.position.file)
            line = source.line(d.position.line) if source else ""
            if line:
                gutter = f"{d.position.line:>5} | "
                out.append(gutter + line)
                caret_at = max(d.position.column, 1) - 1
                pad = "".join("\t" if ch == "\t" else " " for ch in line[:caret_at])
                out.append(" " * (len(gutter) - 2) + "| " + pad + "^")
        for related in d.related:
            out.append(f"  note: {related.position}: {related.message}")
        if d.hint:
            out.append(f"  hint: {d.hint}")
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    if diagnostics:
        out.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(out) + ("\n" if out else "")
