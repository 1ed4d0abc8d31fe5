"""Stage 4, resolve: a validated Fleet -> the frozen, sorted `ResolvedFleet` renderers read.

Cluster selectors are evaluated here, once per selector (CEL only when a fleet uses it), and
services named by policies are expanded to their namespace, pods and clusters. Resolve runs
only on a fleet that validated without errors, so every reference is known to exist.

The work is in `build`, imported on first use: `compiler.resolve.model` (the resolved form)
must stay importable without the pydantic models, for explain on a cached fleet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler.resolve.model import ResolvedFleet

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostics
    from compiler.load import Document
    from compiler.model import Fleet

__all__ = ["ResolvedFleet", "resolve", "system_namespaces"]


def resolve(doc: Document, fleet: Fleet, diags: Diagnostics) -> ResolvedFleet:
    from compiler.resolve.build import resolve as build

    return build(doc, fleet, diags)


def system_namespaces(fleet: Fleet) -> set[str]:
    """Namespaces `defaults` never reaches (see `build.system_namespaces`)."""
    from compiler.resolve.build import system_namespaces as build

    return build(fleet)
