"""`fleetc validate [FLEET ...]`: every check, no output files. Fast enough for pre-commit.

A fleet checked before without errors, unchanged, by the same fleetc, is not checked again:
its warnings and notes come from explain's cache (`compiler.commands.cached`).

Several fleet files may be given (pre-commit passes every staged ``fleet.yaml``); each is
checked on its own and all findings are printed together, sorted, once.
"""

from __future__ import annotations

import argparse

from compiler.commands import cached
from compiler.commands.common import add_output_argument, print_diagnostics, read_fleet
from compiler.diagnostics import Diagnostics
from compiler.load import Source


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
        entry = cached.load(path, data)
        if entry is not None:  # checked before, clean: what it found then
            diags.extend(entry.diagnostics)
            sources[path] = Source(path, entry.text)
            continue
        from compiler.pipeline import check

        before, more = len(diags.items), dict(diags.more)
        checked = check(data, path, diags)
        if checked is not None:
            sources[path] = checked.doc.source
            if diags.more == more:  # every finding kept: the entry can say it all again
                found = diags.items[before:]
                cached.store(path, data, checked.doc.source.text, found, None)
        else:
            sources[path] = Source(path, data.decode("utf-8", "replace"))
    return print_diagnostics(diags, sources, args.output)
