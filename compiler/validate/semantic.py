"""Whole-fleet semantic checks, in the order they run: the clusters' mesh-wide invariants
(`compiler.validate.mesh`), references between services, policies and expectations
(`compiler.validate.references`), peers beyond the fleet's pods (`compiler.validate.peers`)
and rules touching system namespaces (`compiler.validate.system`). CEL selectors and
guardrails are checked elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.diagnostics import Diagnostics
from compiler.load import Document
from compiler.model import Fleet
from compiler.validate import mesh, peers, references, system

CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = (
    *mesh.CHECKS,
    *references.CHECKS,
    *peers.CHECKS,
    *system.CHECKS,
)
