"""Kubernetes label selectors (``matchLabels`` / ``matchExpressions``) over cluster labels.

One pure function, `match_labels`, shared by validation (a selector that matches no cluster)
and by the stages that work out which clusters a policy concerns. CEL selectors are a
different language and live in `compiler.validate.cel`; passing one here is a caller's bug.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class _Requirement(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def operator(self) -> str: ...

    @property
    def values(self) -> Sequence[str]: ...


class LabelSelector(Protocol):
    """What `compiler.model.fleet.ClusterLabelSelector` looks like to this module."""

    @property
    def matchLabels(self) -> Mapping[str, str]: ...

    @property
    def matchExpressions(self) -> Sequence[Any]: ...

    @property
    def cel(self) -> str | None: ...


def match_labels(selector: LabelSelector | Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy `selector`, with Kubernetes semantics.

    Every ``matchLabels`` pair and every expression must hold; an empty selector matches
    everything. ``NotIn`` and ``DoesNotExist`` hold when the key is absent. `selector` is a
    model object or the same shape as plain data (``{"matchLabels": {...}, ...}``).
    """
    if isinstance(selector, Mapping):
        if selector.get("cel") is not None:
            raise ValueError("a CEL cluster selector is not a label selector")
        wanted: Mapping[str, str] = selector.get("matchLabels") or {}
        expressions: Sequence[Any] = selector.get("matchExpressions") or ()
    else:
        if selector.cel is not None:
            raise ValueError("a CEL cluster selector is not a label selector")
        wanted, expressions = selector.matchLabels, selector.matchExpressions
    for key, value in wanted.items():
        if labels.get(key) != value:
            return False
    return all(_requirement(expr, labels) for expr in expressions)


def _requirement(expr: _Requirement | Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    if isinstance(expr, Mapping):
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or ()
    else:
        key, operator, values = expr.key, expr.operator, expr.values
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown selector operator {operator!r}")
