"""POST /fetch_rtc_token: a drop-in for Agora's Go token-server sample and its clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from service.agora import accesstoken006, accesstoken2
from service.agora.settings import AgoraSettings
from tests.helpers import (
    CERTIFICATE,
    Client,
    MakeClient,
    Oracle,
    agora_settings,
    make_settings,
    preflight,
)

SAMPLE_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "*",
}


async def _post(client: Client, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = await client.post("/fetch_rtc_token", data=data)
    return response.status, await response.json()


def _rtc(token: str) -> accesstoken2.Service:
    parsed = accesstoken2.parse_token(token)
    assert parsed.verify_signature(CERTIFICATE)
    (service,) = parsed.services
    return service


async def test_web_client_request_gets_a_token_in_the_samples_shape(client: Client) -> None:
    response = await client.post(
        "/fetch_rtc_token", json={"uid": 1234, "channelName": "demo", "role": 1}
    )
    assert response.status == 200
    body = await response.json()
    assert list(body) == ["code", "token"]
    assert body["code"] == "200"
    service = _rtc(body["token"])
    assert (service.channel, service.uid) == ("demo", "1234")
    for name, value in SAMPLE_CORS.items():
        assert response.headers[name] == value


@pytest.mark.parametrize("key", ["ChannelName", "channelname", "CHANNELNAME"])
async def test_field_names_match_case_insensitively_as_gos_decoder_does(
    client: Client, key: str
) -> None:
    status, body = await _post(client, {"UID": 7, key: "demo", "Role": 2})
    assert status == 200
    assert _rtc(body["token"]).uid == "7"


async def test_publisher_gets_join_and_publish_privileges(client: Client) -> None:
    _, body = await _post(client, {"uid": 1, "channelName": "demo", "role": 1})
    assert sorted(_rtc(body["token"]).privileges) == [1, 2, 3, 4]


async def test_subscriber_gets_join_only(client: Client) -> None:
    _, body = await _post(client, {"uid": 1, "channelName": "demo", "role": 2})
    assert sorted(_rtc(body["token"]).privileges) == [1]


@pytest.mark.parametrize("role", [0, 101])
async def test_deprecated_roles_0_and_101_mean_publisher(client: Client, role: int) -> None:
    _, body = await _post(client, {"uid": 1, "channelName": "demo", "role": role})
    assert sorted(_rtc(body["token"]).privileges) == [1, 2, 3, 4]


async def test_uid_zero_gives_an_any_uid_token(client: Client) -> None:
    _, body = await _post(client, {"uid": 0, "channelName": "demo", "role": 2})
    assert _rtc(body["token"]).uid == ""


async def test_token_and_privileges_use_the_configured_short_expiry(
    make_client: MakeClient,
) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_expire=40)))
    _, body = await _post(client, {"uid": 1, "channelName": "demo", "role": 1})
    parsed = accesstoken2.parse_token(body["token"])
    assert parsed.expire == 40
    assert set(parsed.services[0].privileges.values()) == {40}


async def test_legacy_006_tokens_when_configured(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_version="006")))
    _, body = await _post(client, {"uid": 1234, "channelName": "demo", "role": 1})
    parsed = accesstoken006.parse_token(body["token"])
    assert parsed.verify_signature(CERTIFICATE, channel="demo", uid="1234")


async def test_unknown_fields_are_ignored_as_the_sample_does(client: Client) -> None:
    status, _ = await _post(client, {"uid": 1, "channelName": "demo", "role": 1, "extra": True})
    assert status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uid": "1234", "channelName": "demo", "role": 1}, "uid"),
        ({"uid": -1, "channelName": "demo", "role": 1}, "uid"),
        ({"uid": 1.5, "channelName": "demo", "role": 1}, "uid"),
        ({"uid": True, "channelName": "demo", "role": 1}, "uid"),
        ({"uid": 4294967296, "channelName": "demo", "role": 1}, "uid"),
        ({"channelName": "demo", "role": 1}, "uid"),
        ({"uid": 1, "channelName": 5, "role": 1}, "channelName"),
        ({"uid": 1, "role": 1}, "channelName"),
        ({"uid": 1, "channelName": "", "role": 1}, "channel"),
        ({"uid": 1, "channelName": "a/b", "role": 1}, "channel"),
        ({"uid": 1, "channelName": "*", "role": 1}, "channel"),
        ({"uid": 1, "channelName": "demo", "role": "1"}, "role"),
        ({"uid": 1, "channelName": "demo"}, "role"),
        ({"uid": 1, "channelName": "demo", "role": 3}, "role"),
        ({"uid": 1, "channelName": "demo", "ChannelName": "other", "role": 1}, "channelName"),
    ],
)
async def test_bad_fields_are_400_in_the_samples_shape_naming_the_field(
    client: Client,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post("/fetch_rtc_token", data=json.dumps(body))
    assert response.status == 400
    answer = await response.json()
    assert answer["code"] == "400"
    assert answer["token"].startswith(field)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "raw", ["", "{}", "null", "[]", "[1,2]", "not json", '{"uid": 1} trailing', '"text"']
)
async def test_empty_null_and_malformed_bodies_are_400_where_the_sample_minted_wildcard_tokens(
    client: Client,
    raw: str,
) -> None:
    status, answer = await _post(client, raw)
    assert status == 400
    assert answer["code"] == "400"
    assert not answer["token"].startswith("007")


async def test_preflight_answers_200_with_the_samples_cors_headers(client: Client) -> None:
    response = await client.options("/fetch_rtc_token")
    assert response.status == 200
    assert await response.read() == b""
    for name, value in SAMPLE_CORS.items():
        assert response.headers[name] == value


async def test_browser_preflight_is_answered_too(client: Client) -> None:
    response = await preflight(client, "/fetch_rtc_token", "http://localhost:3000")
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_restricted_origins_echo_only_an_allowed_origin(make_client: MakeClient) -> None:
    client = await make_client(make_settings(cors_allow_origins=("https://app.example.com",)))
    allowed = await client.options(
        "/fetch_rtc_token", headers={"Origin": "https://app.example.com"}
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = await client.options("/fetch_rtc_token", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_are_405_in_the_samples_shape(client: Client, method: str) -> None:
    response = await client.request(method, "/fetch_rtc_token")
    assert response.status == 405
    assert response.headers["Allow"] == "POST, OPTIONS"
    assert (await response.json())["code"] == "405"


async def test_oversized_body_is_413_in_the_samples_shape(client: Client) -> None:
    status, answer = await _post(
        client, json.dumps({"uid": 1, "channelName": "demo", "role": 1, "pad": "x" * 20000})
    )
    assert status == 413
    assert answer["code"] == "413"


async def test_disabled_agora_is_503_naming_the_variables(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=AgoraSettings()))
    status, answer = await _post(client, {"uid": 1, "channelName": "demo", "role": 1})
    assert status == 503
    assert "AGORA_APP_ID" in answer["token"] and "AGORA_APP_CERTIFICATE" in answer["token"]


async def test_concurrent_requests_each_get_their_own_token(
    make_client: MakeClient, oracle: Oracle
) -> None:
    # Real clock and random salts, as in production; 400 requests in flight at once.
    import time

    from service.agora.salts import random_salt

    client = await make_client(clock=time.time, salt=random_salt)
    requests = [
        {"uid": 1000 + i, "channelName": f"room-{i % 7}", "role": 1 + i % 2} for i in range(400)
    ]
    answers = await asyncio.gather(*(_post(client, body) for body in requests))
    tokens = []
    for body, (status, answer) in zip(requests, answers, strict=True):
        assert status == 200
        service = _rtc(answer["token"])
        assert service.uid == str(body["uid"])
        assert service.channel == body["channelName"]
        assert sorted(service.privileges) == ([1, 2, 3, 4] if body["role"] == 1 else [1])
        tokens.append(answer["token"])
    assert len(set(tokens)) == len(tokens)
    for verdict, body in zip(oracle.parse(tokens), requests, strict=True):
        assert verdict["signature_valid"]
        assert verdict["services"][0]["uid"] == str(body["uid"])
