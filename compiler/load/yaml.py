"""Read fleet.yaml: bytes -> positioned tree, refusing hostile input before it can cost anything.

We compose the tree ourselves from libyaml's event stream (ruamel.yaml's C parser) instead of
using a constructor, because that is the one place where every limit can be enforced in a
single, non-recursive pass: input size, nesting depth, node count after alias expansion,
duplicate keys, merge keys, and YAML 1.2 scalar resolution (``no`` and ``on`` stay strings).
Aliases share the anchored object rather than copying it, and the size they would add when
expanded is counted, so a "billion laughs" document is refused before anything walks it.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from compiler.diagnostics import Diagnostics, FleetError, Position, Related
from compiler.load.document import Document, MappingPositions, SequencePositions, Source
from compiler.load.read import MAX_BYTES
from compiler.load.scalars import kind_of, resolve_plain, scalar, token_at

MAX_DEPTH = 64
MAX_NODES = 2_000_000
MAX_SCALAR = 64 * 1024
FREEZE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH
    max_nodes: int = MAX_NODES
    max_scalar: int = MAX_SCALAR


class _Frame:
    """A container being built: its value, positions and (for mappings) the pending key."""

    __slots__ = (
        "anchor",
        "info",
        "items",
        "key",
        "key_at",
        "keys",
        "merge",
        "size",
        "start",
        "value",
    )

    def __init__(
        self,
        value: Any,
        info: MappingPositions | SequencePositions,
        anchor: str | None,
        start: tuple[int, int],
    ):
        self.value = value
        self.start = start
        self.info = info
        # the position lists themselves, so the hot path does no isinstance checks
        self.items = info.items if isinstance(info, SequencePositions) else None
        self.keys = info.keys if isinstance(info, MappingPositions) else None
        self.anchor = anchor
        self.key: Any = _NO_KEY
        self.key_at: tuple[int, int] = (0, 0)
        self.size = 1
        # (merged mapping, where the '<<' key is, where that mapping is named in the merge)
        self.merge: list[tuple[dict[Any, Any], tuple[int, int], tuple[int, int]]] = []


_NO_KEY = object()


def _at(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def load(data: bytes, name: str, limits: Limits = Limits()) -> Document:
    """Parse `data` into a Document, or raise FleetError with every problem found."""
    diags = Diagnostics()

    def fail(code: str, message: str, at: tuple[int, int], hint: str | None = None) -> FleetError:
        diags.error(code, message, Position(name, at[0], at[1]), hint=hint)
        return FleetError(diags)

    if len(data) > limits.max_bytes:
        raise fail(
            "load-too-large",
            f"input is larger than the limit of {limits.max_bytes} bytes",
            (1, 1),
        )
    text = _decode(data, name, diags)
    source = Source(name, text)
    _check_characters(text, name, diags)
    if diags.has_errors:
        raise FleetError(diags)
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise fail("load-empty", "the file is empty; expected a Fleet document", (1, 1))

    # The tree is acyclic and built in one go: the cycle collector would only rescan it,
    # again and again as it grows (a third of the load time of a large fleet).
    collecting = gc.isenabled()
    gc.disable()
    try:
        root, root_at, positions, rewritten = _compose(text, name, limits, diags)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) if isinstance(exc, MarkedYAMLError) else None
        problem = getattr(exc, "problem", None) or str(exc)
        at = _at(mark) if mark is not None else (1, 1)
        raise fail("yaml-syntax", f"YAML syntax error: {problem}", at) from None
    except RecursionError:  # pragma: no cover - depth is limited before Python recursion
        raise fail("load-too-deep", "nesting is too deep", (1, 1)) from None
    finally:
        if collecting:
            gc.enable()
    if diags.has_errors:
        raise FleetError(diags)
    if len(data) >= FREEZE_BYTES:
        # A large tree lives as long as the run and holds no cycles; left to the cycle
        # collector it is rescanned by every collection the later stages trigger (a quarter
        # of a large validate). Frozen objects are still freed by reference counting.
        gc.freeze()
    if not isinstance(root, dict):
        kind = "a list" if isinstance(root, list) else "a scalar"
        raise fail(
            "load-not-mapping",
            f"the top level is {kind}; a Fleet document is a mapping",
            root_at,
            hint="start with 'apiVersion: fleetc.dev/v1alpha1' and 'kind: Fleet'",
        )
    return Document(source, root, root_at, positions, rewritten)


def _decode(data: bytes, name: str, diags: Diagnostics) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        diags.error(
            "load-encoding",
            f"invalid UTF-8 (byte 0x{data[exc.start]:02x})",
            Position(name, line, column),
            hint="fleet.yaml must be UTF-8 text",
        )
        return ""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_characters(text: str, name: str, diags: Diagnostics) -> None:
    """Tabs in indentation and control characters, reported where they are."""
    if "\t" not in text and not _CONTROL.search(text):
        return  # the usual case, decided in one pass over the text
    for number, line in enumerate(text.splitlines(), start=1):
        control = _CONTROL.search(line)
        if control:
            diags.error(
                "load-control-char",
                f"control character U+{ord(control.group()):04X} is not allowed",
                Position(name, number, control.start() + 1),
            )
            continue
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent] and line.strip():
            diags.error(
                "yaml-tab",
                "tab character in indentation; YAML indents with spaces",
                Position(name, number, line.index("\t") + 1),
                hint="replace the tab with spaces",
            )
    if len(diags) > 20:  # a binary file: one message says it
        first = diags.items[0]
        diags.items[:] = [first]


def new_yaml() -> YAML:
    """The ruamel.yaml front end used for parsing: libyaml's C parser when installed (tests
    assert it is), which is about ten times faster than the pure-Python one on large fleets.
    """
    return YAML(typ="safe", pure=False)


def _compose(
    text: str, name: str, limits: Limits, diags: Diagnostics
) -> tuple[Any, tuple[int, int], dict[int, MappingPositions | SequencePositions], list[str]]:
    positions: dict[int, MappingPositions | SequencePositions] = {}
    rewritten: list[str] = []
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    source_lines = text.splitlines()
    root: Any = None
    root_at = (1, 1)
    documents = 0
    total = 0

    def pos(at: tuple[int, int]) -> Position:
        return Position(name, at[0], at[1])

    def add(value: Any, at: tuple[int, int], size: int, plain_key: bool) -> None:
        """Attach a finished node to the container on top of the stack (or make it the root)."""
        nonlocal root, root_at
        if not stack:
            root, root_at = value, at
            return
        top = stack[-1]
        top.size += size
        if top.items is not None:  # a sequence
            top.value.append(value)
            top.items.append(at)
            return
        if top.key is _NO_KEY:
            if isinstance(value, dict | list):
                diags.error("yaml-complex-key", "mapping keys must be scalars", pos(at))
                value = f"<complex key {at[0]}:{at[1]}>"
            elif not isinstance(value, str):
                # Every key of a fleet is text; and in a Python dict 1, 1.0 and true would
                # even collide as one key.
                token = token_at(source_lines, at)
                diags.error(
                    "yaml-key-type",
                    f"mapping keys are strings; {token} reads as {kind_of(value)}",
                    pos(at),
                    hint=f'quote it: "{token}"',
                )
                value = f"<{kind_of(value)} key {at[0]}:{at[1]}>"
            top.key, top.key_at = value, at
            if plain_key and value == "<<":
                top.key = _MERGE
            return
        key, key_at = top.key, top.key_at
        top.key = _NO_KEY
        if key is _MERGE:
            _merge_into(top, value, key_at, at, positions, diags, pos)
            return
        keys = top.keys
        assert keys is not None
        if key in keys:
            diags.error(
                "yaml-duplicate-key",
                f"duplicate key {key!r}",
                pos(key_at),
                related=[Related(pos(keys[key][0]), "first defined here")],
            )
            return
        top.value[key] = value
        keys[key] = (key_at, at)

    max_scalar, max_depth, max_nodes = limits.max_scalar, limits.max_depth, limits.max_nodes
    # Dispatch on the event class itself: this loop runs once per node of the document.
    for event in new_yaml().parse(text):
        cls = type(event)
        if cls is ScalarEvent:
            mark = event.start_mark
            at = (mark.line + 1, mark.column + 1)
            raw = event.value
            # `ctag`, not the `tag` property: this runs for every scalar of the document
            if not event.style and event.ctag is None and len(raw) <= max_scalar:
                # the common case, a plain scalar; `_scalar` handles every other
                value: Any = resolve_plain(raw)
                plain_key = True
                if event.end_mark.line != mark.line:  # folded: not the text as it stands
                    rewritten.append(raw)
            else:
                value = scalar(event, at, pos, diags, max_scalar)
                plain_key = False
                rewritten.append(raw)
            total += 1
            if event.anchor:
                anchors[event.anchor] = (value, 1)
            add(value, at, 1, plain_key)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            at = _at(event.start_mark)
            if len(stack) >= max_depth:
                diags.error("load-too-deep", f"nesting deeper than {max_depth} levels", pos(at))
                break
            total += 1
            if cls is MappingStartEvent:
                frame = _Frame({}, MappingPositions(at), event.anchor, at)
            else:
                frame = _Frame([], SequencePositions(at), event.anchor, at)
            positions[id(frame.value)] = frame.info
            stack.append(frame)
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            frame = stack.pop()
            if frame.merge:
                _apply_merge(frame)
            if frame.anchor:
                anchors[frame.anchor] = (frame.value, frame.size)
            add(frame.value, frame.start, frame.size, False)
        elif cls is AliasEvent:
            at = _at(event.start_mark)
            if event.anchor not in anchors:
                diags.error("yaml-alias", f"unknown alias *{event.anchor}", pos(at))
                break
            value, size = anchors[event.anchor]
            if any(f.value is value for f in stack):
                diags.error("yaml-alias", f"alias *{event.anchor} refers to itself", pos(at))
                break
            total += size
            add(value, at, size, False)
        elif cls is DocumentStartEvent:
            documents += 1
            if documents > 1:
                diags.error(
                    "yaml-multiple-documents",
                    "several YAML documents; fleet.yaml holds exactly one",
                    pos(_at(event.start_mark)),
                    hint="remove the '---' separator and everything after it",
                )
                break
            continue
        else:  # stream start and end, document end
            continue
        if total > max_nodes:
            diags.error(
                "load-too-many-nodes",
                f"the document expands to more than {max_nodes} nodes"
                " (aliases are counted each time they are used)",
                pos(_at(event.start_mark)),
                hint="an alias bomb, or a fleet far beyond any supported size",
            )
            break
        if len(diags.items) >= 50:  # enough to show; the rest are likely consequences
            break
    return root, root_at, positions, rewritten


def _merge_into(
    top: _Frame,
    value: Any,
    key_at: tuple[int, int],
    at: tuple[int, int],
    positions: dict[int, MappingPositions | SequencePositions],
    diags: Diagnostics,
    pos: Any,
) -> None:
    """Record the mappings a ``<<`` key names; they are merged when the mapping ends."""
    if isinstance(value, list):
        seq = positions.get(id(value))
        where = seq.items if isinstance(seq, SequencePositions) else [at] * len(value)
        sources = list(zip(value, where, strict=True))
    else:
        sources = [(value, at)]
    for src, src_at in sources:
        if not isinstance(src, dict):
            diags.error("yaml-merge", "'<<' merges only mappings", pos(src_at))
            continue
        top.merge.append((src, key_at, src_at))


_MERGE = object()


def _apply_merge(frame: _Frame) -> None:
    assert isinstance(frame.value, dict) and isinstance(frame.info, MappingPositions)
    for src, key_at, src_at in frame.merge:
        for key, value in src.items():
            if key not in frame.value:
                frame.value[key] = value
                # A merged key is reported where it is merged, not where the anchor defines it:
                # that is the place that differs between the two mappings.
                frame.info.keys[key] = (key_at, src_at)
                frame.size += 1
