"""`python -m compiler` is `fleetc`."""

from compiler.cli import run

run()
