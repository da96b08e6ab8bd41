"""The legacy AccessToken (006) against the public vectors, which were made by Agora's
tests and its official builders (006 involves no compression, so strings must match)."""

from __future__ import annotations

from typing import Any

import pytest

from service.agora import accesstoken006
from service.agora.wire import TokenFormatError
from tests.agora.test_accesstoken2 import VECTORS, _ids

V006 = [v for v in VECTORS if v["version"] == "006" and v.get("inputs")]


def _privileges(inputs: dict[str, Any]) -> dict[int, int]:
    return {int(pid): ts for pid, ts in inputs["privileges"].items()}


def test_vectors_cover_rtc_and_rtm_006() -> None:
    assert len(V006) >= 12


@pytest.mark.parametrize("vector", V006, ids=_ids(V006))
def test_token_equals_the_vector(vector: dict[str, Any]) -> None:
    inputs = vector["inputs"]
    token = accesstoken006.build_token(
        inputs["app_id"],
        inputs["app_certificate"],
        channel=inputs["channel"],
        uid=inputs["uid"],
        salt=inputs["salt"],
        ts=inputs["ts"],
        privileges=_privileges(inputs),
    )
    assert token == vector["expected_token"]


@pytest.mark.parametrize("vector", V006, ids=_ids(V006))
def test_parser_reads_the_vector_and_its_signature_verifies(vector: dict[str, Any]) -> None:
    inputs = vector["inputs"]
    parsed = accesstoken006.parse_token(vector["expected_token"])
    assert parsed.app_id == inputs["app_id"]
    assert (parsed.salt, parsed.ts) == (inputs["salt"], inputs["ts"])
    assert dict(parsed.privileges) == _privileges(inputs)
    assert parsed.matches(inputs["channel"], inputs["uid"])
    assert parsed.verify_signature(
        inputs["app_certificate"], channel=inputs["channel"], uid=inputs["uid"]
    )


def test_signature_fails_for_another_channel_uid_or_certificate() -> None:
    vector = V006[0]
    inputs = vector["inputs"]
    parsed = accesstoken006.parse_token(vector["expected_token"])
    certificate, channel, uid = inputs["app_certificate"], inputs["channel"], inputs["uid"]
    assert not parsed.verify_signature(certificate, channel=channel + "x", uid=uid)
    assert not parsed.verify_signature(certificate, channel=channel, uid=uid + "1")
    assert not parsed.verify_signature("a" * 32, channel=channel, uid=uid)
    assert not parsed.matches(channel + "x", uid)


def test_string_uid_zero_is_signed_as_zero_not_as_the_wildcard() -> None:
    (vector,) = [v for v in V006 if v["id"] == "public-test/006/031-AccessTokenTest"]
    parsed = accesstoken006.parse_token(vector["expected_token"])
    assert parsed.matches(vector["inputs"]["channel"], "0")
    assert not parsed.matches(vector["inputs"]["channel"], "")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "006",
        "006invalid",
        "006970CA35de60c44645bbae8a215061b33",
        "006970CA35de60c44645bbae8a215061b33!!!",
        "007abc",
    ],
)
def test_garbage_is_a_format_error(token: str) -> None:
    with pytest.raises(TokenFormatError):
        accesstoken006.parse_token(token)
