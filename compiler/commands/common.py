"""What several commands share: the FLEET argument, its name in output, reading it, and
printing diagnostics."""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from compiler.diagnostics import Diagnostic, Diagnostics, Severity
from compiler.load import Source
from compiler.report import FORMATS, formatter

if TYPE_CHECKING:
    from compiler.model import Fleet


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


def source_name(path: str) -> str:
    """How output names the fleet file: one clean relative POSIX path for every spelling.

    ``fleet.yaml``, ``./fleet.yaml``, ``a/../fleet.yaml`` and the absolute path all become
    ``fleet.yaml``, so the same fleet renders the same bytes however it was named. Relative
    to the working directory (fleet repositories run fleetc at their root); a file outside it
    is named relative to its git repository's root, else by its base name: never absolute.
    """
    absolute = os.path.normpath(os.path.abspath(path))
    cwd = os.path.normpath(os.getcwd())
    inside = os.path.relpath(absolute, cwd)
    if inside != os.pardir and not inside.startswith(os.pardir + os.sep):
        return Path(inside).as_posix()
    for parent in Path(absolute).parents:
        if (parent / ".git").exists():
            return Path(absolute).relative_to(parent).as_posix()
    return posixpath.basename(Path(absolute).as_posix())


def meaning(fleet: Fleet) -> bytes:
    """The fleet's meaning as bytes: the normalized model, keys sorted, compact JSON.

    The manifest's source digest is taken of this, not of fleet.yaml's bytes, so comments,
    key order and flow or block style change no rendered byte, the manifest included.
    """
    data = fleet.model_dump(mode="json", by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def read_fleet(path: str) -> bytes:
    """The bytes of FLEET; a missing, unreadable or non-regular file is a usage error (exit 2)."""
    from compiler.load.read import ReadError, read_fleet_file

    try:
        return read_fleet_file(path)
    except ReadError as exc:
        raise UsageError(str(exc)) from None


class Collected:
    """What a command found, kept to print as one JSON document at its end (see `collect`)."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.extra: dict[str, Any] = {}
        """What else the command reports in its document (render --check: the drift)."""


_COLLECTING: ContextVar[Collected | None] = ContextVar("collecting", default=None)


def collecting() -> Collected | None:
    """The open `collect`, if any."""
    return _COLLECTING.get()


@contextmanager
def collect() -> Iterator[Collected]:
    """While open, `print_diagnostics` keeps findings in the yielded `Collected` instead of
    printing them: for a command whose `-o json` is one document holding more than them."""
    collected = Collected()
    token = _COLLECTING.set(collected)
    try:
        yield collected
    finally:
        _COLLECTING.reset(token)


def print_diagnostics(diags: Diagnostics, sources: dict[str, Source], output: str) -> int:
    """Print every finding once, sorted, in the chosen format; return the exit code."""
    items = diags.sorted()
    errors = any(d.severity is Severity.ERROR for d in items)
    collected = _COLLECTING.get()
    if collected is not None:
        collected.diagnostics.extend(items)
        return EXIT_FINDINGS if errors else EXIT_OK
    if output == "text":
        from compiler.report.terminal import colour
        from compiler.report.text import format_diagnostics

        text = format_diagnostics(items, sources, colour=colour(sys.stderr))
    else:
        text = formatter(output)(items, sources)
    stream = sys.stderr if output == "text" else sys.stdout
    if text:
        stream.write(text)
        stream.flush()
    return EXIT_FINDINGS if errors else EXIT_OK
