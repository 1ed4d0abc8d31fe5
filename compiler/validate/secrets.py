"""Refuse key material pasted into fleet.yaml, wherever it is, before anything else reads it.

fleet.yaml is committed and rendered into a repository Flux reads, so a private key or token in
any field (a comment included) would leak. TLS is always referenced (issuerRef), never inlined.
Two scans: the source text (so it runs even when the document does not parse, and sees
comments), and after loading, every decoded key and value (so a secret written with YAML
escapes, ``"\x2d----BEGIN ..."`` or ``"\u0041KIA..."``, or split by a line continuation inside
a double-quoted scalar, is found too). The diagnostic never repeats the secret: it names the
kind and the place only. `redact` then withholds the details of every other finding that
could quote one: those on any line of a value holding a secret (a multi-line value is
reported at its first line), and those whose text itself looks like key material or holds a
secret found (a guardrail's message, an error quoting a value).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from compiler.diagnostics import Diagnostic, Diagnostics, Position, Related

if TYPE_CHECKING:
    from compiler.load import Document

_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    # (what it is, literals one of which must occur for the pattern to match, the pattern)
    (
        "a PEM private key",
        ("PRIVATE KEY",),
        re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
    ),
    (
        "a PEM certificate request",
        ("CERTIFICATE REQUEST",),
        re.compile(r"-----BEGIN CERTIFICATE REQUEST-----"),
    ),
    ("a bearer token", ("earer",), re.compile(r"\b[Bb]earer\s+[A-Za-z0-9\-._~+/]{16,}=*")),
    (
        "a JSON Web Token",
        ("eyJ",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    ("an access key ID", ("AKIA", "ASIA"), re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a personal access token",
        ("ghp", "gho", "ghu", "ghs", "ghr", "glpat"),
        re.compile(r"\b(ghp|gho|ghu|ghs|ghr|glpat)[-_][A-Za-z0-9_]{20,}"),
    ),
    ("a Slack token", ("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    (
        "a Kubernetes credential",
        ("token", "-data"),
        re.compile(r"\b(token|client-key-data|client-certificate-data)\s*:\s*[A-Za-z0-9+/=]{40,}"),
    ),
)


@dataclass
class Found:
    """What the scans found: lines to redact and the secrets' own text (never printed)."""

    lines: set[int] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.lines or self.texts)


_Pattern = tuple[str, tuple[str, ...], re.Pattern[str]]


def _matches(
    text: str, patterns: tuple[_Pattern, ...] = _PATTERNS
) -> Iterator[tuple[str, re.Match[str]]]:
    """Every pattern match in `text`; a pattern runs only when one of its literals occurs (a
    fast substring search), so clean text costs little."""
    for kind, literals, pattern in patterns:
        if any(literal in text for literal in literals):
            for match in pattern.finditer(text):
                yield kind, match


def _report(diags: Diagnostics, kind: str, at: Position, how: str = "") -> None:
    diags.add(
        Diagnostic(
            "secret-in-fleet",
            f"this line holds what looks like {kind}{how}; secrets never belong in fleet.yaml",
            at,
            hint="remove it (and rotate it: it may already be in git history);"
            " reference TLS material through mesh.tls.issuerRef",
            redact=True,
        )
    )


def scan(text: str, name: str, diags: Diagnostics) -> Found:
    """Add an error for every line of the source text that holds something like key material.

    Returns those lines and the secrets' text, for `scan_values` and `redact`.
    """
    hits: dict[int, tuple[int, str]] = {}
    found = Found()
    for kind, match in _matches(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        number = text.count("\n", 0, match.start()) + 1
        column = match.start() - line_start + 1
        found.texts.add(match.group())
        if number not in hits or column < hits[number][0]:
            hits[number] = (column, kind)
    for number, (column, kind) in sorted(hits.items()):
        _report(diags, kind, Position(name, number, column))
    found.lines.update(hits)
    return found


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, bool]]:
    """(path, text, is_key) of every string key and value, iteratively (no recursion)."""
    stack: list[tuple[tuple[Any, ...], Any]] = [(path, node)]
    seen: set[int] = set()
    while stack:
        at, value = stack.pop()
        if isinstance(value, str):
            yield at, value, False
        elif isinstance(value, dict | list):
            if id(value) in seen:  # an alias shares its anchor's object: scanned once
                continue
            seen.add(id(value))
            if isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(key, str):
                        yield (*at, key), key, True
                    stack.append(((*at, key), item))
            else:
                stack.extend(((*at, i), item) for i, item in enumerate(value))


def _texts(node: Any) -> list[str]:
    """Every string key and value, as `_strings` visits them but without their paths, in a
    loop tight enough for the hundreds of thousands of strings of a large fleet."""
    out: list[str] = []
    append = out.append
    stack: list[Any] = [node] if isinstance(node, dict | list) else []
    seen: set[int] = set()
    while stack:
        container = stack.pop()
        if id(container) in seen:  # an alias shares its anchor's object: scanned once
            continue
        seen.add(id(container))
        if isinstance(container, dict):
            out.extend(key for key in container if isinstance(key, str))
            values: Any = container.values()
        else:
            values = container
        for value in values:
            if isinstance(value, str):
                append(value)
            elif isinstance(value, dict | list):
                stack.append(value)
    if isinstance(node, str):
        append(node)
    return out


def scan_values(doc: Document, diags: Diagnostics, found: Found) -> None:
    """Scan every decoded key and value; add to `found` and report what the text scan missed.

    A value holding a secret has all its lines added to `found.lines`: a value runs from its
    first line to the line before the next node starts.
    """
    # One search over all the text, joined by newlines, decides which patterns can match at
    # all: a match inside one string is a match in the joined text too (the newline around
    # it is a non-word character, as a string's start and end are to \b), so a pattern that
    # finds nothing there finds nothing anywhere, and the usual fleet is done here without a
    # path built for each of its hundreds of thousands of strings.
    # Only strings whose value differs from their source text can hide from the text scan;
    # the loader records them (every string when it did not).
    texts = doc.rewritten if doc.rewritten is not None else _texts(doc.data)
    joined = "\n".join(texts)
    active = tuple(
        p for p in _PATTERNS if any(literal in joined for literal in p[1]) and p[2].search(joined)
    )
    if not active:
        return
    strings = list(_strings(doc.data))
    starts: list[int] | None = None
    reported: set[int] = set()
    for path, text, is_key in strings:
        kinds = [(kind, match.group()) for kind, match in _matches(text, active)]
        if not kinds:
            continue
        at = doc.key_position(path) if is_key else doc.position(path)
        if starts is None:
            starts = _node_lines(doc)
        following = bisect.bisect_right(starts, at.line)
        last = starts[following] - 1 if following < len(starts) else len(doc.source.lines)
        span = set(range(at.line, max(last, at.line) + 1))
        for _, secret in kinds:
            found.texts.add(secret)
        if not span & found.lines and at.line not in reported:
            _report(diags, kinds[0][0], at, " (once its escapes are decoded)")
            reported.add(at.line)
        found.lines |= span


def _node_lines(doc: Document) -> list[int]:
    """The sorted first lines of every key and item in `doc`."""
    from compiler.load.document import MappingPositions

    lines: set[int] = set()
    for info in doc.positions.values():
        if isinstance(info, MappingPositions):
            for key_at, value_at in info.keys.values():
                lines.add(key_at[0])
                lines.add(value_at[0])
        else:
            lines.update(at[0] for at in info.items)
    return sorted(lines)


def _quotes_secret(text: str | None, found: Found) -> bool:
    if not text:
        return False
    if any(True for _ in _matches(text)):
        return True
    return any(secret[:12] in text for secret in found.texts)


def redact(diags: Diagnostics, found: Found) -> None:
    """Withhold the details of other findings that could quote a secret; keep where they are."""
    if not found:
        return
    for i, d in enumerate(diags.items):
        if d.code == "secret-in-fleet":
            continue
        on_line = d.position is not None and d.position.line in found.lines
        quoting = (
            _quotes_secret(d.message, found)
            or _quotes_secret(d.hint, found)
            or any(_quotes_secret(r.message, found) for r in d.related)
        )
        if on_line or quoting:
            diags.items[i] = replace(
                d,
                message=f"{d.code} (details withheld: this finding may quote a secret)",
                hint=None,
                related=tuple(Related(r.position, "(withheld)") for r in d.related),
                redact=True,
            )
