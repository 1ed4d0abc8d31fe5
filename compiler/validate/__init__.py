"""Stage 3, validate: whole-fleet rules a single field cannot express, guardrails, expectations.

Each check is a plain function ``(doc, fleet, diags) -> None`` returned by `checks()`, in the
order they run; all of them run, so one run reports every problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostics

if TYPE_CHECKING:
    from compiler.load import Document
    from compiler.model import Fleet

Check = Callable[["Document", "Fleet", Diagnostics], None]


def checks() -> tuple[Check, ...]:
    """Every check, in order. Imported on first use: `compiler.validate.endpoints` and
    `names` serve explain on a cached fleet, which must not build the pydantic models."""
    from compiler.guard import check as guard_check
    from compiler.validate import budget, expectations, guardrails, semantic, waves

    return (
        semantic.CHECKS
        + guardrails.CHECKS
        + budget.CHECKS
        + guard_check.CHECKS
        + expectations.CHECKS
        + waves.CHECKS
    )


def validate(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Run every whole-fleet check, adding what they find to `diags`."""
    for check in checks():
        check(doc, fleet, diags)
