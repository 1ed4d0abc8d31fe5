"""`fleetc diff [FLEET] --base REV`: what a change to fleet.yaml does, by object and by flow.

The base side is read from git at REV (default: the merge-base of HEAD with the upstream main
branch); the head side is the working-tree file, or `--head REV`. Exit 0, or 1 with
`--exit-code` when anything differs or a side fails to compile; 2 for usage errors.

`-o markdown` is budgeted (`--budget`): `comment` fits a pull-request comment, `summary` a job
summary, `none` is everything. `--report-dir DIR` writes all of them from the one comparison
(`comment.md`, `summary.md`, `diff.md`, `diff.json`): what the GitHub Action posts, puts in the
job summary and uploads as an artifact.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from compiler.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from compiler.commands.common import add_fleet_argument, read_fleet, source_name

REPORT_FILES = ("comment.md", "summary.md", "diff.md", "diff.json")


def _write_report(directory: Path, markdown: Callable[[str], str], data: str) -> None:
    """The report in every size, for CI: each file written whole (a temporary, then renamed)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        texts = {
            "comment.md": markdown("comment"),
            "summary.md": markdown("summary"),
            "diff.md": markdown("none"),
            "diff.json": data,
        }
        for name in REPORT_FILES:
            tmp = directory / f".{name}.tmp"
            tmp.write_text(texts[name], encoding="utf-8")
            tmp.replace(directory / name)
    except OSError as exc:
        raise UsageError(f"--report-dir {directory}: {exc.strerror or exc}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fleet_argument(parser)
    parser.add_argument("--base", metavar="REV", help="default: merge-base with upstream main")
    parser.add_argument("--head", metavar="REV", help="default: the working tree")
    parser.add_argument("-o", "--output", choices=("text", "json", "markdown"), default="text")
    parser.add_argument(
        "--budget",
        choices=("comment", "summary", "none"),
        default="comment",
        help="size of -o markdown: a PR comment (64 KiB, default), a job summary (1 MiB), none",
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="also write comment.md, summary.md, diff.md and diff.json into DIR",
    )
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
    from compiler.report.terminal import Progress

    fleet = Path(args.fleet)
    name = source_name(args.fleet)
    progress = Progress.for_stderr()
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
    with progress:
        progress.say(f"compiling {base_label}")
        base_side = compile_side(base_label, base.data, name)
        progress.say(f"compiling {head_label}")
        head_side = compile_side(head_label, head_data, name)
        progress.say("comparing objects, mesh and connectivity")
        result = diff_fleets(base_side, head_side, flow_limit=args.max_flows)
        progress.say("writing the report")
        from compiler.report import diff as report
        from compiler.report.comment import BUDGETS

        compiled = result.head.compiled or result.base.compiled
        fleet_name = compiled.resolved.name if compiled else fleet.stem

        def markdown(budget: str) -> str:
            return report.format_markdown(result, fleet_name, BUDGETS[budget])

        if args.report_dir:
            _write_report(Path(args.report_dir), markdown, report.format_json(result))
        if args.output == "json":
            text = report.format_json(result)
        elif args.output == "markdown":
            text = markdown(args.budget)
        else:
            text = report.format_text(result)
    sys.stdout.write(text)
    if result.failed or (args.exit_code and result.changed):
        return EXIT_FINDINGS
    return EXIT_OK
