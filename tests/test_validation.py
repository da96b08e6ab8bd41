"""Strict JSON bodies: parse_json must answer exactly as the
standard library's strict decoder would (same value, same types, or a 400)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from service.errors import ApiError
from service.validation import _no_constants, _no_duplicates, parse_json


def _out_of_contract(value: Any) -> bool:
    """A client's body holds only text that is valid Unicode and integers within 64 bits."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not -(2**63) <= item <= 2**64 - 1:
            return True
        if isinstance(item, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in item):
            return True
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def strict_reference(raw: bytes) -> str:
    """The standard library's answer, before any fast path: repr keeps 1, 1.0 and True
    apart, and keeps key order. Text must decode strictly."""
    try:
        text = raw.decode(json.detect_encoding(raw))
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ApiError, ValueError, RecursionError):
        return "error"
    return "error" if _out_of_contract(value) else repr(value)


def answer(raw: bytes) -> str:
    try:
        value = parse_json(raw)
    except ApiError as error:
        assert (error.status, error.code) == (400, "malformed_json")
        return "error"
    return repr(value)


TRICKY = [
    b'{"uid": 1234, "channelName": "demo", "role": 1}',
    b'{"a": 1, "a": 2}',
    b'{"a": {"b": 1, "b": 1}}',
    b'[{"x": 1}, {"x": 1, "x": 1}]',
    # A repeated key hidden by an escaped colon elsewhere: the count alone would match.
    b'{"x": 1, "x": 2, "\\u003a": 3}',
    b'{"a:": 1, "a\\u003a": 2}',
    b'{"t": "12:30", "u": "a:b:c"}',
    b'{"t": "12:30", "t": "a"}',
    b'{"": 1, "": 2}',
    b'{"big": 123456789012345678901234567890}',
    b'{"neg": -0, "negf": -0.0, "e": 1E5, "f": 1.5e-7}',
    b'{"huge": 1e400}',
    b'{"nan": NaN}',
    b'{"inf": -Infinity}',
    b'{"tab": "a\tb"}',
    b'{"nl": "a\nb"}',
    b'{"ctl": "\x01"}',
    b'{"esc": "a\\nb", "u": "\\u00e9", "q": "\\""}',
    b'{"lone": "\\ud800"}',
    b'{"utf8": "caf\xc3\xa9 \xf0\x9f\x98\x80"}',
    b'{"bad": "\xff"}',
    b'{"overlong": "\xc0\xaf"}',
    b'{"surrogate": "\xed\xa0\x80"}',
    b"\xef\xbb\xbf{}",
    '{"utf16": 1}'.encode("utf-16"),
    '{"utf32": 1}'.encode("utf-32"),
    b"[" * 600 + b"]" * 600,
    b"[" * 2000 + b"]" * 2000,
    b'{"a": [1, 2, {"b": "c:d"}], "e": null, "f": true, "g": false}',
    b'{"a": 1,}',
    b"[1, 2,]",
    b"01",
    b'{"a" : 1 , "b" :2}',
    b' \r\n\t{"a": 1} \r\n\t',
    b'{"a": 1}\x00',
    b'{"a": 1} x',
    b"\x0c{}",
    b'"just a string"',
    b"true",
    b"-",
    b"1.",
    b".5",
    b'{"a": 1.0, "b": 1, "c": true}',
]


@pytest.mark.parametrize("raw", TRICKY)
def test_answers_as_the_strict_standard_decoder_does(raw: bytes) -> None:
    assert answer(raw) == strict_reference(raw)


def test_a_repeated_key_is_refused_with_its_name() -> None:
    with pytest.raises(ApiError, match="duplicate key 'channel'"):
        parse_json(b'{"channel": "a", "channel": "b"}')


def test_a_repeated_key_in_a_nested_object_is_refused() -> None:
    with pytest.raises(ApiError, match="duplicate key 'b'"):
        parse_json(b'{"a": [{"b": 1, "c": {"b": 2}, "b": 3}]}')


_PIECES = [
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b'"',
    b"\\",
    b'"k"',
    b'"k":',
    b'"a:b"',
    b"1",
    b"-0",
    b"2.5e3",
    b"1e400",
    b"123456789012345678901234567890",
    b"true",
    b"null",
    b"NaN",
    b" ",
    b"\t",
    b"\x01",
    b"\xc3\xa9",
    b"\xff",
    b"\\u003a",
    b"\\n",
]


def _mutations(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    bases = [raw for raw in TRICKY if len(raw) < 200]
    cases = []
    for _ in range(count):
        raw = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(raw))
            if rng.random() < 0.3 and len(raw) > 1:
                del raw[at : at + rng.randint(1, 3)]
            else:
                raw[at:at] = rng.choice(_PIECES)
        cases.append(bytes(raw))
    return cases


def _documents(seed: int, count: int) -> list[bytes]:
    """Valid JSON objects with keys drawn from a few names, so that some repeat."""
    rng = random.Random(seed)

    def value(depth: int) -> Any:
        kind = rng.randint(0, 6 if depth < 3 else 3)
        if kind == 0:
            return rng.choice([0, -1, 7, 2**40])
        if kind == 1:
            return rng.choice(["", "x", "a:b", ":", "é:"])
        if kind == 2:
            return rng.choice([True, False, None, 1.5])
        if kind == 3:
            return rng.choice(["12:30", "t"])
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return members(depth + 1)

    def members(depth: int) -> str:
        pairs = [
            f"{json.dumps(rng.choice(['a', 'b', 'a:b', ':']))}: {json.dumps(value(depth))}"
            for _ in range(rng.randint(0, 4))
        ]
        return "{" + ", ".join(pairs) + "}"

    return [members(0).encode() for _ in range(count)]


@pytest.mark.parametrize("seed", range(4))
def test_mutated_bodies_get_the_strict_decoders_answer(seed: int) -> None:
    for raw in _mutations(seed, 2000):
        assert answer(raw) == strict_reference(raw), raw


@pytest.mark.parametrize("seed", range(4))
def test_generated_objects_with_repeats_get_the_strict_decoders_answer(seed: int) -> None:
    documents = _documents(seed, 2000)
    assert any(strict_reference(raw) == "error" for raw in documents)  # some keys repeat
    for raw in documents:
        assert answer(raw) == strict_reference(raw), raw
