"""The one diagnostic type every stage speaks, and the collector that owns the exit code.

A stage never raises for bad input: it appends to a `Diagnostics` collection and returns what
it could. `FleetError` exists only to stop a stage early when nothing after it can make sense
(for example the file is not YAML at all); it carries the diagnostics collected so far.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace


class Severity(enum.IntEnum):
    """Ordered so that `max()` gives the worst."""

    NOTE = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True)
class Position:
    """A 1-based place in a source file. Column 0 means the whole line."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Related:
    """A second place that explains a diagnostic ("first defined here")."""

    position: Position
    message: str


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable code, a message at a position, related places and a hint.

    `path` is the data path in the document (``spec.clusters[2].podCIDRs[0]``) for tools that
    want it; people read the position.
    """

    code: str
    message: str
    position: Position | None
    severity: Severity = Severity.ERROR
    related: tuple[Related, ...] = ()
    hint: str | None = None
    path: str | None = None
    redact: bool = False
    """Never show the source line (it holds a secret)."""

    def sort_key(self) -> tuple[str, int, int, str, str]:
        pos = self.position
        if pos is None:
            return ("", 0, 0, self.code, self.message)
        return (pos.file, pos.line, pos.column, self.code, self.message)


MAX_TEXT = 400
"""Longest message, hint or note kept; longer ones lose their middle (a 60 KB bad value is
quoted by its start, and the explanation after it is kept)."""


def _cut(text: str | None) -> str | None:
    """`text` on one line (control characters escaped) and at most about `MAX_TEXT` long."""
    if text is None or (len(text) <= MAX_TEXT and text.isprintable()):
        return text
    if not text.isprintable():
        # a newline from a value would start what looks like another finding
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    if len(text) <= MAX_TEXT:
        return text
    head, tail = text[: MAX_TEXT - 120], text[-80:]
    return f"{head}... ({len(text) - len(head) - len(tail)} characters left out) ...{tail}"


def _bounded(d: Diagnostic) -> Diagnostic:
    """`d` with every text on one line and at most about `MAX_TEXT` characters."""
    texts = [t for t in (d.message, d.hint, *(r.message for r in d.related)) if t]
    if all(len(t) <= MAX_TEXT and t.isprintable() for t in texts):
        return d
    related = tuple(Related(r.position, _cut(r.message) or "") for r in d.related)
    return replace(d, message=_cut(d.message) or "", hint=_cut(d.hint), related=related)


PER_CODE = 200
"""Findings kept per code (codes are named by stage: ``load-``, ``model-``, ...). A file of
300,000 unknown keys would otherwise print tens of megabytes; past the cap each code gets
one "N more" line instead."""


@dataclass
class Diagnostics:
    """Collects diagnostics from every stage; sorted and de-duplicated when read.

    At most `limit` findings are kept per code; the rest are counted (`more`) and summed up
    in one line per code at the end of `sorted`.
    """

    items: list[Diagnostic] = field(default_factory=list)
    limit: int = PER_CODE
    more: dict[str, tuple[int, Severity]] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def full(self, code: str) -> bool:
        """True when findings of `code` are no longer kept: callers can skip building one."""
        return self._counts.get(code, 0) >= self.limit

    def count_more(self, code: str, severity: Severity = Severity.ERROR) -> None:
        """Count one more finding of `code` that is not kept."""
        count, _ = self.more.get(code, (0, severity))
        self.more[code] = (count + 1, severity)

    def add(self, diagnostic: Diagnostic) -> None:
        diagnostic = _bounded(diagnostic)
        code = diagnostic.code
        if self.full(code):
            self.count_more(code, diagnostic.severity)
            return
        self._counts[code] = self._counts.get(code, 0) + 1
        self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for diagnostic in diagnostics:
            self.add(diagnostic)

    def error(
        self,
        code: str,
        message: str,
        position: Position | None,
        *,
        hint: str | None = None,
        related: Iterable[Related] = (),
        path: str | None = None,
    ) -> None:
        self.add(Diagnostic(code, message, position, Severity.ERROR, tuple(related), hint, path))

    def warning(
        self,
        code: str,
        message: str,
        position: Position | None,
        *,
        hint: str | None = None,
        related: Iterable[Related] = (),
        path: str | None = None,
    ) -> None:
        self.add(Diagnostic(code, message, position, Severity.WARNING, tuple(related), hint, path))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items) or any(
            severity is Severity.ERROR for _, severity in self.more.values()
        )

    def sorted(self) -> list[Diagnostic]:
        seen: set[tuple[object, ...]] = set()
        out: list[Diagnostic] = []
        for d in sorted(self.items, key=Diagnostic.sort_key):
            key = (d.code, d.message, d.position, d.severity)
            if key not in seen:
                seen.add(key)
                out.append(d)
        for code, (count, severity) in sorted(self.more.items()):
            message = f"{count} more {code} finding(s) not shown (the first {self.limit} are)"
            out.append(Diagnostic(code, message, None, severity))
        return out

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.items)


class FleetError(Exception):
    """Raised to stop a pipeline early; carries everything found so far."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        super().__init__(f"{len(diagnostics)} diagnostic(s)")
        self.diagnostics = diagnostics
