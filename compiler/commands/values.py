"""`fleetc values [FLEET] --cluster C [-o yaml|json]`: one cluster's Cilium Helm values (day 0).

Cilium is the CNI, so it is installed before Flux can run: with ``helm install -f``,
Terraform's helm provider or Cluster API. This prints the values fleetc owns for that
cluster, byte for byte what ``fleetc render`` writes to ``bootstrap/<C>/cilium-values.yaml``
(``-o yaml``, the default), or the same data as JSON (``-o json``, e.g. for Terraform's
``jsonencode``-free use). Only the values are computed, not the whole output tree.

Exit codes: 0 printed (warnings go to stderr); 1 the fleet has errors (diagnostics on
stderr, nothing on stdout); 2 usage, including a cluster the fleet does not have.
"""

from __future__ import annotations

import argparse
import json
import sys

from compiler.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from compiler.commands.common import add_fleet_argument, print_diagnostics, read_fleet
from compiler.diagnostics import Diagnostics
from compiler.load import Source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fleet_argument(parser)
    parser.add_argument("--cluster", required=True, metavar="C", help="the cluster's name")
    parser.add_argument(
        "-o", "--output", choices=("yaml", "json"), default="yaml", help="default: yaml"
    )


def run(args: argparse.Namespace) -> int:
    from compiler.commands.render import source_label
    from compiler.pipeline import check

    data = read_fleet(args.fleet)
    label = source_label(args.fleet)
    diags = Diagnostics()
    checked = check(data, label, diags)
    source = checked.doc.source if checked else Source(label, data.decode("utf-8", "replace"))
    if checked is None or diags.has_errors:
        print_diagnostics(diags, {label: source}, "text")
        return EXIT_FINDINGS
    names = [c.name for c in checked.fleet.spec.clusters]
    if args.cluster not in names:
        from compiler.validate.names import did_you_mean

        hint = did_you_mean(args.cluster, names)
        raise UsageError(
            f"{label} has no cluster {args.cluster!r}"
            + (f"; {hint}" if hint else f" (clusters: {', '.join(sorted(names))})")
        )
    from compiler.resolve import resolve

    resolved = resolve(checked.doc, checked.fleet, diags)
    print_diagnostics(diags, {label: source}, "text")  # warnings only, on stderr
    if diags.has_errors:
        return EXIT_FINDINGS
    from compiler.render.clustermesh import bootstrap_file, values

    cluster = resolved.cluster(args.cluster)
    if args.output == "json":
        text = json.dumps(values(resolved, cluster), indent=2, sort_keys=True) + "\n"
        sys.stdout.write(text)
    else:
        from compiler.emit.serialize import serialize

        sys.stdout.buffer.write(serialize(bootstrap_file(resolved, cluster), label))
    sys.stdout.flush()
    return EXIT_OK
