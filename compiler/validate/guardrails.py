"""CEL checks of validate: guardrails hold, and every CEL cluster selector compiles and runs.

Both checks return at once when the fleet has no CEL, before `compiler.validate.cel` imports
celpy. Selectors are evaluated here (the result is cached for resolve) so a selector that
fails at run time is reported by ``validate``, inside fleet.yaml, like a syntax error.
"""

from __future__ import annotations

from collections.abc import Iterator

from compiler.diagnostics import Diagnostics, Related
from compiler.load import Document, Path
from compiler.model import Fleet
from compiler.model.fleet import ClusterLabelSelector, Peer


def cel_selectors(fleet: Fleet) -> Iterator[tuple[Path, str]]:
    """(data path of the ``cel`` value, expression) for every CEL cluster selector."""
    for i, policy in enumerate(fleet.spec.policies):
        side: Peer
        for name, side in (("from", policy.from_), ("to", policy.to)):
            selector = side.clusters
            if isinstance(selector, ClusterLabelSelector) and selector.cel is not None:
                yield ("spec", "policies", i, name, "clusters", "cel"), selector.cel


def check_selectors(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Every ``{cel: ...}`` cluster selector parses, stays within limits and gives a bool."""
    found = list(cel_selectors(fleet))
    if not found:
        return
    from compiler.validate.cel_select import select_clusters

    clusters = list(fleet.spec.clusters)
    for path, expression in found:
        select_clusters(expression, clusters, doc.position(path), diags, doc.source)


def check_guardrails(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Each guardrail compiles and evaluates to true over the whole fleet."""
    guardrails = fleet.spec.guardrails
    if not guardrails:
        return
    from compiler.validate import cel
    from compiler.validate.cel_data import fleet_variables
    from compiler.validate.cel_position import expression_position

    compiled = [cel.compile_expression(g.expression) for g in guardrails]
    runnable = [c.program.ast for c in compiled if c.error is None]
    # converted once, only as far as the expressions read it, shared by all guardrails
    variables = fleet_variables(fleet, runnable) if runnable else {}
    for i, (guardrail, program) in enumerate(zip(guardrails, compiled, strict=True)):
        path: Path = ("spec", "guardrails", i, "expression")
        at = doc.position(path)
        expression = guardrail.expression
        prefix = f"guardrail {guardrail.name!r}: "
        if program.error is not None:
            cel.report(diags, program.error, expression, at, doc.source, prefix)
            continue
        value = cel.evaluate(program, variables, cel.Budget())
        if isinstance(value, cel.CelError):
            cel.report(diags, value, expression, at, doc.source, prefix)
        elif not cel.is_bool(value):
            diags.error(
                "cel-type",
                f"{prefix}a guardrail must give true or false; got {cel.cel_type(value)}",
                expression_position(doc.source, at, expression, 0),
            )
        elif not value:
            diags.error(
                "guardrail-failed",
                f"guardrail {guardrail.name!r} failed: {guardrail.message}",
                expression_position(doc.source, at, expression, 0),
                related=[
                    Related(doc.position(("spec", "guardrails", i)), "guardrail defined here")
                ],
            )


CHECKS = (check_selectors, check_guardrails)
