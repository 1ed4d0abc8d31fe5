"""Diagnostics for people: ``file:line:col: error[code]: message``, the line and a caret.

With ``colour`` (a terminal; see `compiler.report.terminal`) the severity and the caret are
coloured; the text is otherwise the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.diagnostics import Diagnostic, Severity
from compiler.load import Source
from compiler.report.terminal import paint

EXCERPT = 100
"""Longest source excerpt printed; longer lines show a window around the column."""


def excerpt(line: str, column: int) -> tuple[str, int]:
    """The part of `line` to print and where the caret goes in it (0-based).

    Control characters are shown as their Unicode control pictures (one column each, so the
    caret stays aligned) and long lines are cut to a window around `column`, marked with '...'.
    """
    visible = "".join(
        chr(0x2400 + ord(ch)) if ord(ch) < 32 and ch != "\t" else "\u2421" if ch == "\x7f" else ch
        for ch in line
    )
    if len(visible) <= EXCERPT:
        return visible, column
    start = max(0, min(column - EXCERPT // 2, len(visible) - EXCERPT))
    end = start + EXCERPT
    head = "..." if start > 0 else ""
    tail = "..." if end < len(visible) else ""
    return head + visible[start:end] + tail, column - start + len(head)


def format_diagnostics(
    diagnostics: Sequence[Diagnostic], sources: dict[str, Source], *, colour: bool = False
) -> str:
    out: list[str] = []
    for d in diagnostics:
        where = paint(f"{d.position}: ", "bold", colour) if d.position else ""
        label = paint(f"{d.severity.label}[{d.code}]", d.severity.label, colour)
        out.append(f"{where}{label}: {d.message}")
        if d.position is not None and d.position.line > 0 and not d.redact:
            source = sources.get(d.position.file)
            line = source.line(d.position.line) if source else ""
            if line:
                gutter = f"{d.position.line:>5} | "
                shown, caret_at = excerpt(line, max(d.position.column, 1) - 1)
                out.append(gutter + shown)
                pad = "".join("\t" if ch == "\t" else " " for ch in shown[:caret_at])
                caret = paint("^", d.severity.label, colour)
                out.append(" " * (len(gutter) - 2) + "| " + pad + caret)
        for related in d.related:
            out.append(f"  note: {related.position}: {related.message}")
        if d.hint:
            out.append(f"  hint: {d.hint}")
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    if diagnostics:
        out.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(out) + ("\n" if out else "")
