"""Stage 1, load: the only reader of fleet.yaml. Bytes in, a positioned YAML tree out."""

from compiler.load.document import Document, Path, Source, format_path
from compiler.load.yaml import Limits, load

__all__ = ["Document", "Limits", "Path", "Source", "format_path", "load"]
