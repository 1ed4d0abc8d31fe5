"""Stage 3, validate: whole-fleet rules a single field cannot express, guardrails, expectations.

Each check is a plain function ``(doc, fleet, diags) -> None`` listed in `CHECKS`, in the order
they run; all of them run, so one run reports every problem.
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.diagnostics import Diagnostics
from compiler.guard import check as guard_check
from compiler.load import Document
from compiler.model import Fleet
from compiler.validate import budget, expectations, guardrails, semantic, waves

Check = Callable[[Document, Fleet, Diagnostics], None]

CHECKS: tuple[Check, ...] = (
    semantic.CHECKS
    + guardrails.CHECKS
    + budget.CHECKS
    + guard_check.CHECKS
    + expectations.CHECKS
    + waves.CHECKS
)


def validate(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Run every whole-fleet check, adding what they find to `diags`."""
    for check in CHECKS:
        check(doc, fleet, diags)
