"""The resolved fleet as plain JSON data and back, for explain's cache: data, never code.

Encoders and decoders are derived once from the dataclasses' own type hints, so a field added
to `compiler.resolve.model` is carried without a change here (the cache key holds a digest of
fleetc's code, so an old file is never decoded with a new layout). A dataclass is written as
the list of its field values in field order, a tuple as a list, and a value of a union of
dataclasses (`Peer`) as ``[class name, fields]``, an enum as its value. Decoding builds only the classes the hints
name; anything that does not fit raises, and the caller treats that as "no cache".
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

from compiler.diagnostics import Diagnostic
from compiler.resolve.model import ResolvedFleet

Codec = Callable[[Any], Any]


def encode(resolved: ResolvedFleet) -> Any:
    """`resolved` as lists, strings, numbers, booleans and None."""
    return _encoder(ResolvedFleet)(resolved)


def decode(data: Any) -> ResolvedFleet:
    """The `ResolvedFleet` `data` encodes; raises (TypeError, ValueError, ...) when it does not
    encode one."""
    resolved = _decoder(ResolvedFleet)(data)
    if not isinstance(resolved, ResolvedFleet):
        raise TypeError("not a resolved fleet")
    return resolved


def encode_diagnostics(items: Sequence[Diagnostic]) -> Any:
    return [_encoder(Diagnostic)(d) for d in items]


def decode_diagnostics(data: Any) -> list[Diagnostic]:
    if type(data) is not list:
        raise TypeError("expected a list of diagnostics")
    return [_decoder(Diagnostic)(d) for d in data]


@contextlib.contextmanager
def quiet_collector(freeze: bool) -> Iterator[None]:
    """No cyclic garbage collection while a large fleet is parsed and decoded.

    Tens of thousands of objects are made and none is garbage: the collector would walk them
    again and again while they are made, for nothing. With `freeze` they are then moved out
    of its sight for good (`gc.freeze`; reference counting still frees them), so the query
    that follows does not walk them either: for a command's one large fleet, as `load` does.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if collecting:
            gc.enable()


def _identity(value: Any) -> Any:
    return value


def _scalar(kind: type) -> Codec:
    def check(value: Any) -> Any:
        # bool is an int in Python but not in the model: keep the two apart both ways
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return check


def _hints(cls: type) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _parts(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    origin = typing.get_origin(tp)
    if origin is types.UnionType:
        origin = typing.Union
    return origin, typing.get_args(tp)


@cache
def _encoder(tp: Any) -> Codec:
    if tp in (str, int, bool):
        return _identity
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return lambda value: value.value
    if dataclasses.is_dataclass(tp):
        fields = [(name, _encoder(hint)) for name, hint in _hints(tp)]  # type: ignore[arg-type]
        return lambda value: [enc(getattr(value, name)) for name, enc in fields]
    origin, args = _parts(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _encoder(args[0])
            return lambda value: [item(v) for v in value]
        items = [_encoder(a) for a in args]
        return lambda value: [enc(v) for enc, v in zip(items, value, strict=True)]
    if origin is typing.Union:
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            inner = _encoder(options[0])
            return lambda value: None if value is None else inner(value)
        tagged = {a: (a.__name__, _encoder(a)) for a in options}
        if type(None) in args:
            raise TypeError(f"cannot encode {tp}")

        def union(value: Any) -> Any:
            name, enc = tagged[type(value)]
            return [name, enc(value)]

        return union
    raise TypeError(f"cannot encode {tp}")


@cache
def _decoder(tp: Any) -> Codec:
    if tp in (str, int, bool):
        return _scalar(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        kind: Any = tp
        return lambda value: kind(value)
    if dataclasses.is_dataclass(tp):
        cls: Any = tp
        hints = _hints(cls)
        names = [name for name, _ in hints]
        count = len(hints)
        # Scalar fields are checked inline and the rest decoded by index: a call per field
        # would be most of the time spent on a large fleet.
        plain = [(i, hint) for i, (_, hint) in enumerate(hints) if hint in (str, int, bool)]
        nested = [
            (i, _decoder(hint)) for i, (_, hint) in enumerate(hints) if hint not in (str, int, bool)
        ]
        new = object.__new__

        def instance(value: Any) -> Any:
            if type(value) is not list or len(value) != count:
                raise TypeError(f"expected the {count} fields of {cls.__name__}")
            for i, kind in plain:
                if type(value[i]) is not kind:
                    raise TypeError(f"{cls.__name__}.{names[i]}: expected {kind.__name__}")
            fields = value[:]
            for i, dec in nested:
                fields[i] = dec(fields[i])
            # What the frozen dataclass's __init__ does, without a setattr call per field
            # (none of these classes has a __post_init__; the round-trip test holds to it).
            obj = new(cls)
            obj.__dict__.update(zip(names, fields, strict=True))
            return obj

        return instance
    origin, args = _parts(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] in (str, int):
                kind = args[0]

                def scalars(value: Any) -> Any:  # the common case, in one pass at C speed
                    if type(value) is not list or not all(type(v) is kind for v in value):
                        raise TypeError(f"expected a list of {kind.__name__}")
                    return tuple(value)

                return scalars
            item = _decoder(args[0])

            def many(value: Any) -> Any:
                if type(value) is not list:
                    raise TypeError("expected a list")
                return tuple([item(v) for v in value])

            return many
        if all(a in (str, int) for a in args):
            kinds = args

            def pair(value: Any) -> Any:  # label pairs, versions
                if type(value) is not list or len(value) != len(kinds):
                    raise TypeError(f"expected a list of {len(kinds)}")
                for kind, v in zip(kinds, value, strict=True):
                    if type(v) is not kind:
                        raise TypeError(f"expected {kind.__name__}")
                return tuple(value)

            return pair
        items = [_decoder(a) for a in args]

        def fixed(value: Any) -> Any:
            if type(value) is not list or len(value) != len(items):
                raise TypeError(f"expected a list of {len(items)}")
            return tuple([dec(v) for dec, v in zip(items, value, strict=True)])

        return fixed
    if origin is typing.Union:
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            inner = _decoder(options[0])
            return lambda value: None if value is None else inner(value)
        tagged = {a.__name__: _decoder(a) for a in options}

        def union(value: Any) -> Any:
            if type(value) is not list or len(value) != 2 or value[0] not in tagged:
                raise TypeError(f"expected one of {sorted(tagged)}")
            return tagged[value[0]](value[1])

        return union
    raise TypeError(f"cannot decode {tp}")
