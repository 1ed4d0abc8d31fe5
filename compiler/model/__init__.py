"""Stage 2, model: the positioned tree -> a validated `Fleet`, every error at its value."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from compiler.diagnostics import Diagnostics
from compiler.load import Document, format_path
from compiler.model.fleet import API_VERSION, KIND, Cluster, Fleet, Policy, Service
from compiler.model.types import PortRange, version_tuple

__all__ = [
    "API_VERSION",
    "KIND",
    "Cluster",
    "Fleet",
    "Policy",
    "PortRange",
    "Service",
    "parse",
    "version_tuple",
]

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


_BOUNDS = {
    "greater_than_equal": ("ge", "below the minimum"),
    "less_than_equal": ("le", "above the maximum"),
    "greater_than": ("gt", "not above"),
    "less_than": ("lt", "not below"),
}
_LENGTHS = {"too_short": ("min_length", "at least"), "too_long": ("max_length", "at most")}


def parse(doc: Document, diags: Diagnostics) -> Fleet | None:
    """Validate the document against the model; on failure add diagnostics and return None."""
    try:
        return Fleet.model_validate(doc.data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            _report(doc, error, diags)
        return None


_UNION_TAGS = ("names", "selector")  # the tags of the cluster selector union in fleet.py


def _data_path(
    doc: Document, loc: tuple[Any, ...], kind: str
) -> tuple[tuple[Any, ...], bool, bool]:
    """Drop pydantic's union tags from `loc`.

    Returns the data path, whether its last item exists in the data (a missing field does
    not), and whether a cluster-selector union tag was dropped.
    """
    node: Any = doc.data
    path: list[Any] = []
    tagged = False
    for i, item in enumerate(loc):
        if (isinstance(node, dict) and item in node) or (
            isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)
        ):
            node = node[item]
            path.append(item)
        elif i == len(loc) - 1 and kind == "missing":
            path.append(item)
            return tuple(path), False, tagged
        else:  # a union tag or validator name
            tagged = tagged or item in _UNION_TAGS
    return tuple(path), True, tagged


def _report(doc: Document, error: Any, diags: Diagnostics) -> None:
    kind: str = error["type"]
    if kind == "extra_forbidden" and diags.full("model-unknown-field"):
        diags.count_more("model-unknown-field")  # capped: skip locating it and did-you-mean
        return
    loc, exists, tagged = _data_path(doc, tuple(error["loc"]), kind)
    value = error.get("input")
    ctx = error.get("ctx") or {}
    hint: str | None = ctx.get("hint") or None
    where = format_path(loc)
    if kind == "missing":
        parent = loc[:-1]
        position = doc.key_position(parent) if parent else doc.position(())
        message = f"missing required field {loc[-1]!r}" + (
            f" in {format_path(parent)}" if parent else ""
        )
        code = "model-missing"
        hint = hint or _misspelled_sibling(doc, parent, str(loc[-1]))
    elif kind == "extra_forbidden":
        position = doc.key_position(loc)
        message = f"unknown field {loc[-1]!r}"
        hint = hint or _did_you_mean_field(error, loc)
        code = "model-unknown-field"
    else:
        # A rule about a whole mapping or list (a model validator) points at the key naming
        # it; a rule about a scalar points at the scalar.
        container = isinstance(value, dict | list) and kind not in _TYPE_NAMES
        container = container and kind not in _LENGTHS
        position = doc.position(loc) if exists and not container else doc.key_position(loc)
        token = _source_token(doc, position.line, position.column)
        code, message, hint = _value_error(kind, loc, value, ctx, token, tagged, hint)
        message = message or str(error["msg"])
        message = message.removeprefix("Value error, ")
        if where and not message.startswith(where):
            message = f"{where}: {message}"
    diags.error(code, message, position, hint=hint or None, path=where or None)


def _value_error(
    kind: str,
    loc: tuple[Any, ...],
    value: Any,
    ctx: dict[str, Any],
    token: str,
    tagged: bool,
    hint: str | None,
) -> tuple[str, str, str | None]:
    """(code, message, hint) for an error about a value that is there but wrong."""
    if kind in _TYPE_NAMES:
        return ("model-type", *_type_error(kind, loc, value, token, tagged, hint))
    if kind == "literal_error":
        message = f"{_describe(value)} is not one of {ctx.get('expected')}"
        if isinstance(value, str):
            from compiler.validate.names import did_you_mean

            expected = str(ctx.get("expected", ""))
            hint = did_you_mean(value, re.findall(r"'([^']*)'", expected)) or hint
        return "model-enum", message, hint
    if kind in _BOUNDS:
        bound = ctx.get(_BOUNDS[kind][0])
        return "model-out-of-range", f"{_describe(value)} is {_BOUNDS[kind][1]} {bound}", hint
    if kind == "string_pattern_mismatch" and isinstance(value, str):
        return ("model-pattern", *_pattern_message(str(loc[-1]), value, str(ctx.get("pattern"))))
    if kind in _LENGTHS:
        bound = ctx.get(_LENGTHS[kind][0])
        message = f"needs {_LENGTHS[kind][1]} {bound} item(s), got {len(value or ())}"
        return "model-length", message, hint
    if kind in ("string_too_short", "string_too_long"):
        if kind == "string_too_short":
            return "model-length", "must not be empty", hint
        return "model-length", f"is longer than {ctx.get('max_length')} characters", hint
    return "model-" + kind.replace("_", "-"), "", hint


def _type_error(
    kind: str, loc: tuple[Any, ...], value: Any, token: str, tagged: bool, hint: str | None
) -> tuple[str, str | None]:
    shown = _describe(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        shown = token or shown  # the number as written: 1.20, not the float 1.2
    expected = _TYPE_NAMES[kind]
    if tagged:
        expected = "a list of cluster names or a label selector"
        if isinstance(value, str):
            hint = hint or f"write [{value}]"
    elif kind == "list_type" and not isinstance(value, dict | list):
        hint = hint or f"write [{token or shown}]"
    elif kind == "string_type" and isinstance(value, int | float | bool):
        if len(loc) >= 2 and loc[-2] == "ports":
            hint = hint or f"write {token}/TCP (or /UDP, /SCTP)"
        else:
            hint = hint or f'quote it: "{token}"'
    elif kind == "int_type" and isinstance(value, float) and value.is_integer():
        hint = hint or f"write {int(value)}"
    elif kind in ("int_type", "float_type") and isinstance(value, str):
        if re.fullmatch(r"[-+]?[0-9]+(\.[0-9]*)?", value):
            hint = hint or f"write {value} without quotes"
    elif kind == "bool_type" and isinstance(value, str):
        hint = hint or "write true or false"
    return f"expected {expected}, got {shown}", hint


def _pattern_message(field: str, value: str, pattern: str) -> tuple[str, str | None]:
    """Say what a pattern means for the fields that have one, with a corrected value."""
    if field in ("version", "ciliumVersion"):
        match = re.match(r"^v?(1\.[0-9]{1,2})(\.[0-9]+)?$", value)
        fixed = f'write "{match.group(1)}"' if match else 'a minor version such as "1.19"'
        return f'{value!r} is not a Cilium minor version such as "1.19"', fixed
    if field == "service":
        return (
            f"{value!r} is not a service reference: write namespace/name",
            f"write <namespace>/{value}" if "/" not in value else None,
        )
    if field in ("address", "domain"):
        fixed = re.sub(r"[^a-z0-9.-]+", "-", value.lower()).strip("-.")
        return (
            f"{value!r} is not a DNS name (lower-case letters, digits, '-' and '.')",
            f"try {fixed!r}" if fixed and fixed != value else None,
        )
    if field == "interval":
        return f"{value!r} is not a duration such as 10m, 1h or 30s", None
    if field == "path":
        return f"{value!r} is not a relative path starting with ./", f"write ./{value.lstrip('./')}"
    return f"{value!r} does not match {pattern}", None


def _misspelled_sibling(doc: Document, parent: tuple[Any, ...], field: str) -> str | None:
    """For a missing field: a key beside it that looks like a misspelling of it."""
    from compiler.validate.names import did_you_mean

    node: Any = doc.data
    for item in parent:
        node = node[item] if isinstance(node, dict | list) else None
    if not isinstance(node, dict):
        return None
    keys = [k for k in node if isinstance(k, str) and k != field]
    close = did_you_mean(field, keys, cutoff=0.8)
    if close is None:
        return None
    found = close.removeprefix("did you mean ").removesuffix("?")
    line = doc.key_position((*parent, found.strip("'"))).line
    return f"{found} on line {line} looks like a misspelling of it"


def _source_token(doc: Document, line: int, column: int) -> str:
    """The scalar as written in the file (``1.20``, not the float 1.2)."""
    text = doc.source.line(line)[column - 1 :]
    match = re.match(r"[^\s,\]}#]+", text)
    return match.group() if match else ""


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _yaml_scalar(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean_field(error: Any, loc: tuple[Any, ...]) -> str | None:
    from compiler.validate.names import did_you_mean

    field = str(loc[-1])
    known = _known_fields(loc)
    return did_you_mean(field, known)


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    """The field names the model allows at the parent of `loc`, for "did you mean"."""
    from pydantic import BaseModel

    model: Any = Fleet
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = None
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, info in model.model_fields.items():
                if (info.alias or name) == item:
                    field = info
                    break
        if field is None:
            return []
        model = _model_of(field.annotation)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


def _model_of(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
