"""Mesh-wide invariants: unique names and IDs, CIDR overlaps, references that resolve."""

from __future__ import annotations

from collections.abc import Callable

from compiler.diagnostics import Diagnostics
from compiler.load import Document
from compiler.model import Fleet

CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = ()
