"""Name suggestions ("did you mean") for references that do not resolve."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=cutoff)
    return f"did you mean {matches[0]!r}?" if matches else None


def did_you_mean_service(ref: str, candidates: Iterable[str]) -> str | None:
    """Like `did_you_mean` for ``namespace/name`` references.

    A shared namespace makes any two references look alike (``shop/db`` and ``shop/web``),
    so names are compared within the namespace first; across namespaces only a near-exact
    match (a namespace typo) is offered.
    """
    refs = sorted(set(candidates))
    namespace, _, name = ref.partition("/")
    same = [c.partition("/")[2] for c in refs if c.partition("/")[0] == namespace]
    close = difflib.get_close_matches(name, same, n=1, cutoff=0.6)
    if close:
        return f"did you mean {namespace + '/' + close[0]!r}?"
    others = [c for c in refs if c.partition("/")[0] != namespace]
    return did_you_mean(ref, others, cutoff=0.85)
