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

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")),
    ("a PEM certificate request", re.compile(r"-----BEGIN CERTIFICATE REQUEST-----")),
    ("an OpenSSH private key", re.compile(r"-----BEGIN OPENSSH PRIVATE KEY-----")),
    ("a bearer token", re.compile(r"\b[Bb]earer\s+[A-Za-z0-9\-._~+/]{16,}=*")),
    (
        "a JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    ("an access key ID", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a personal access token", re.compile(r"\b(ghp|gho|ghu|ghs|ghr|glpat)[-_][A-Za-z0-9_]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    (
        "a Kubernetes service-account token",
        re.compile(r"\b(token|client-key-data|client-certificate-data)\s*:\s*[A-Za-z0-9+/=]{40,}"),
    ),
)


def scan(text: str, name: str, diags: Diagnostics) -> set[int]:
    """Add an error for every line that holds something that looks like key material.

    Returns the numbers of those lines, for `redact`.
    """
    found: set[int] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in _PATTERNS:
            match = pattern.search(line)
            if match:
                diags.add(
                    Diagnostic(
                        "secret-in-fleet",
                        f"this line holds what looks like {kind}; secrets never belong in"
                        " fleet.yaml",
                        Position(name, number, match.start() + 1),
                        hint="remove it (and rotate it: it may already be in git history);"
                        " reference TLS material through mesh.tls.issuerRef",
                        redact=True,
                    )
                )
                found.add(number)
                break
    return found


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
