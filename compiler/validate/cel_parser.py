"""celpy's CEL parser with its LALR tables cached on disk as JSON, so CEL costs little per run.

The cache is data, never code: lark's own cache is a pickle, and unpickling a file that
anyone else could write (a shared CI cache, a world-writable ``$XDG_CACHE_HOME``) runs their
code in every later fleetc. Here the tables are JSON, rebuilt into a parser only through
lark's own deserializers (which instantiate nothing but lark's rule and terminal classes),
and even that only from a file that is ours: a regular file owned by this user, writable by
nobody else, in a directory that is ours and private (0700), opened without following a
symlink. Writes go to a fresh ``O_EXCL`` temporary file in that directory and are renamed
into place, so a symlink planted at the cache path is replaced, never written through.
Anything unexpected means "no cache": the tables are built in memory as if there were none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

_MAX_CACHE = 4 * 1024 * 1024
"""The tables are ~100 KB; a cache file larger than this is not ours."""


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fleetc"


def _private_directory(directory: Path) -> bool:
    """Create `directory` 0700, or accept it when it is a real directory we own, private."""
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
        st = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0


def _read_private(path: Path) -> bytes | None:
    """The bytes of `path` when it is a regular file we own that nobody else can write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_uid != os.geteuid()
            or st.st_mode & 0o022
            or st.st_size > _MAX_CACHE
        ):
            return None
        return os.read(fd, _MAX_CACHE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def _write_private(directory: Path, name: str, data: bytes) -> None:
    """Write `data` as `directory/name`: O_EXCL temporary file (0600), then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, directory / name)  # replaces a symlink itself, never its target
    except OSError:
        Path(tmp).unlink(missing_ok=True)


# JSON has no tuples, no non-string keys: both are tagged, so the tables round-trip exactly.
def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"@items": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"@tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, int):  # an IntFlag (re.M): lark takes the flags again at load time
        return int(value)
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "@tuple" in value:
            return tuple(_decode(v) for v in value["@tuple"])
        if "@items" in value:
            return {_decode(k): _decode(v) for k, v in value["@items"]}
        return {k: _decode(v) for k, v in value.items()}
    return value


def install_cached_parser() -> None:
    """Give celpy a CEL parser built from cached LALR tables (built and cached when absent).

    Building the tables costs a noticeable part of a pre-commit hook's budget on every run
    that uses CEL; loading them from JSON costs ~10 ms. The file records a digest of the
    grammar, the options and the lark and Python versions, so a stale cache is never read.
    """
    import lark
    from celpy import celparser
    from lark.lark import _LOAD_ALLOWED_OPTIONS

    if celparser.CELParser.CEL_PARSER is not None:
        return
    grammar = (Path(celparser.__file__).parent / "cel.lark").read_text()
    # The same options celpy.celparser.CELParser uses.
    options: dict[str, Any] = {
        "parser": "lalr",
        "start": "expr",
        "debug": True,
        "g_regex_flags": re.M,
        "lexer_callbacks": {"IDENT": celparser.CELParser.ambiguous_literals},
        "propagate_positions": True,
        "maybe_placeholders": False,
        "priority": "invert",
        "tree_class": lark.Tree,
    }
    # Options lark takes again at load time (callbacks, classes) are not part of the tables.
    runtime = {k: v for k, v in options.items() if k in _LOAD_ALLOWED_OPTIONS}
    stored = sorted((k, str(v)) for k, v in options.items() if k not in _LOAD_ALLOWED_OPTIONS)
    key = hashlib.sha256(
        json.dumps([grammar, stored, lark.__version__, list(sys.version_info[:2])]).encode()
    ).hexdigest()[:32]
    name = "cel-parser.json"
    directory = cache_directory()
    private = _private_directory(directory)
    if private:
        data = _read_private(directory / name)
        if data is not None:
            try:
                doc = _decode(json.loads(data))
                if doc["key"] == key:
                    parser = lark.Lark._load_from_dict(  # type: ignore[no-untyped-call]
                        doc["data"], doc["memo"], **runtime
                    )
                    celparser.CELParser.CEL_PARSER = parser
                    return
            except Exception:  # any damage means "no cache": build the tables as usual
                pass
    # debug=False for the tables lark stores: with debug it keeps states as sets of items,
    # which are not data; debug is a load-time option and is set again when loading.
    built = lark.Lark(grammar, **{**options, "debug": False})
    tables, memo = built.memo_serialize([lark.lexer.TerminalDef, lark.grammar.Rule])
    tables["options"] = {k: v for k, v in tables["options"].items() if k not in runtime}
    doc = {"key": key, "data": tables, "memo": memo}
    try:
        text = json.dumps(_encode(doc))
    except TypeError:  # a lark version with other types in its tables: no cache
        text = ""
    if text:
        if private:
            _write_private(directory, name, text.encode())
        doc = _decode(json.loads(text))  # so a cached and an uncached run parse alike
    celparser.CELParser.CEL_PARSER = lark.Lark._load_from_dict(  # type: ignore[no-untyped-call]
        doc["data"], doc["memo"], **runtime
    )
