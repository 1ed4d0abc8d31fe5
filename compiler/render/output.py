"""What renderers produce: files for the output tree, as data, before any bytes exist.

A renderer returns `File`s: a Kubernetes object (a plain dict, serialized later by the one
canonical YAML writer in `compiler.emit`) or finished text (seed files, READMEs). Paths are
POSIX, relative to the output directory, and decided by `object_path` so that every renderer
names files the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class File:
    path: str
    """POSIX path relative to the output directory, e.g. ``clusters/eu/mesh/configmap-...``."""
    content: dict[str, Any] | str
    """A Kubernetes object (dict) or final text."""
    origin: str | None = None
    """What in fleet.yaml it came from, e.g. ``policy api-calls-payments (fleet.yaml:93)``."""
    applied: bool = True
    """False for files written for people and tools only (a JSON twin): Flux never sees them."""


def object_path(cluster: str, component: str, obj: dict[str, Any]) -> str:
    """``clusters/<cluster>/<component>/<kind>-<namespace>-<name>.yaml``, lower-case kind.

    Cluster-scoped objects have no namespace part. Names are DNS-1123 by construction (the model
    checks every name that reaches here), so the path cannot escape its directory.
    """
    kind = str(obj["kind"]).lower()
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    stem = f"{kind}-{namespace}-{meta['name']}" if namespace else f"{kind}-{meta['name']}"
    return f"clusters/{cluster}/{component}/{stem}.yaml"
