"""What a fleet that checked clean resolved to, and what it reported, kept between runs.

``fleetc explain`` asks one question of a fleet that is loaded, checked and resolved in full
on every call; after the first call this cache answers instead, in a few percent of the time.
``fleetc validate`` of a fleet it checked before prints what it found then. An entry is kept
only for a fleet that checked without errors: the warnings and notes the check reported (so
a command prints them again) and, once explain has asked, the resolved fleet.

Safe to trust because (see `compiler.cachedir`): the file is JSON data, decoded only into the
resolved model's own classes; it lives in the user's private cache directory, read only when
this user wrote it; its key is a digest of the fleet's bytes, the name it was given as (the
name is in every position), fleetc's version, a digest of fleetc's own code and a stamp of
the libraries that check it, so a changed fleet, fleetc or library misses; and a digest of
its body catches a damaged file. Anything unexpected is a miss, and a miss costs only the
full run it replaces. One slot per fleet path (of the absolute path), so the directory grows
with the fleets a user has, not with every revision of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import compiler
from compiler.cachedir import cache_directory, private_directory, read_private, write_private

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.resolve.model import ResolvedFleet

MAGIC = b"fleetc-resolved 1\n"
MAX_ENTRY = 1024 * 1024 * 1024
"""A cache entry larger than this is not read (511/20,000/5,000 encodes to ~10 MB)."""
FREEZE_BYTES = 1024 * 1024
"""From this size on, the decoded fleet is kept out of the cycle collector's sight."""


@dataclass(frozen=True)
class Entry:
    diagnostics: list[Diagnostic]
    """What the check reported (warnings and notes: an entry is kept only without errors)."""
    resolved: ResolvedFleet | None
    """None when the entry was kept by ``validate``, which does not resolve."""
    text: str
    """The fleet's text as diagnostics quote it."""


def key(name: str, data: bytes) -> str:
    """The key of fleet `data` given as `name`, for this fleetc on these libraries."""
    from compiler.emit.cache import generator_digest

    doc = [
        compiler.__version__,
        generator_digest(),
        _libraries(),
        name,
        hashlib.sha256(data).hexdigest(),
    ]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


_LIBRARIES = (  # what decides what a check finds, besides fleetc's own code
    ("pydantic", "__init__.py"),
    ("pydantic_core", "__init__.py"),
    ("celpy", "__init__.py"),
    ("lark", "__init__.py"),
    ("ruamel", "yaml/__init__.py"),
    ("_ruamel_yaml", None),
)


def _libraries() -> list[Any]:
    """The Python version and a stamp (size, mtime) of each library's files, found without
    importing them: an upgraded library is a miss. ~0.3 ms."""
    from importlib.machinery import PathFinder

    out: list[Any] = [sys.version]
    for module, inner in _LIBRARIES:
        spec = PathFinder.find_spec(module)
        try:
            if spec is not None and inner and spec.submodule_search_locations:
                path = os.path.join(next(iter(spec.submodule_search_locations)), inner)
            elif spec is not None and spec.origin:
                path = spec.origin
            else:
                out.append([module])
                continue
            st = os.stat(path)
        except (OSError, StopIteration):
            out.append([module])
            continue
        out.append([module, st.st_size, st.st_mtime_ns])
    return out


def _slot(name: str) -> str:
    where = os.path.abspath(name).encode("utf-8", "surrogateescape")
    return f"resolved-{hashlib.sha256(where).hexdigest()[:32]}.json"


def load(name: str, data: bytes) -> Entry | None:
    """The entry for fleet `data` given as `name`, or None (absent, stale, damaged, not ours)."""
    directory = cache_directory()
    if not private_directory(directory):
        return None
    raw = read_private(directory / _slot(name), MAX_ENTRY)
    if raw is None or not raw.startswith(MAGIC):
        return None
    header, _, body = raw[len(MAGIC) :].partition(b"\n")
    try:
        stored_key, digest = header.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        return None
    if stored_key != key(name, data) or digest != hashlib.sha256(body).hexdigest():
        return None
    from compiler.resolve.codec import decode, decode_diagnostics, quiet_collector

    try:
        with quiet_collector(freeze=len(body) >= FREEZE_BYTES):
            doc = json.loads(body)
            diagnostics = decode_diagnostics(doc["diagnostics"])
            resolved = None if doc["resolved"] is None else decode(doc["resolved"])
        text = doc["text"]
        if text is None:
            text = data.decode("utf-8", "replace")
        elif not isinstance(text, str):
            return None
        return Entry(diagnostics, resolved, text)
    except Exception:  # any damage means "no cache": the command runs in full
        return None


def store(
    name: str,
    data: bytes,
    text: str,
    diagnostics: list[Diagnostic],
    resolved: ResolvedFleet | None,
) -> None:
    """Keep the `diagnostics` of a fleet that checked without errors, the `text` they quote
    and what it resolved to (None: not resolved)."""
    from compiler.diagnostics import Severity
    from compiler.resolve.codec import encode, encode_diagnostics

    if any(d.severity is Severity.ERROR for d in diagnostics):
        return
    directory = cache_directory()
    if not private_directory(directory):
        return
    doc = {
        "diagnostics": encode_diagnostics(diagnostics),
        "resolved": None if resolved is None else encode(resolved),
        # the text only when it is not simply the bytes decoded (a byte-order mark, say)
        "text": None if text == data.decode("utf-8", "replace") else text,
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    header = f"{key(name, data)} {hashlib.sha256(body).hexdigest()}\n".encode()
    write_private(directory, _slot(name), MAGIC + header + body)
