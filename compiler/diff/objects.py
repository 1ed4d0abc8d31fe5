"""Object-level diff of two renders: added, changed and removed objects per cluster.

Objects are keyed by (cluster, kind, namespace, name), not by path, so a file moving does not
read as a delete plus an add. Text files (guard seeds) are keyed by their path. A Secret's
values never appear: they are replaced by a digest before anything is compared or printed.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from compiler.render.output import File

Change = Literal["added", "changed", "removed"]


@dataclass(frozen=True, order=True)
class ObjectKey:
    cluster: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class ObjectChange:
    key: ObjectKey
    change: Change
    path: str
    diff: str
    """A unified diff of the object's YAML (every line for added or removed objects)."""


def _cluster_of(path: str) -> str:
    parts = path.split("/")
    if len(parts) >= 2 and parts[0] in ("clusters", "flux", "bootstrap"):
        return parts[1].removesuffix(".yaml")
    return ""


def redact(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret with every value replaced by its digest; other objects unchanged."""
    if obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for field in ("data", "stringData"):
        values = obj.get(field)
        if isinstance(values, dict):
            out[field] = {
                k: "sha256:" + hashlib.sha256(str(v).encode()).hexdigest()[:16]
                for k, v in values.items()
            }
    return out


def key_of(file: File) -> ObjectKey:
    if isinstance(file.content, dict):
        meta = file.content.get("metadata") or {}
        return ObjectKey(
            _cluster_of(file.path),
            str(file.content.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or file.path),
        )
    return ObjectKey(_cluster_of(file.path), "File", "", file.path)


_SOURCE_LINE = re.compile(r"(fleetc\.dev/source: \S+?):\d+")


def _normalized(text: str) -> str:
    return _SOURCE_LINE.sub(r"\1", text)


def text_of(file: File) -> str:
    if isinstance(file.content, str):
        return file.content
    from compiler.emit.yaml import dump

    return dump(redact(file.content))


def diff_objects(base: Iterable[File], head: Iterable[File]) -> list[ObjectChange]:
    """Every object added, changed or removed, sorted by key."""
    before = {key_of(f): f for f in base}
    after = {key_of(f): f for f in head}
    changes: list[ObjectChange] = []
    texts: dict[int, str] = {}  # one dump per shared object; `before`/`after` keep ids alive

    def text(file: File) -> str:
        if id(file.content) not in texts:
            texts[id(file.content)] = text_of(file)
        return texts[id(file.content)]

    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old.content == new.content:
            continue  # equal objects, the common case: nothing to dump
        old_text = text(old) if old else ""
        new_text = text(new) if new else ""
        if _normalized(old_text) == _normalized(new_text):
            continue  # only source line numbers moved: not a change of the object
        path = (new or old).path  # type: ignore[union-attr]
        diff = "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                fromfile=f"a/{old.path}" if old else "/dev/null",
                tofile=f"b/{new.path}" if new else "/dev/null",
            )
        )
        change: Change = "added" if old is None else "removed" if new is None else "changed"
        changes.append(ObjectChange(key, change, path, diff))
    return changes
