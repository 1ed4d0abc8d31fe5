"""What several commands share: the FLEET argument, reading it, and printing diagnostics."""

from __future__ import annotations

import argparse
import sys

from compiler.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from compiler.diagnostics import Diagnostics, Severity
from compiler.load import Source
from compiler.report import FORMATS, formatter


def add_fleet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "fleet", nargs="?", default="fleet.yaml", metavar="FLEET", help="default: ./fleet.yaml"
    )


def add_output_argument(
    parser: argparse.ArgumentParser, choices: tuple[str, ...] = FORMATS
) -> None:
    parser.add_argument(
        "-o", "--output", choices=choices, default="text", help="output format (default: text)"
    )


def read_fleet(path: str) -> bytes:
    """The bytes of FLEET; a missing, unreadable or non-regular file is a usage error (exit 2)."""
    from compiler.load.read import ReadError, read_fleet_file

    try:
        return read_fleet_file(path)
    except ReadError as exc:
        raise UsageError(str(exc)) from None


def print_diagnostics(diags: Diagnostics, sources: dict[str, Source], output: str) -> int:
    """Print every finding once, sorted, in the chosen format; return the exit code."""
    items = diags.sorted()
    text = formatter(output)(items, sources)
    stream = sys.stderr if output == "text" else sys.stdout
    if text:
        stream.write(text)
        stream.flush()
    errors = any(d.severity is Severity.ERROR for d in items)
    return EXIT_FINDINGS if errors else EXIT_OK
