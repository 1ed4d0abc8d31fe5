"""`fleetc schema`: print the JSON Schema of fleet.yaml (the one committed under schemas/)."""

from __future__ import annotations

import argparse
import sys

from compiler.model.schema import schema_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    del args
    sys.stdout.write(schema_text())
    return 0
