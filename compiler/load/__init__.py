"""Stage 1, load: the only reader of fleet.yaml. Bytes in, a positioned YAML tree out.

`load` and `Limits` (and with them the YAML parser) are imported on first use: commands that
only print diagnostics against a `Source`, or explain on a cached fleet, parse no YAML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compiler.load.document import Document, Path, Source, format_path

if TYPE_CHECKING:
    from compiler.load.yaml import Limits, load

__all__ = ["Document", "Limits", "Path", "Source", "format_path", "load"]


def __getattr__(name: str) -> Any:
    if name in ("Limits", "load"):
        from compiler.load import yaml

        return getattr(yaml, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
