"""Name suggestions ("did you mean") for references that do not resolve."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_NAME = 100
"""Longer names get no suggestion: difflib's cost grows with the product of the lengths."""
MAX_CANDIDATES = 10_000
"""More candidates than this: no suggestion (each question would compare with every one)."""
MAX_QUESTIONS = 200
"""Distinct names one `Suggestions` answers; past that, no more suggestions are searched."""


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close (or it would cost
    too much to say: a very long name, or very many candidates)."""
    if len(name) > MAX_NAME:
        return None
    names = sorted(set(candidates))
    if len(names) > MAX_CANDIDATES:
        return None
    matches = difflib.get_close_matches(name, names, n=1, cutoff=cutoff)
    return f"did you mean {matches[0]!r}?" if matches else None


class Suggestions:
    """`did_you_mean` over one set of names, asked many times (one per unresolved reference).

    The candidates are sorted once and answers remembered, so a fleet with thousands of
    references to one misspelt name pays for one search.
    """

    def __init__(self, candidates: Iterable[str], cutoff: float = 0.6) -> None:
        self._names = sorted(set(candidates))
        self._known = frozenset(self._names)
        self._cutoff = cutoff
        self._memo: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        if name not in self._memo and (
            len(name) > MAX_NAME
            or len(self._names) > MAX_CANDIDATES
            or len(self._memo) >= MAX_QUESTIONS
        ):
            return None
        if name not in self._memo:
            close = difflib.get_close_matches(name, self._names, n=1, cutoff=self._cutoff)
            self._memo[name] = f"did you mean {close[0]!r}?" if close else None
        return self._memo[name]

    def __contains__(self, name: object) -> bool:
        return name in self._known

    def closest(self, name: str) -> str | None:
        hint = self(name)
        return hint.removeprefix("did you mean ").removesuffix("?").strip("'") if hint else None


class ServiceSuggestions:
    """Suggestions for ``namespace/name`` references.

    A shared namespace makes any two references look alike (``shop/db`` and ``shop/web``), so
    the namespace is matched first (exactly, or a near-exact typo of a known one) and the name
    is then compared only with the services of that namespace.
    """

    def __init__(self, refs: Iterable[str]) -> None:
        self._refs = frozenset(refs)
        by_namespace: dict[str, list[str]] = {}
        for ref in sorted(self._refs):
            namespace, _, name = ref.partition("/")
            by_namespace.setdefault(namespace, []).append(name)
        self._names = {ns: Suggestions(names) for ns, names in by_namespace.items()}
        self._namespaces = Suggestions(by_namespace, cutoff=0.7)

    def __contains__(self, ref: object) -> bool:
        return ref in self._refs

    def __call__(self, ref: str) -> str | None:
        namespace, _, name = ref.partition("/")
        if namespace not in self._names:
            namespace = self._namespaces.closest(namespace) or ""
            if not namespace:
                return None
            if name in self._names[namespace]:  # only the namespace was misspelt
                return f"did you mean {namespace + '/' + name!r}?"
        close = self._names[namespace].closest(name)
        return f"did you mean {namespace + '/' + close!r}?" if close else None


def did_you_mean_service(ref: str, candidates: Iterable[str]) -> str | None:
    """`ServiceSuggestions` for a single question."""
    return ServiceSuggestions(candidates)(ref)
