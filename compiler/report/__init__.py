"""Stage 7, report: diagnostics and results for people and tools, one module per format."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler.diagnostics import Diagnostic
from compiler.load import Source

Formatter = Callable[[Sequence[Diagnostic], dict[str, Source]], str]

FORMATS = ("text", "json", "github", "sarif")


def formatter(name: str) -> Formatter:
    """The formatter for `-o NAME`; imported on demand so `text` costs nothing extra."""
    if name == "text":
        from compiler.report.text import format_diagnostics
    elif name == "json":
        from compiler.report.json import format_diagnostics
    elif name == "github":
        from compiler.report.github import format_diagnostics
    elif name == "sarif":
        from compiler.report.sarif import format_diagnostics
    else:
        raise ValueError(name)
    return format_diagnostics
