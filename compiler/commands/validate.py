"""`fleetc validate [FLEET]`: every check, no output files. Fast enough for pre-commit."""

from __future__ import annotations

import argparse

from compiler.commands.common import (
    add_fleet_argument,
    add_output_argument,
    print_diagnostics,
    read_fleet,
)
from compiler.diagnostics import Diagnostics
from compiler.load import Source
from compiler.pipeline import check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fleet_argument(parser)
    add_output_argument(parser)


def run(args: argparse.Namespace) -> int:
    data = read_fleet(args.fleet)
    diags = Diagnostics()
    checked = check(data, args.fleet, diags)
    sources = {args.fleet: checked.doc.source} if checked else {}
    if not sources:
        sources = {args.fleet: Source(args.fleet, data.decode("utf-8", "replace"))}
    return print_diagnostics(diags, sources, args.output)
