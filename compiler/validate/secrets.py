"""Refuse key material pasted into fleet.yaml, wherever it is, before anything else reads it.

fleet.yaml is committed and rendered into a repository Flux reads, so a private key or token in
any field (a comment included) would leak. TLS is always referenced (issuerRef), never inlined.
The scan works on the source text, so it runs even when the document does not parse, and the
diagnostic never repeats the secret: it names the kind and the place only.
"""

from __future__ import annotations

import re
from dataclasses import replace

from compiler.diagnostics import Diagnostic, Diagnostics, Position

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


def scan(text: str, name: str, diags: Diagnostics) -> set[int]:
    """Add an error for every line that holds something that looks like key material.

    Returns the numbers of those lines, for `redact`. A pattern runs only when one of its
    literals occurs in the text (a fast substring search), so a clean fleet costs little.
    """
    hits: dict[int, tuple[int, str]] = {}
    for kind, literals, pattern in _PATTERNS:
        if not any(literal in text for literal in literals):
            continue
        for match in pattern.finditer(text):
            line_start = text.rfind("\n", 0, match.start()) + 1
            number = text.count("\n", 0, match.start()) + 1
            column = match.start() - line_start + 1
            if number not in hits or column < hits[number][0]:
                hits[number] = (column, kind)
    for number, (column, kind) in sorted(hits.items()):
        diags.add(
            Diagnostic(
                "secret-in-fleet",
                f"this line holds what looks like {kind}; secrets never belong in fleet.yaml",
                Position(name, number, column),
                hint="remove it (and rotate it: it may already be in git history);"
                " reference TLS material through mesh.tls.issuerRef",
                redact=True,
            )
        )
    return set(hits)


def redact(diags: Diagnostics, lines: set[int]) -> None:
    """Other findings on a line that holds a secret may quote it: keep only where they are."""
    if not lines:
        return
    for i, d in enumerate(diags.items):
        if d.code != "secret-in-fleet" and d.position is not None and d.position.line in lines:
            diags.items[i] = replace(
                d,
                message=f"{d.code} (details withheld: this line holds a secret)",
                hint=None,
                redact=True,
            )
