"""`fleetc rollout status [FLEET] --out DIR [-o json]`: waves, clusters, the revision each is at;
`fleetc rollout waves [FLEET] [-o json]`: the wave names in order (for scripts: the action
commits the first on a merge), nothing when the fleet declares none.

Exit codes: 0 the status was printed (whatever it says); 2 usage problems (no DIR, an
unreadable manifest) and a fleet with errors (its diagnostics are printed: without a valid
fleet there is no revision to compare with).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.cli import EXIT_OK, EXIT_USAGE, UsageError
from compiler.commands.common import add_fleet_argument, print_diagnostics, read_fleet
from compiler.diagnostics import Diagnostics

if TYPE_CHECKING:
    from compiler.model import Fleet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    status = sub.add_parser(
        "status", help="waves, their clusters, the revision each is at, what is pending"
    )
    add_fleet_argument(status)
    status.add_argument(
        "--out", default="rendered", metavar="DIR", help="output directory (default: rendered/)"
    )
    status.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="output format"
    )
    waves = sub.add_parser("waves", help="the wave names in order, one per line")
    add_fleet_argument(waves)
    waves.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="output format"
    )


def _manifest(out: Path) -> dict[str, object] | None:
    if not out.is_dir():
        raise UsageError(f"{out}: no such directory (render or commit the fleet first)")
    path = out / ".fleetc" / "manifest.json"
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a fleetc manifest: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a fleetc manifest")
    return data


def _checked(args: argparse.Namespace) -> tuple[bytes, Fleet | None]:
    """FLEET, checked; None (its diagnostics printed) when it has errors."""
    from compiler.commands.render import source_label
    from compiler.load import Source
    from compiler.pipeline import check

    data = read_fleet(args.fleet)
    label = source_label(args.fleet)
    diags = Diagnostics()
    checked = check(data, label, diags)
    if checked is None or diags.has_errors:
        sources = {label: Source(label, data.decode("utf-8", "replace"))}
        print_diagnostics(diags, sources, "text" if args.output == "text" else "json")
        return data, None
    return data, checked.fleet


def run(args: argparse.Namespace) -> int:
    if args.action == "waves":
        return _waves(args)
    from compiler.emit.git import source_state
    from compiler.rollout.status import status

    manifest = _manifest(Path(args.out))
    data, fleet = _checked(args)
    if fleet is None:
        return EXIT_USAGE
    commit = source_state(Path(args.fleet), hashlib.sha256(data).hexdigest()).commit
    result = status(fleet, manifest, commit)
    if args.output == "json":
        sys.stdout.write(json.dumps(result.as_data(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(result.text())
    return EXIT_OK


def _waves(args: argparse.Namespace) -> int:
    from compiler.validate.waves import assign

    _, fleet = _checked(args)
    if fleet is None:
        return EXIT_USAGE
    waves = assign(fleet)
    if args.output == "json":
        data = [{"name": w.name, "clusters": list(w.clusters)} for w in waves]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{w.name}\n" for w in waves))
    return EXIT_OK
