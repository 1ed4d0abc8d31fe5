"""The one canonical YAML writer: plain data -> text that YAML 1.1 and 1.2 readers agree on.

Every YAML byte fleetc writes comes from `dump`. The format is fixed so output is reviewable
and byte-identical across runs:

- key order: in an object (a mapping with ``apiVersion``) ``apiVersion``, ``kind``,
  ``metadata`` first, then sorted; inside ``metadata``: ``name``, ``namespace``, then sorted;
  every other mapping sorted. Sequences keep their order (renderers sort them);
- block style, two-space indentation, sequences under a key not indented (as kubectl writes
  them), ``{}`` / ``[]`` for empty collections, no anchors or aliases, one trailing newline;
- a string is written plain only when every reader takes it back as that same string. Words a
  YAML 1.1 reader takes for booleans or null (``yes``, ``no``, ``on``, ``off``, ``y``, ``n``,
  ``true``, ``null``, ``~`` ...), anything that looks like a number, octal, timestamp or
  sexagesimal (``0777``, ``1e3``, ``2001-12-14``, ``1:30``), ``<<``, the empty string,
  leading or trailing spaces and YAML indicators are double-quoted. The rule is deliberately
  conservative: quoting a string that did not need it costs two characters, the opposite
  costs a production outage;
- multi-line strings as literal blocks (``|``, ``|-``, ``|+``) when that round-trips exactly,
  double-quoted with escapes otherwise.

It is a small hand-written emitter rather than PyYAML/ruamel with representers: their quoting
rules follow one YAML version each, and even PyYAML's libyaml-backed dumper is about 4x slower
on rendered objects (its Python representer layer dominates), the pure-Python ones ~25x.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dump", "dump_all", "scalar"]

_FIRST = ("apiVersion", "kind", "metadata")
_META_FIRST = ("name", "namespace")

# A plain scalar may only use these characters (ASCII letters, digits and a few punctuation
# marks that are never YAML indicators in block context) ...
_PLAIN = re.compile(r"[A-Za-z0-9_/.+\-][A-Za-z0-9_./@:+=,()~ \-]*")
# ... and must not look like a number, timestamp or other implicitly typed scalar: anything
# that starts like a number and holds only number-ish characters is quoted.
_NUMBERISH = re.compile(r"[0-9.+\-][0-9a-fA-FiInNoOxXtTzZ_.:+ \-]*")
_DOTTED = re.compile(r"[0-9]+(\.[0-9]+){2,}")
# YAML 1.1 booleans and nulls (any case), plus the 1.2 core ones: all stay strings when quoted.
_WORDS = frozenset({"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"})
# Characters a literal block cannot hold verbatim (they would be normalised or refused).
_NOT_LITERAL = re.compile(
    r"[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]')
MAX_KEY = 1000
"""Implicit keys are limited to 1024 characters by YAML; longer keys are refused."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _quoted(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _plain_ok(text: str) -> bool:
    if not _PLAIN.fullmatch(text) or text[-1] in " :" or ": " in text or "  " in text:
        return False
    if text == "-" or text.startswith(("- ", "---")):
        return False  # a sequence entry or a document marker, not a string
    if _DOTTED.fullmatch(text):
        return True  # an IPv4 address or a version: no reader takes several dots for a number
    return text.lower() not in _WORDS and not _NUMBERISH.fullmatch(text)


@functools.lru_cache(maxsize=8192)
def _string(text: str) -> str:
    # A pure function of its argument; names and label keys repeat across thousands of objects.
    return text if _plain_ok(text) else _quoted(text)


def scalar(value: Any) -> str:
    """A single-line scalar: null, bool, int, float or string (quoted when it must be)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    # YAML 1.1 floats need a dot and a signed exponent: 1e+20 -> 1.0e+20, 1e-05 -> 1.0e-05.
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _literal(text: str) -> str | None:
    """The header (``|``, ``|-``, ``|+``) of a literal block for `text`, or None when a literal
    block would not give `text` back exactly."""
    if "\n" not in text or _NOT_LITERAL.search(text):
        return None
    lines = text.split("\n")
    if any(line != line.rstrip(" \t") for line in lines):
        return None  # trailing blanks: invisible in review and fragile under chomping
    first = next((line for line in lines if line), None)
    if first is None or first[0] in " \t":
        return None  # the indentation of the first content line would be taken as the block's
    if not text.endswith("\n"):
        return "|-"
    return "|+" if text.endswith("\n\n") else "|"


def _key(key: Any) -> str:
    if type(key) is not str:
        raise TypeError(f"mapping keys must be strings, got {type(key).__name__}: {key!r}")
    if len(key) > MAX_KEY:
        raise ValueError(f"mapping key longer than {MAX_KEY} characters")
    return _string(key)


def _ordered(mapping: Mapping[str, Any], is_metadata: bool) -> list[str]:
    if is_metadata:
        first: tuple[str, ...] = _META_FIRST
    elif "apiVersion" in mapping:
        first = _FIRST  # an object, at the top or embedded (a template, a health check)
    else:
        return sorted(mapping)
    head = [k for k in first if k in mapping]
    rest = sorted(k for k in mapping if k not in first)
    return head + rest


def _is_mapping(value: Any) -> bool:
    # dict first: the ABC check is slow and renderers build plain dicts.
    return type(value) is dict or isinstance(value, Mapping)


def _value(value: Any, indent: int, out: list[str], key: str | None) -> None:
    """Write `value` after a ``key:`` or ``-`` already on the current line."""
    kind = type(value)
    if kind is str:
        if "\n" in value and (header := _literal(value)) is not None:
            pad = " " * (indent + 2)
            out.append(f" {header}\n")
            body = value[:-1] if value.endswith("\n") else value
            out.extend(f"{pad}{line}\n" if line else "\n" for line in body.split("\n"))
        else:
            out.append(f" {_string(value)}\n")
    elif kind is list or kind is tuple:
        if not value:
            out.append(" []\n")
            return
        out.append("\n")
        # Sequences under a key sit at the key's indentation, as kubectl writes them.
        _sequence(value, indent if key is not None else indent + 2, out, None)
    elif _is_mapping(value):
        if not value:
            out.append(" {}\n")
            return
        out.append("\n")
        _mapping(value, indent + 2, out, None, key == "metadata")
    elif isinstance(value, str):  # a str subclass
        _value(str(value), indent, out, key)
    else:
        out.append(f" {scalar(value)}\n")


def _mapping(
    mapping: Mapping[str, Any], indent: int, out: list[str], first: str | None, is_metadata: bool
) -> None:
    pad = " " * indent
    for i, key in enumerate(_ordered(mapping, is_metadata)):
        lead = first if i == 0 and first is not None else pad
        value = mapping[key]
        if type(value) is str and "\n" not in value:
            out.append(f"{lead}{_key(key)}: {_string(value)}\n")  # the common case, inline
        else:
            out.append(f"{lead}{_key(key)}:")
            _value(value, indent, out, key)


def _sequence(items: Sequence[Any], indent: int, out: list[str], first: str | None) -> None:
    pad = " " * indent
    for i, item in enumerate(items):
        lead = first if i == 0 and first is not None else pad
        kind = type(item)
        if kind is str and "\n" not in item:
            out.append(f"{lead}- {_string(item)}\n")
        elif (kind is list or kind is tuple) and item:
            _sequence(item, indent + 2, out, lead + "- ")
        elif kind is not str and item and _is_mapping(item):
            _mapping(item, indent + 2, out, lead + "- ", False)
        else:
            out.append(f"{lead}-")
            _value(item, indent, out, None)


def dump(obj: Any) -> str:
    """One YAML document for `obj` (dicts, lists, tuples, str, int, float, bool, None)."""
    out: list[str] = []
    if isinstance(obj, Mapping) and obj:
        _mapping(obj, 0, out, None, False)
    elif isinstance(obj, (list, tuple)) and obj:
        _sequence(obj, 0, out, None)
    elif isinstance(obj, str) and "\n" in obj and _literal(obj) is not None:
        _value(obj, 0, out, None)
        out[0] = out[0][1:]  # no space before the block header at the start of a document
    elif isinstance(obj, Mapping):
        out.append("{}\n")
    elif isinstance(obj, (list, tuple)):
        out.append("[]\n")
    else:
        out.append(scalar(obj) + "\n")
    return "".join(out)


def dump_all(objs: Sequence[Any]) -> str:
    """Several documents separated by ``---`` (for humans and tests; files hold one object)."""
    return "---\n".join(dump(obj) for obj in objs)
