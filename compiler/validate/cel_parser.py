"""celpy's CEL parser with its LALR tables cached on disk, so CEL costs little per run."""

from __future__ import annotations


def install_cached_parser() -> None:
    """Give celpy a CEL parser whose LALR tables lark caches on disk.

    Building them costs ~0.6 s on every run that uses CEL, most of a pre-commit hook's budget.
    lark keys the cache by grammar, options, lark and Python versions, and rebuilds when the
    file is missing, stale or unreadable, so the cache can only save time. It lives in the
    user's cache directory; if that cannot be written, lark builds the tables as before.
    """
    import os
    import re
    from pathlib import Path

    import lark
    from celpy import celparser

    if celparser.CELParser.CEL_PARSER is not None:
        return
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    directory = Path(base) / "fleetc"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # celpy builds its own parser, uncached
    grammar = (Path(celparser.__file__).parent / "cel.lark").read_text()
    # The same options celpy.celparser.CELParser uses; lexer_callbacks are not pickled.
    celparser.CELParser.CEL_PARSER = lark.Lark(
        grammar,
        parser="lalr",
        start="expr",
        debug=True,
        g_regex_flags=re.M,
        lexer_callbacks={"IDENT": celparser.CELParser.ambiguous_literals},
        propagate_positions=True,
        maybe_placeholders=False,
        priority="invert",
        tree_class=lark.Tree,
        cache=str(directory / "cel-parser.lark-cache"),
    )
