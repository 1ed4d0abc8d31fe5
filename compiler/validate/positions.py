"""Small position helpers the semantic checks share: places inside a scalar, "defined here"."""

from __future__ import annotations

from compiler.diagnostics import Position, Related
from compiler.load import Document, Path


def inside(doc: Document, path: Path, text: str, offset: int) -> Position:
    """The position `offset` characters into the scalar `text` found at `path`.

    Only when the scalar sits on one line as written (plain or quoted, no escapes before the
    offset); otherwise the scalar's own position, which is never wrong, only less precise.
    """
    at = doc.position(path)
    line = doc.source.line(at.line)
    start = at.column - 1
    if line[start : start + 1] in ("'", '"'):
        start += 1
    if offset <= 0 or line[start : start + offset] != text[:offset]:
        return at
    return Position(at.file, at.line, start + offset + 1)


def first_here(doc: Document, path: Path, what: str = "first defined here") -> Related:
    return Related(doc.position(path), what)
