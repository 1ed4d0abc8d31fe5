"""Expectations: connectivity the fleet's authors assert, checked on every validate.

Each expectation names a flow (``from``, ``to``, ``port``) and whether it must be allowed.
The reachability model (`compiler.reach`) decides the flow from the resolved fleet; a mismatch
is an error at the expectation, naming the rule that decided and pointing at it. Resolving
needs a fleet without errors, so this check runs last and only then; malformed or unknown
endpoints are reported by `compiler.validate.references` and skipped here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostics, Related
from compiler.load import Document
from compiler.model import Fleet, PortRange

if TYPE_CHECKING:  # compiler.reach imports compiler.validate.endpoints: import it lazily
    from compiler.reach import Decision


def _related(doc: Document, decision: Decision) -> list[Related]:
    if decision.rule is not None:
        return [Related(decision.rule.origin, f"decided by policy {decision.rule.name}")]
    if decision.kind == "default-deny":
        path = ("spec", "defaults", str(decision.direction))
        if doc.exists(path):
            return [Related(doc.position(path), f"default {decision.direction}: deny")]
    return []


def check_expectations(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    if not fleet.spec.expectations or diags.has_errors:
        return
    from compiler import reach
    from compiler.resolve import resolve

    resolved = resolve(doc, fleet, diags)
    if diags.has_errors:
        return
    for i, expectation in enumerate(fleet.spec.expectations):
        here = ("spec", "expectations", i)
        port = PortRange.parse(expectation.port)
        if port.low != port.high or port.protocol == "ANY":
            diags.error(
                "expectation-port",
                f"an expectation names one port and protocol, not {expectation.port}",
                doc.position((*here, "port")),
                hint=f"write e.g. {port.low}/{'TCP' if port.protocol == 'ANY' else port.protocol}",
            )
            continue
        try:
            src = reach.parse(resolved, expectation.from_)
            dst = reach.parse(resolved, expectation.to)
        except (reach.EndpointError, reach.UnknownEndpoint):
            continue  # reported by compiler.validate.references
        if not isinstance(src, reach.Endpoint) and not isinstance(dst, reach.Endpoint):
            diags.error(
                "expectation-endpoint-invalid",
                "fleet policies govern flows that start or end at a pod of the fleet; name one"
                " side as ns/service@cluster or ns@cluster",
                doc.position(here),
            )
            continue
        decision = reach.decide(resolved, src, dst, port.protocol, port.low)
        allowed, by = decision.allowed, decision.rule
        request = expectation.http
        if allowed and request is not None:
            allowed, l7 = reach.requests(decision, request.method, request.path)
            by = l7 or by
        if allowed == expectation.allowed:
            continue
        title = f"expectation {expectation.name!r}" if expectation.name else "expectation"
        verdict = "allowed" if allowed else "denied"
        what = f" ({request.method} {request.path})" if request is not None else ""
        reason = decision.reason
        if by is not None and by is not decision.rule:
            reason = f"the L7 rules of policy {by.name}"
        hint = (
            f"fleetc explain --from {expectation.from_} --to {expectation.to}"
            f" --port {expectation.port}"
        )
        if request is not None:
            hint += f" --http '{request.method} {request.path}'"
        diags.error(
            "expectation-failed",
            f"{title} failed: {expectation.from_} -> {expectation.to} on {expectation.port}"
            f"{what} is {verdict} (expected {'allowed' if expectation.allowed else 'denied'});"
            f" decided by {reason}",
            doc.position(here),
            related=_related(doc, decision),
            hint=hint,
        )


CHECKS = (check_expectations,)
