"""The `fleetc` command line: parse arguments, run one command, own the exit code.

Exit codes: 0 success, 1 findings (errors in the fleet, a stale check, a denied explain with
``--exit-code``), 2 usage errors and internal errors. An unexpected exception is a bug: it is
reported as ``internal error`` on stderr, never as a traceback dressed up as a diagnostic.
Commands are imported only when chosen, so ``validate`` pays for nothing it does not use.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Protocol

from compiler import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 2

COMMANDS = {
    "validate": "compiler.commands.validate",
    "render": "compiler.commands.render",
    "diff": "compiler.commands.diff",
    "commit": "compiler.commands.commit",
    "explain": "compiler.commands.explain",
    "schema": "compiler.commands.schema",
    "values": "compiler.commands.values",
    "rollout": "compiler.commands.rollout",
}

HELP = {
    "validate": "check fleet.yaml: schema, mesh invariants, guardrails, expectations",
    "render": "compile fleet.yaml into per-cluster output under --out",
    "diff": "render base and head revisions and diff objects and connectivity",
    "commit": "render, then commit the output directory to git",
    "explain": "may X reach Y on a port? and which rule decides",
    "schema": "print the JSON Schema of fleet.yaml",
    "values": "print one cluster's Cilium Helm values (day 0: helm install, Terraform, CAPI)",
    "rollout": "staged rollout: where each wave and cluster stands (rollout status)",
}


class Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class UsageError(Exception):
    """A problem with the command line or the environment, not with the fleet (exit 2)."""


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetc", description="Compile a fleet.yaml into Cilium Cluster Mesh output."
    )
    parser.add_argument("--version", action="version", version=f"fleetc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        cmd_parser = sub.add_parser(name, help=HELP[name], description=HELP[name])
        if name == chosen:
            _load(name).add_arguments(cmd_parser)
    return parser


def _load(name: str) -> Command:
    command: Command = importlib.import_module(COMMANDS[name])
    return command


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if a in COMMANDS), None)
    try:
        args = _parser(chosen).parse_args(args_list)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    try:
        return _load(args.command).run(args)
    except UsageError as exc:
        print(f"fleetc: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fleetc: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, keep the trace only on request
        print(
            f"fleetc: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in fleetc; set FLEETC_TRACEBACK=1 for details.",
            file=sys.stderr,
        )
        if os.environ.get("FLEETC_TRACEBACK"):
            import traceback

            traceback.print_exc()
        return EXIT_INTERNAL


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
