"""Where each character of a YAML scalar came from, so a CEL error can point inside fleet.yaml.

The loader gives the position of a scalar's first token: the opening quote, the first
character of a plain scalar, or the ``|`` / ``>`` indicator of a block scalar. This module
re-reads the source from there, applying YAML's rules (block indentation, line folding, quote
doubling, backslash escapes) to rebuild the value with a (line, column) for every character.
The caller checks the rebuilt text against the value the loader produced; on any difference
it falls back to the scalar's own position, so a rule this module gets wrong costs precision,
never a wrong place.
"""

from __future__ import annotations

from compiler.diagnostics import Position
from compiler.load import Source

At = tuple[int, int]

_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def scalar_positions(lines: list[str], line: int, column: int, text: str) -> list[At] | None:
    """(line, column), 1-based, of each character of `text`; None when it cannot be rebuilt."""
    row, col = line - 1, column - 1
    if not 0 <= row < len(lines):
        return None
    first = lines[row][col : col + 1]
    if first in ("|", ">"):
        built = _block(lines, row, first == ">")
    elif first in ("'", '"'):
        built = _flow(lines, row, col + 1, first, len(text))
    else:
        built = _flow(lines, row, col, "", len(text))
    if built is None:
        return None
    chars, places = built
    if "".join(chars[: len(text)]) != text:
        return None
    return places[: len(text)]


def _block(lines: list[str], row: int, folded: bool) -> tuple[list[str], list[At]] | None:
    body: list[tuple[int, str]] = []
    indent: int | None = None
    for r in range(row + 1, len(lines)):
        raw = lines[r]
        if not raw.strip():
            body.append((r, ""))
            continue
        lead = len(raw) - len(raw.lstrip(" "))
        if indent is None:
            indent = lead
        if lead < indent:
            break
        body.append((r, raw[indent:]))
    if indent is None:
        return None
    while body and not body[-1][1]:
        body.pop()
    chars: list[str] = []
    places: list[At] = []
    previous: str | None = None
    empties: list[int] = []
    for r, content in body:
        if not content:
            empties.append(r)
            continue
        if previous is not None:
            more = previous.startswith((" ", "\t")) or content.startswith((" ", "\t"))
            if not folded or more:
                breaks = [r - len(empties) - 1, *empties]
            elif empties:
                breaks = empties
            else:
                breaks = []
                chars.append(" ")
                places.append((r, len(lines[r - 1]) + 1))
            for b in breaks:
                chars.append("\n")
                places.append((b + 1, len(lines[b]) + 1))
        else:
            for b in empties:
                chars.append("\n")
                places.append((b + 1, 1))
        empties = []
        for i, ch in enumerate(content):
            chars.append(ch)
            places.append((r + 1, indent + i + 1))
        previous = content
    if body:
        last = body[-1][0]
        chars.append("\n")
        places.append((last + 1, len(lines[last]) + 1))
    return chars, places


def _flow(
    lines: list[str], row: int, col: int, quote: str, want: int
) -> tuple[list[str], list[At]] | None:
    chars: list[str] = []
    places: list[At] = []
    r, c = row, col
    while r < len(lines):
        line = lines[r]
        escaped_break = False
        start = len(chars)
        while c < len(line) and len(chars) < want:
            ch = line[c]
            if quote == "'" and ch == "'":
                if line[c + 1 : c + 2] != "'":
                    return chars, places
                chars.append("'")
                places.append((r + 1, c + 1))
                c += 2
                continue
            if quote == '"' and ch == '"':
                return chars, places
            if quote == '"' and ch == "\\":
                if c + 1 >= len(line):
                    escaped_break = True
                    c += 1
                    break
                code = line[c + 1]
                if code in _HEX_ESCAPES:
                    digits = line[c + 2 : c + 2 + _HEX_ESCAPES[code]]
                    try:
                        chars.append(chr(int(digits, 16)))
                    except ValueError:
                        return None
                    places.append((r + 1, c + 1))
                    c += 2 + _HEX_ESCAPES[code]
                    continue
                if code not in _ESCAPES:
                    return None
                chars.append(_ESCAPES[code])
                places.append((r + 1, c + 1))
                c += 2
                continue
            chars.append(ch)
            places.append((r + 1, c + 1))
            c += 1
        if len(chars) >= want:
            return chars, places
        if not escaped_break:
            # trailing white space before a folded line break is not part of the value
            while len(chars) > start and chars[-1] in " \t":
                chars.pop()
                places.pop()
        end_at = (r + 1, len(line) + 1)
        r += 1
        empties = 0
        while r < len(lines) and not lines[r].strip():
            empties += 1
            r += 1
        if r >= len(lines):
            return chars, places
        if not escaped_break:
            for _ in range(empties) if empties else range(1):
                chars.append("\n" if empties else " ")
                places.append(end_at)
        c = len(lines[r]) - len(lines[r].lstrip(" \t"))
    return chars, places


def expression_position(source: Source, at: Position, text: str, offset: int) -> Position:
    """The file position of character `offset` of the scalar `text` whose value is at `at`.

    If the scalar cannot be rebuilt exactly from the source, the scalar's own position.
    """
    mapped = scalar_positions(source.lines, at.line, at.column, text)
    if not mapped:
        return at
    line, column = mapped[min(max(offset, 0), len(mapped) - 1)]
    return Position(at.file, line, column)
