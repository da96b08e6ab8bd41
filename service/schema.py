"""JSON Schema from Python types: the OpenAPI document describes bodies and answers with
the same TypedDicts the handlers build, so the two cannot drift apart."""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

Schema = dict[str, Any]
_SCALARS: dict[Any, str] = {str: "string", int: "integer", bool: "boolean", float: "number"}


def _merge_types(options: list[Schema]) -> Schema:
    """`A | B` of plain types as one {"type": [...]}; anything richer as anyOf."""
    if all(set(option) == {"type"} for option in options):
        names: list[str] = []
        for option in options:
            kind = option["type"]
            names.extend(kind if isinstance(kind, list) else [kind])
        return {"type": list(dict.fromkeys(names))}
    return {"anyOf": options}


def schema_of(kind: Any) -> Schema:
    """The JSON Schema of a TypedDict, a scalar, a list, a dict, a Literal or a union."""
    if is_typeddict(kind):
        hints = get_type_hints(kind)
        schema: Schema = {
            "type": "object",
            "properties": {name: schema_of(hint) for name, hint in hints.items()},
        }
        required = [name for name in hints if name in kind.__required_keys__]
        if required:
            schema["required"] = required
        return schema
    if kind in _SCALARS:
        return {"type": _SCALARS[kind]}
    if kind is type(None):
        return {"type": "null"}
    if kind is Any:
        return {}
    origin = get_origin(kind)
    if origin is Literal:
        return {"type": "string", "enum": list(get_args(kind))}
    if origin in (Union, types.UnionType):
        return _merge_types([schema_of(option) for option in get_args(kind)])
    if origin is list:
        (item,) = get_args(kind)
        return {"type": "array", "items": schema_of(item)}
    if origin is dict or kind is dict:
        return {"type": "object"}
    raise TypeError(f"no JSON Schema for {kind!r}")
