"""JSON values from outside: their shape bounded, a hashable copy, a short repr for messages.

A document (a tag value, a fetched body, an object passed by a caller) is checked before
anything recurses into it: JSON types only, nested at most MAX_DEPTH deep, MAX_VALUES values
in all, checked without recursion. Messages quote values through `show`, which never raises
and never grows past a line (a 5,000-digit number has no repr in Python 3.11).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

MAX_DEPTH = 10
MAX_VALUES = 5000


class ShapeError(ValueError):
    """A value is not JSON, or too deep, or too large."""


def check_shape(doc: object, *, what: str = "the document") -> None:
    """JSON values only, nested at most MAX_DEPTH deep, MAX_VALUES in all (no recursion)."""
    stack: list[tuple[object, int]] = [(doc, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ShapeError(f"{what} holds more than {MAX_VALUES} values")
        if isinstance(value, Mapping | list):
            if depth > MAX_DEPTH:
                raise ShapeError(f"{what} is nested more than {MAX_DEPTH} deep")
            if isinstance(value, Mapping):
                for key in value:
                    if not isinstance(key, str):
                        raise ShapeError(f"object keys must be strings, got {show(key)}")
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
        elif not (value is None or isinstance(value, str | int | float)):
            raise ShapeError(f"not a JSON value: {type(value).__name__}")


def freeze(doc: object) -> object:
    """A hashable copy of a JSON value (after check_shape), so equal documents share a cache."""
    if isinstance(doc, Mapping):
        return _FrozenObject(tuple((k, freeze(v)) for k, v in doc.items()))
    if isinstance(doc, list):
        return tuple(freeze(v) for v in doc)
    if isinstance(doc, bool | int | float):
        # True == 1 == 1.0 and they hash alike: without the type, a cached parse of
        # {"enforce": true} would answer for {"enforce": 1}, which must be rejected.
        return _Scalar(type(doc), doc)
    return doc


@dataclass(frozen=True)
class _Scalar:
    kind: type
    value: object


@dataclass(frozen=True)
class _FrozenObject:
    items: tuple[tuple[str, object], ...]


def thaw(value: object) -> object:
    if isinstance(value, _Scalar):
        return value.value
    if isinstance(value, _FrozenObject):
        return {k: thaw(v) for k, v in value.items}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def show(value: object, limit: int = 80) -> str:
    """A short repr for messages: never huge, never raising (a 5,000-digit int has no repr)."""
    text = _repr(value, 2)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _repr(value: object, depth: int) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<a number of {value.bit_length()} bits>"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:100]) + ("..." if len(value) > 100 else "")
    if isinstance(value, Mapping | list) and depth == 0:
        return "{...}" if isinstance(value, Mapping) else "[...]"
    if isinstance(value, Mapping):
        pairs = itertools.islice(value.items(), 10)
        return "{" + ", ".join(f"{_repr(k, 0)}: {_repr(v, depth - 1)}" for k, v in pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_repr(v, depth - 1) for v in value[:10]) + "]"
    return f"<{type(value).__name__}>"
