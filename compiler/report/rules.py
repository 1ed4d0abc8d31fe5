"""What each diagnostic code means, for SARIF's rules: read from docs/diagnostics.md.

The document is the one place codes are explained; `parse` turns its tables into rules and
``make rules`` writes them to `compiler.report.rules_table` (the document does not ship with
the package). A test fails when the table is stale. A code missing from the document (a bug:
another test requires every code there) still gets a rule, with a generic help text.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

DOC = "docs/diagnostics.md"
_ROW = re.compile(r"^\|\s*(`[a-z0-9-]+`(?:\s*,\s*`[a-z0-9-]+`)*)\s*\|(.*)\|\s*$")
_PROSE = re.compile(r"adds `([a-z0-9-]+)` \((error|warning|note)\): (.+)")


@dataclass(frozen=True)
class Rule:
    code: str
    section: str
    """The document's section that explains the code (its heading)."""
    meaning: str
    """One sentence in Markdown, as the document's table gives it."""


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def parse(text: str) -> dict[str, tuple[str, str]]:
    """code -> (section heading, meaning in Markdown), from the document's tables and its
    one sentence of prose that introduces a code."""
    out: dict[str, tuple[str, str]] = {}
    section = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        row = _ROW.match(line)
        if row:
            codes = re.findall(r"`([a-z0-9-]+)`", row.group(1))
            meaning = row.group(2).split("|")[-1].strip()
            for code in codes:
                out.setdefault(code, (section, meaning))
            continue
        prose = _PROSE.search(" ".join(lines[i : i + 3]))
        if prose and prose.group(1) not in out:
            sentence = re.split(r"(?<=\.)\s", prose.group(3))[0].rstrip(".")
            out[prose.group(1)] = (section, sentence)
    return out


def rule(code: str) -> Rule:
    from compiler.report.rules_table import RULES  # generated; not needed to regenerate it

    section, meaning = RULES.get(code, ("", "see the message of each result"))
    return Rule(code, section, meaning)


def sarif_rule(code: str, level: str) -> dict[str, object]:
    """The SARIF ``reportingDescriptor`` of `code`, with what code scanning requires."""
    found = rule(code)
    where = f" ({found.section})" if found.section else ""
    plain = _plain(found.meaning)
    text = f"{plain[:1].upper()}{plain[1:]}."
    markdown = (
        f"**`{code}`**: {found.meaning}.\n\n"
        f"Every fleetc diagnostic is explained in `{DOC}`{where}; the result's message says"
        " what was found and where, and its hint how to fix it."
    )
    return {
        "id": code,
        "name": "".join(part.capitalize() for part in code.split("-")),
        "shortDescription": {"text": code.replace("-", " ")},
        "fullDescription": {"text": text},
        "help": {"text": f"{text} See {DOC}{where}.", "markdown": markdown},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": ["fleetc", *([_plain(found.section)] if found.section else [])]},
    }


def generate(text: str) -> str:
    """The source of `compiler.report.rules_table` for the document's `text`."""
    rows = "".join(
        f"    {code!r}: ({section!r}, {meaning!r}),\n"
        for code, (section, meaning) in sorted(parse(text).items())
    )
    return (
        '"""Generated from docs/diagnostics.md by `make rules`; do not edit."""\n\n'
        "RULES: dict[str, tuple[str, str]] = {\n" + rows + "}\n"
    )


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else DOC, encoding="utf-8") as doc:
        sys.stdout.write(generate(doc.read()))
