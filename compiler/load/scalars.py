"""YAML 1.2 scalars: what a plain scalar means, what a tag converts it to, how it was written.

The core schema only: ``no``, ``on`` and ``yes`` stay strings, ``017`` is seventeen, and there
are no timestamps or sexagesimal numbers, so a fleet reads the same to every YAML 1.2 reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from compiler.diagnostics import Diagnostics, Position

_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_WORDS: dict[str, Any] = {"": None, "~": None, "null": None, "Null": None, "NULL": None, **_BOOL}
_NUMBER_START = frozenset("0123456789+-.")


def resolve_plain(value: str) -> Any:
    """YAML 1.2 core schema for plain (unquoted, untagged) scalars."""
    # Fast path: most scalars in a fleet are names, which start with a letter and are neither
    # null nor a boolean; only the few that could be numbers go through the patterns.
    if value in _WORDS:
        return _WORDS[value]
    if value[0] not in _NUMBER_START:
        return value
    if _INT.match(value):
        return int(value)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    return value


TAGGED = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
}


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else "a scalar"


def token_at(lines: list[str], at: tuple[int, int]) -> str:
    """The plain scalar as written at `at` (``1.0``, ``~``, ``yes``), for messages."""
    line = lines[at[0] - 1] if 0 < at[0] <= len(lines) else ""
    match = re.match(r"[^\s:,\]}#]*", line[at[1] - 1 :])
    return match.group() if match and match.group() else "null"


def scalar(
    event: Any,
    at: tuple[int, int],
    pos: Callable[[tuple[int, int]], Position],
    diags: Diagnostics,
    max_scalar: int,
) -> Any:
    """Any scalar but a short plain one: quoted, tagged, or too large."""
    raw: str = event.value
    if len(raw) > max_scalar:
        diags.error(
            "load-scalar-too-large",
            f"a value of {len(raw)} characters; the limit is {max_scalar}",
            pos(at),
        )
        return ""
    tag = event.tag
    if tag and tag != "!":
        convert = TAGGED.get(tag)
        if convert is None:
            diags.error("yaml-tag", f"unsupported tag {tag}", pos(at))
            return raw
        try:
            return convert(raw)
        except ValueError:
            diags.error("yaml-tag", f"{raw!r} is not a valid {tag.rsplit(':', 1)[-1]}", pos(at))
            return raw
    if event.implicit[0] and event.style in (None, ""):
        return resolve_plain(raw)
    return raw
