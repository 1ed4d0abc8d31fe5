"""Stage 7, report: diagnostics and results for people and tools, one module per format."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler.diagnostics import Diagnostic
from compiler.load import Source

Formatter = Callable[[Sequence[Diagnostic], dict[str, Source]], str]

FORMATS = ("text", "json", "github", "sarif")


def formatter(name: str) -> Formatter:
    """The formatter for `-o NAME`; imported on demand so `text` costs nothing extra."""
    import importlib

    if name not in FORMATS:
        raise ValueError(name)
    module = importlib.import_module(f"compiler.report.{name}")
    function: Formatter = module.format_diagnostics
    return function
