"""Stage 7, emit: rendered files -> canonical bytes on disk.

`compiler.emit.yaml` is the one canonical YAML writer; the rest of this package turns files
into bytes, writes them atomically and commits them.
"""
