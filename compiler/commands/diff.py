"""`fleetc diff [FLEET] --base REV`: what a change to fleet.yaml does, by object and by flow.

The base side is read from git at REV (default: the merge-base of HEAD with the upstream main
branch); the head side is the working-tree file, or `--head REV`. Exit 0, or 1 with
`--exit-code` when anything differs or a side fails to compile; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compiler.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from compiler.commands.common import add_fleet_argument, read_fleet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fleet_argument(parser)
    parser.add_argument("--base", metavar="REV", help="default: merge-base with upstream main")
    parser.add_argument("--head", metavar="REV", help="default: the working tree")
    parser.add_argument("-o", "--output", choices=("text", "json", "markdown"), default="text")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when anything differs")
    parser.add_argument(
        "--max-flows",
        type=int,
        default=200_000,
        metavar="N",
        help="stop the connectivity comparison after N decisions (default 200000)",
    )


def run(args: argparse.Namespace) -> int:
    from compiler.diff import compile_side, diff_fleets
    from compiler.load.git import GitError, default_base, read_at, toplevel

    fleet = Path(args.fleet)
    name = args.fleet
    try:
        repo = toplevel(fleet)
        base_rev = args.base or default_base(repo)
        base = read_at(fleet, base_rev)
        if args.head:
            head = read_at(fleet, args.head)
            head_data, head_label = head.data, f"{args.head} ({head.commit[:12]})"
        else:
            head_data, head_label = read_fleet(args.fleet), "working tree"
    except GitError as exc:
        raise UsageError(str(exc)) from None
    base_label = (
        f"{base_rev} ({base.commit[:12]})"
        if base.commit[:12] != base_rev[:12]
        else base.commit[:12]
    )
    result = diff_fleets(
        compile_side(base_label, base.data, name),
        compile_side(head_label, head_data, name),
        flow_limit=args.max_flows,
    )
    from compiler.report import diff as report

    if args.output == "json":
        text = report.format_json(result)
    elif args.output == "markdown":
        metadata_name = result.head.compiled or result.base.compiled
        fleet_name = metadata_name.resolved.name if metadata_name else fleet.stem
        text = report.format_markdown(result, fleet_name)
    else:
        text = report.format_text(result)
    sys.stdout.write(text)
    if result.failed or (args.exit_code and result.changed):
        return EXIT_FINDINGS
    return EXIT_OK
