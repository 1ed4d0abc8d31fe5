"""The positioned YAML tree: plain Python data plus the line and column of every key and value.

The data is ordinary dicts, lists and scalars so pydantic and CEL can read it directly; the
positions live beside it, keyed by the identity of each container, and are looked up by data
path (the same tuples pydantic puts in an error's ``loc``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from compiler.diagnostics import Position

PathItem = str | int
Path = tuple[PathItem, ...]


@dataclass(frozen=True)
class Source:
    """The text of one input file and the name diagnostics call it by."""

    name: str
    text: str

    @functools.cached_property
    def lines(self) -> list[str]:
        # cached: every diagnostic printed reads a line, and a fleet can be megabytes
        return self.text.splitlines()

    def line(self, number: int) -> str:
        lines = self.lines
        return lines[number - 1] if 0 < number <= len(lines) else ""


@dataclass
class MappingPositions:
    start: tuple[int, int]
    keys: dict[Any, tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=dict)


@dataclass
class SequencePositions:
    start: tuple[int, int]
    items: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Document:
    """A loaded fleet.yaml: its data, its source and where every node came from."""

    source: Source
    data: Any
    root_start: tuple[int, int]
    positions: dict[int, MappingPositions | SequencePositions]
    rewritten: list[str] | None = None
    """The strings whose value is not their text in the source, read as it stands (quoted,
    escaped, tagged, folded over several lines); None when not recorded (every string may
    be). The secret scan of decoded values reads only these: the others it saw as text."""

    def _pos(self, at: tuple[int, int]) -> Position:
        return Position(self.source.name, at[0], at[1])

    def _walk(self, path: Sequence[PathItem]) -> tuple[tuple[int, int], tuple[int, int] | None]:
        """Follow `path` as far as it exists; return (value position, key position)."""
        node: Any = self.data
        at = self.root_start
        key_at: tuple[int, int] | None = None
        for item in path:
            info = self.positions.get(id(node))
            if isinstance(info, MappingPositions) and isinstance(node, dict):
                if item not in info.keys:
                    break
                key_at, at = info.keys[item]
                node = node[item]
            elif isinstance(info, SequencePositions) and isinstance(node, list):
                if not isinstance(item, int) or not 0 <= item < len(info.items):
                    break
                key_at, at = None, info.items[item]
                node = node[item]
            else:
                break
            child = self.positions.get(id(node))
            if child is not None and child.start != at:
                # `node` is shared with an anchor (an alias or a merge): its own positions are
                # the anchor's, so the place where it is used is the best answer for this path
                break
        return at, key_at

    def position(self, path: Sequence[PathItem]) -> Position:
        """The position of the value at `path`, or of its deepest existing ancestor."""
        return self._pos(self._walk(path)[0])

    def key_position(self, path: Sequence[PathItem]) -> Position:
        """The position of the key naming `path` (the value's, for list items)."""
        at, key_at = self._walk(path)
        return self._pos(key_at or at)

    def exists(self, path: Sequence[PathItem]) -> bool:
        node: Any = self.data
        for item in path:
            if isinstance(node, dict) and item in node:
                node = node[item]
            elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
                node = node[item]  # a separate branch so mypy sees `item` is an int
            else:
                return False
        return True


def format_path(path: Sequence[PathItem]) -> str:
    """``('spec', 'clusters', 2, 'id')`` -> ``spec.clusters[2].id``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += ("." if out else "") + str(item)
    return out
