"""The stages wired together: load -> model -> validate (-> resolve -> render in later stages).

Commands call these functions; each returns what it built and adds findings to `diags`.
Nothing here reads the clock, the environment or the working directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostics, FleetError
from compiler.load import Document, load
from compiler.model import Fleet, parse
from compiler.validate import secrets, validate

if TYPE_CHECKING:  # render and resolve are imported only by commands that use them
    from compiler.render.output import File
    from compiler.resolve import ResolvedFleet


@dataclass(frozen=True)
class Checked:
    """A fleet that loaded and matched the model (it may still have semantic errors)."""

    doc: Document
    fleet: Fleet


def check(data: bytes, name: str, diags: Diagnostics) -> Checked | None:
    """load + model + validate. Returns None when the document could not be modelled."""
    found = secrets.scan(data.decode("utf-8", "replace"), name, diags)
    try:
        return _check(data, name, diags, found)
    finally:
        secrets.redact(diags, found)


def _check(data: bytes, name: str, diags: Diagnostics, found: secrets.Found) -> Checked | None:
    try:
        doc = load(data, name)
    except FleetError as exc:
        diags.extend(exc.diagnostics.items)
        return None
    secrets.scan_values(doc, diags, found)  # decoded: escapes and line continuations undone
    fleet = parse(doc, diags)
    if fleet is None:
        return None
    validate(doc, fleet, diags)
    return Checked(doc, fleet)


@dataclass(frozen=True)
class Compiled:
    """A fleet that validated without errors, resolved and rendered to files (not bytes yet).

    `files` is the logical view: every cluster's directory in full (what diff compares);
    `written` is the tree as it is written, with what clusters share in ``shared/``.
    """

    checked: Checked
    resolved: ResolvedFleet
    files: tuple[File, ...]

    def written(self) -> tuple[File, ...]:
        from compiler.render.pack import pack

        return pack(self.files, self.resolved.source)


def compile_fleet(data: bytes, name: str, diags: Diagnostics) -> Compiled | None:
    """check + resolve + render. Returns None when there were errors (see `diags`)."""
    checked = check(data, name, diags)
    if checked is None or diags.has_errors:
        return None
    from compiler.resolve import resolve

    resolved = resolve(checked.doc, checked.fleet, diags)
    if diags.has_errors:
        return None
    from compiler.render import render

    files = render(resolved)
    return Compiled(checked, resolved, files)
