"""The data CEL expressions see, converted once and only as far as they look at it.

celpy's own ``json_to_cel`` is general and slow (about 25 µs a value: a 20,000-service fleet
took seconds); `to_cel` does the same for the JSON shapes a model dump has, several times
faster. `fields_read` finds which fields of a variable an expression reads, when it reads
nothing else of it (``cluster.labels.env`` yes, ``cluster`` passed whole no), so callers
convert only those fields and evaluate a selector once per distinct value of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler.model.fleet import Fleet


def to_cel(data: Any) -> Any:
    """JSON-shaped Python data (a model dump) -> celpy values."""
    from celpy import celtypes

    string, integer, double = celtypes.StringType, celtypes.IntType, celtypes.DoubleType
    boolean, listing, mapping = celtypes.BoolType, celtypes.ListType, celtypes.MapType

    def convert(value: Any) -> Any:
        # bool before int: bool is an int subclass
        if isinstance(value, str):
            return string(value)
        if isinstance(value, bool):
            return boolean(value)
        if isinstance(value, int):
            return integer(value)
        if isinstance(value, dict):
            return mapping({string(k): convert(v) for k, v in value.items()})
        if isinstance(value, list):
            return listing([convert(v) for v in value])
        if isinstance(value, float):
            return double(value)
        if value is None:
            return None
        raise TypeError(f"cannot give {type(value).__name__} to CEL")

    return convert(data)


def fields_read(ast: Any, variable: str) -> frozenset[str] | None:
    """Names f of every ``variable.f`` in `ast`; None if `variable` is used any other way."""
    import lark

    fields: set[str] = set()
    selected: set[int] = set()
    for node in ast.iter_subtrees():
        if node.data != "member_dot" or len(node.children) != 2:
            continue
        inner, name = node.children
        ident = _bare_ident(inner)
        if ident is not None and ident.children[0] == variable:
            fields.add(str(name))
            selected.add(id(ident))
    for node in ast.iter_subtrees():
        for child in node.children:
            used = isinstance(child, lark.Token) and child == variable
            if used and (node.data != "ident" or id(node) not in selected):
                return None
    return frozenset(fields)


def _bare_ident(member: Any) -> Any:
    """The ``ident`` node when `member` is just ``member -> primary -> ident``."""
    import lark

    node = member
    for data in ("member", "primary"):
        if not isinstance(node, lark.Tree) or node.data != data or len(node.children) != 1:
            return None
        node = node.children[0]
    if isinstance(node, lark.Tree) and node.data == "ident":
        return node
    return None


def fleet_variables(fleet: Fleet, asts: Iterable[Any]) -> dict[str, Any]:
    """``fleet`` (the spec as plain data, lists in file order) and ``clusters`` (by name).

    Only the parts of the spec that the expressions in `asts` read are converted.
    """
    from celpy import celtypes

    wanted: set[str] | None = {"clusters"}
    for ast in asts:
        read = fields_read(ast, "fleet")
        if read is None or wanted is None:
            wanted = None
            break
        wanted |= read
    spec = fleet.spec
    names = None if wanted is None else wanted & set(type(spec).model_fields)
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True, include=names)
    # model_dump(include=...) keeps field order; file order of list items is preserved
    data = to_cel(dumped)
    by_name = celtypes.MapType({celtypes.StringType(c["name"]): c for c in data["clusters"]})
    return {"fleet": data, "clusters": by_name}
