"""The fast-path key: what must be unchanged for a re-render to skip compiling altogether.

An unchanged re-render must be much faster than the first, so when DIR was last rendered from
the same inputs by the same code, and every owned file still has the bytes the manifest
records, fleetc stops there. "The same code" is the fleetc version plus a digest of the
package's own files: a developer who edits a renderer without bumping the version must not
get stale output. The key is kept in ``DIR/.fleetc/cache.json``, which ``.fleetc/.gitignore``
keeps out of git (a fresh clone simply takes the slow path once).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import compiler

_CODE_SUFFIXES = (".py", ".j2", ".h", ".json")


@cache
def generator_digest() -> str:
    """A digest of every source file of the installed `compiler` package, in path order."""
    package = Path(compiler.__file__).resolve().parent
    digest = hashlib.sha256(compiler.__version__.encode())
    for path in sorted(p for p in package.rglob("*") if p.suffix in _CODE_SUFFIXES):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def render_key(source: str, source_data: bytes, options: dict[str, str] | None = None) -> str:
    """The key for rendering `source_data` (named `source` in headers) with `options`."""
    doc = {
        "generator": generator_digest(),
        "source": source,
        "sha256": hashlib.sha256(source_data).hexdigest(),
        "options": options or {},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
