"""Cluster selectors in CEL (``clusters: {cel: ...}``): which clusters an expression picks.

celpy costs milliseconds per evaluation, so a selector is evaluated once per distinct value of
the cluster fields it reads (`cel_data.fields_read`), each cluster is converted to CEL values
once, and a selection is cached per expression and cluster list (`resolve`, `validate` and the
guard all ask). Compilation, limits and the budget are `cel`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from compiler.diagnostics import Diagnostics, Position
from compiler.load import Source
from compiler.model.fleet import Cluster
from compiler.validate.cel import (
    Budget,
    CelError,
    cel_type,
    compile_expression,
    evaluate,
    is_bool,
    report,
)
from compiler.validate.cel_data import fields_read, to_cel

# Selections, keyed by expression and the identity of the cluster objects; each entry keeps
# the clusters alive, so an id cannot be reused while the entry exists. Models are frozen.
_selections: dict[tuple[str, tuple[int, ...]], tuple[Sequence[Cluster], list[str] | CelError]] = {}
_cluster_values: dict[int, tuple[Cluster, dict[str, Any], Any]] = {}
_CACHE_LIMIT = 4096


def select_clusters(
    expression: str,
    clusters: list[Cluster],
    at: Position,
    diags: Diagnostics,
    source: Source | None = None,
) -> list[str] | None:
    """Names of the clusters for which `expression` (over ``cluster``) is true, sorted.

    On an error, adds a diagnostic (inside the expression when `source` is given, else at
    `at`, the position of the ``cel`` value) and returns None. Cached per expression.
    """
    key = (expression, tuple(map(id, clusters)))
    cached = _selections.get(key)
    if cached is None:
        cached = (tuple(clusters), _select(expression, clusters))
        if len(_selections) > _CACHE_LIMIT:
            _selections.clear()
        _selections[key] = cached
    outcome = cached[1]
    if isinstance(outcome, CelError):
        report(diags, outcome, expression, at, source)
        return None
    return list(outcome)


def _select(expression: str, clusters: Sequence[Cluster]) -> list[str] | CelError:
    compiled = compile_expression(expression)
    if compiled.error is not None:
        return compiled.error
    # When the expression reads only some fields of `cluster`, clusters that agree on them
    # get the same answer: evaluate once per distinct combination (celpy is slow).
    fields = fields_read(compiled.program.ast, "cluster")
    seen: dict[str, Any] = {}
    budget = Budget()
    chosen: list[str] = []
    for cluster in clusters:
        plain, value_in = _cluster_value(cluster)
        key = None
        if fields is not None:
            key = json.dumps([[f, plain[f]] if f in plain else [f] for f in sorted(fields)])
        if key is not None and key in seen:
            value = seen[key]
        else:
            value = evaluate(compiled, {"cluster": value_in}, budget)
            if key is not None:
                seen[key] = value
        if isinstance(value, CelError):
            if value.code == "cel-eval":
                missing = missing_field(expression, value.message)
                offset, hint = missing if missing else (value.offset, value.hint)
                value = CelError(
                    value.code, f"{value.message} (cluster {cluster.name!r})", offset, hint
                )
            return value
        if not is_bool(value):
            return CelError(
                "cel-type",
                f"a cluster selector must give true or false; got {cel_type(value)}"
                f" for cluster {cluster.name!r}",
                0,
            )
        if value:
            chosen.append(cluster.name)
    return sorted(chosen)


def _cluster_value(cluster: Cluster) -> tuple[dict[str, Any], Any]:
    """The cluster as plain data and as CEL values, converted once per cluster object."""
    found = _cluster_values.get(id(cluster))
    if found is None or found[0] is not cluster:
        if len(_cluster_values) > _CACHE_LIMIT:
            _cluster_values.clear()
        plain = cluster.model_dump(mode="json", by_alias=True, exclude_none=True)
        found = (cluster, plain, to_cel(plain))
        _cluster_values[id(cluster)] = found
    return found[1], found[2]


_MISSING = re.compile(r"no such (?:member in mapping:|key) '([^']*)'")
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"


def missing_field(expression: str, message: str) -> tuple[int, str] | None:
    """Where `expression` reads the field an evaluation error says some cluster lacks, and
    the guard to write: ``has(cluster.labels.env) && cluster.labels.env == 'prod'`` (or
    ``'k' in m && m['k'] ...`` for an index), so that such clusters are simply not selected."""
    found = _MISSING.search(message)
    if found is None:
        return None
    key = re.escape(found.group(1))
    dotted = re.search(rf"({_PATH})\.{key}(?![A-Za-z0-9_])", expression)
    if dotted is not None:
        field = f"{dotted.group(1)}.{found.group(1)}"
        test = _operand(expression, dotted.start()) or f"{field} == ..."
        return dotted.start(), f"not every cluster has {field}: write has({field}) && {test}"
    indexed = re.search(rf"({_PATH})\[\s*(['\"]){key}\2\s*\]", expression)
    if indexed is not None:
        base, quote = indexed.group(1), indexed.group(2)
        name = f"{quote}{found.group(1)}{quote}"
        test = _operand(expression, indexed.start()) or f"{base}[{name}] == ..."
        return (
            indexed.start(),
            f"not every cluster has {name} in {base}: write {name} in {base} && {test}",
        )
    return None


def _operand(expression: str, start: int) -> str | None:
    """The comparison that starts at `start`: up to a top-level ``&&``, ``||``, ``?``, ``:``,
    ``,`` or the closing bracket of the group it is in (None when that is unclear)."""
    depth, quote, end = 0, "", len(expression)
    i = start
    while i < len(expression):
        ch = expression[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                end = i
                break
            depth -= 1
        elif depth == 0 and (expression.startswith(("&&", "||"), i) or ch in "?:,"):
            end = i
            break
        i += 1
    text = expression[start:end].strip()
    return text if text and not quote and "\n" not in text and len(text) <= 120 else None
