"""`fleetc validate [FLEET ...]`: every check, no output files. Fast enough for pre-commit.

Several fleet files may be given (pre-commit passes every staged ``fleet.yaml``); each is
checked on its own and all findings are printed together, sorted, once.
"""

from __future__ import annotations

import argparse

from compiler.commands.common import add_output_argument, print_diagnostics, read_fleet
from compiler.diagnostics import Diagnostics
from compiler.load import Source
from compiler.pipeline import check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "fleet",
        nargs="*",
        default=["fleet.yaml"],
        metavar="FLEET",
        help="one or more fleet files (default: ./fleet.yaml)",
    )
    add_output_argument(parser)


def run(args: argparse.Namespace) -> int:
    fleets = [args.fleet] if isinstance(args.fleet, str) else args.fleet
    paths: list[str] = list(dict.fromkeys(fleets))  # a file named twice is checked once
    inputs = [(path, read_fleet(path)) for path in paths]  # usage errors before any output
    diags = Diagnostics()
    sources: dict[str, Source] = {}
    for path, data in inputs:
        checked = check(data, path, diags)
        if checked is not None:
            sources[path] = checked.doc.source
        else:
            sources[path] = Source(path, data.decode("utf-8", "replace"))
    return print_diagnostics(diags, sources, args.output)
