"""Reading a JSON object from a request body, and typed access to its fields.

Strict by design: a body must be one JSON object, with no duplicate keys, no NaN or
Infinity, nothing after it; a field's JSON type must be the documented one (true is not
a number, 1.0 is not an integer). Each failure names the field at fault.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from service.errors import ApiError, ErrorCode

BODY_LIMIT = web.AppKey("body_limit", int)
BODY_TIMEOUT = web.AppKey("body_timeout", float)


# The request headers the service reads. aiohttp decodes header bytes as UTF-8 with
# surrogateescape, so bytes that are not UTF-8 arrive as lone surrogates; they are refused
# here, once, before any route logic reads a header.
READ_HEADERS = (
    "Authorization",
    "X-API-Key",
    "Agora-Signature",
    "Agora-Signature-V2",
    "videosdk-signature",
    "Origin",
    "X-Forwarded-For",
    "Forwarded",
    "X-Request-ID",
    "Content-Type",
)


_READ_HEADERS = frozenset(name.lower() for name in READ_HEADERS)


def check_headers(headers: Mapping[str, str]) -> None:
    """400 malformed_header when a header the service reads is not valid UTF-8."""
    for name, value in headers.items():
        if value.isascii() or name.lower() not in _READ_HEADERS:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                400, ErrorCode.MALFORMED_HEADER, f"{name}: is not valid UTF-8", field=name
            ) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ApiError(400, ErrorCode.MALFORMED_JSON, f"duplicate key {key!r} in JSON object")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ApiError(400, ErrorCode.MALFORMED_JSON, f"{name} is not valid JSON")


INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what every JSON encoder here can write back
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _bounded_int(text: str) -> int:
    # Digit strings only reach here; very long ones are refused before int() parses them.
    if len(text) > 21 or not INT_MIN <= (value := int(text)) <= INT_MAX:
        raise ApiError(400, ErrorCode.MALFORMED_JSON, "a number in the body is beyond 64 bits")
    return value


# Built once: json.loads with hooks builds a new decoder on every call.
_STRICT = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constants, parse_int=_bounded_int
)
# For bodies a platform signed: taken as they come (huge numbers, lone surrogates), since
# refusing one would only make the platform deliver it again and again.
_LENIENT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def _has_surrogate(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _parse_strict(raw: bytes, *, signed: bool) -> Any:
    try:
        # What json.loads does with bytes: UTF-8, -16 or -32, as the first bytes say.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass" if signed else "strict")
        value = (_LENIENT if signed else _STRICT).decode(text)
    except (ValueError, RecursionError):
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError is
        # deep nesting. Neither message is useful to a client.
        raise ApiError(400, ErrorCode.MALFORMED_JSON, "request body is not valid JSON") from None
    if not signed and "\\u" in text and _has_surrogate(value):
        raise ApiError(
            400, ErrorCode.MALFORMED_JSON, "request body holds a lone surrogate (\\ud800)"
        )
    return value


def parse_json(raw: bytes, *, signed: bool = False) -> Any:
    """One JSON value, strictly: no duplicate keys, no NaN or Infinity; for a client's
    body also valid UTF-8 text without lone surrogates, and integers within 64 bits.
    `signed`: a body a platform signed, whose text and numbers are taken as they come.

    The standard library's decoder, built once, with a duplicate-key hook. (An orjson
    fast path, taken when a count of colons showed no repeated key was dropped, saved
    about 9k instructions per body: 1.3 % of POST /v1/agora/rtc-token, 1.7 % of POST
    /token, under the 5 % a workaround must be worth.)
    """
    return _parse_strict(raw, signed=signed)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, ErrorCode.BODY_TOO_LARGE, f"request body must be at most {limit} bytes")


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The raw body, bounded in size (by default MAX_BODY_BYTES) and in the time a client
    may take to send it."""
    limit = request.app[BODY_LIMIT] if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        if request.content.is_eof():
            # Already received in full (most small bodies arrive with their headers):
            # nothing to wait for, so neither a timer nor a coroutine.
            body = request.content.read_nowait()
        else:
            # asyncio.timeout, not wait_for: no extra task per request.
            async with asyncio.timeout(request.app[BODY_TIMEOUT]):
                body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit) from None
    except TimeoutError:
        raise ApiError(
            408, ErrorCode.BODY_TIMEOUT, "request body was not received in time"
        ) from None
    # The application accepts the largest limit of any route; this route's may be smaller.
    if len(body) > limit:
        raise _too_large(limit)
    return body


async def read_json_object(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    raw = await read_body(request)
    if allow_empty and not raw.strip():
        return {}
    if not raw.strip():
        raise ApiError(
            400, ErrorCode.MALFORMED_JSON, "request body must be a JSON object, got nothing"
        )
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise ApiError(
            400,
            ErrorCode.MALFORMED_JSON,
            f"request body must be a JSON object, got {json_type(value)}",
        )
    return value


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def object_field(value: Any, name: str) -> dict[str, Any]:
    """value[name] when value is an object and that member is one too; else {}. For
    reading optional nested parts of platform events, which we take as they come."""
    member = value.get(name) if isinstance(value, dict) else None
    return member if isinstance(member, dict) else {}


class Fields:
    """Typed, named access to a request object's fields."""

    def __init__(self, body: dict[str, Any], allowed: Iterable[str]) -> None:
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise ApiError.invalid_field(
                unknown[0], f"unknown field (expected one of: {', '.join(sorted(allowed))})"
            )
        self._body = body

    def _get(self, name: str, required: bool) -> Any:
        value = self._body.get(name)
        if value is None and required:
            raise ApiError.invalid_field(name, "is required")
        return value

    def value(self, name: str) -> Any:
        """The raw JSON value, for fields whose type the caller checks."""
        return self._body.get(name)

    def integer_or_object(self, name: str) -> int | dict[str, Any] | None:
        value = self._get(name, False)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, dict))):
            raise ApiError.invalid_field(
                name, f"must be an integer or an object, got {json_type(value)}"
            )
        return value

    def string(self, name: str, *, required: bool = True) -> str | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise ApiError.invalid_field(name, f"must be a string, got {json_type(value)}")
        return value

    def integer(self, name: str, *, required: bool = True) -> int | None:
        value = self._get(name, required)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ApiError.invalid_field(name, f"must be an integer, got {json_type(value)}")
        return value

    def boolean(self, name: str, *, required: bool = True) -> bool | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, bool):
            raise ApiError.invalid_field(name, f"must be true or false, got {json_type(value)}")
        return value
