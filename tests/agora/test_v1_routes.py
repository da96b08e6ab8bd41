"""The versioned Agora API: POST /v1/agora/rtc-token, rtm-token and chat-token."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from service.agora import accesstoken006, accesstoken2
from service.agora.accesstoken2 import ServiceType
from tests.helpers import (
    APP_ID,
    CERTIFICATE,
    NOW,
    Client,
    MakeClient,
    Oracle,
    agora_settings,
    make_settings,
    preflight,
)

RTC = "/v1/agora/rtc-token"
RTM = "/v1/agora/rtm-token"
CHAT = "/v1/agora/chat-token"


async def _post(client: Client, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(path, data=json.dumps(body))
    return response.status, await response.json()


def _parsed(token: str) -> accesstoken2.ParsedToken2:
    parsed = accesstoken2.parse_token(token)
    assert parsed.verify_signature(CERTIFICATE)
    return parsed


async def test_rtc_token_answers_what_it_grants_and_when_to_renew(client: Client) -> None:
    status, body = await _post(
        client, RTC, {"channel": "demo", "uid": 42, "role": "publisher", "expire": 600}
    )
    assert status == 200
    assert body["version"] == "007"
    assert body["app_id"] == APP_ID
    assert body["grants"] == {
        "rtc": {
            "channel": "demo",
            "uid": 42,
            "role": "publisher",
            "privileges": {
                "join_channel": NOW + 600,
                "publish_audio_stream": NOW + 600,
                "publish_video_stream": NOW + 600,
                "publish_data_stream": NOW + 600,
            },
        }
    }
    assert body["issued_at"] == NOW
    assert body["expires_at"] == NOW + 600
    assert body["privileges_expire_at"] == NOW + 600
    assert body["renew_at"] == NOW + 600 - 30
    assert body["expires_in"] == 600
    parsed = _parsed(body["token"])
    assert (parsed.issue_ts, parsed.expire) == (NOW, 600)


async def test_rtc_token_defaults_to_the_configured_expiry(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_expire=40)))
    _, body = await _post(client, RTC, {"channel": "demo", "uid": 1, "role": "subscriber"})
    assert _parsed(body["token"]).expire == 40
    assert body["renew_at"] == NOW + 10


async def test_rtc_token_for_a_user_account(client: Client) -> None:
    _, body = await _post(
        client, RTC, {"channel": "demo", "user_account": "alice", "role": "subscriber"}
    )
    (service,) = _parsed(body["token"]).services
    assert service.uid == "alice"
    assert sorted(service.privileges) == [1]
    assert body["grants"]["rtc"]["user_account"] == "alice"


async def test_account_zero_is_signed_as_zero_not_the_wildcard(client: Client) -> None:
    _, body = await _post(
        client, RTC, {"channel": "demo", "user_account": "0", "role": "subscriber"}
    )
    assert _parsed(body["token"]).services[0].uid == "0"


async def test_shorter_privilege_expiry_is_signed_as_asked(client: Client) -> None:
    _, body = await _post(
        client,
        RTC,
        {"channel": "demo", "uid": 1, "role": "publisher", "expire": 600, "privilege_expire": 300},
    )
    parsed = _parsed(body["token"])
    assert parsed.expire == 600
    assert set(parsed.services[0].privileges.values()) == {300}
    assert body["renew_at"] == NOW + 270


async def test_each_privilege_may_expire_on_its_own(client: Client) -> None:
    request = {
        "channel": "demo",
        "uid": 1,
        "role": "publisher",
        "expire": 600,
        "privilege_expire": {"join_channel": 600, "publish_audio_stream": 120},
    }
    _, body = await _post(client, RTC, request)
    assert dict(_parsed(body["token"]).services[0].privileges) == {1: 600, 2: 120, 3: 600, 4: 600}
    assert body["grants"]["rtc"]["privileges"]["publish_audio_stream"] == NOW + 120
    # The SDK warns as the first privilege nears its end.
    assert (body["privileges_expire_at"], body["renew_at"]) == (NOW + 120, NOW + 90)


async def test_rtc_with_rtm_adds_rtm_login_for_the_same_user(client: Client) -> None:
    _, body = await _post(
        client, RTC, {"channel": "demo", "uid": 42, "role": "publisher", "with_rtm": True}
    )
    rtc, rtm = _parsed(body["token"]).services
    assert (rtc.type, rtm.type) == (ServiceType.RTC, ServiceType.RTM)
    assert rtm.user_id == "42"
    assert body["grants"]["rtm"] == {"user_id": "42", "privileges": {"login": NOW + 3600}}


async def test_wildcard_channel_when_configured(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(allow_wildcard_channel=True)))
    status, body = await _post(client, RTC, {"channel": "*", "uid": 0, "role": "subscriber"})
    assert status == 200
    assert _parsed(body["token"]).services[0].channel == "*"


async def test_legacy_006_rtc_token_when_configured(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_version="006")))
    _, body = await _post(
        client, RTC, {"channel": "demo", "uid": 42, "role": "publisher", "expire": 600}
    )
    assert body["version"] == "006"
    parsed = accesstoken006.parse_token(body["token"])
    assert parsed.verify_signature(CERTIFICATE, channel="demo", uid="42")
    assert set(parsed.privileges.values()) == {NOW + 600}
    assert body["expires_at"] == NOW + 600


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"uid": 1, "role": "publisher"}, "channel", "required"),
        ({"channel": 5, "uid": 1, "role": "publisher"}, "channel", "must be a string"),
        ({"channel": "a" * 64, "uid": 1, "role": "publisher"}, "channel", "63 bytes"),
        (
            {"channel": "*", "uid": 1, "role": "publisher"},
            "channel",
            "AGORA_ALLOW_WILDCARD_CHANNEL",
        ),
        ({"channel": "demo", "role": "publisher"}, "uid", "exactly one"),
        (
            {"channel": "demo", "uid": 1, "user_account": "a", "role": "publisher"},
            "uid",
            "exactly one",
        ),
        ({"channel": "demo", "uid": "1", "role": "publisher"}, "uid", "must be an integer"),
        ({"channel": "demo", "uid": 1.0, "role": "publisher"}, "uid", "must be an integer"),
        ({"channel": "demo", "uid": True, "role": "publisher"}, "uid", "must be an integer"),
        ({"channel": "demo", "uid": 4294967296, "role": "publisher"}, "uid", "4294967295"),
        ({"channel": "demo", "uid": -1, "role": "publisher"}, "uid", "4294967295"),
        ({"channel": "demo", "user_account": "", "role": "publisher"}, "user_account", "empty"),
        (
            {"channel": "demo", "user_account": "a" * 256, "role": "publisher"},
            "user_account",
            "255 bytes",
        ),
        ({"channel": "demo", "uid": 1}, "role", "required"),
        ({"channel": "demo", "uid": 1, "role": "admin"}, "role", "publisher"),
        ({"channel": "demo", "uid": 1, "role": 1}, "role", "must be a string"),
        (
            {"channel": "demo", "uid": 1, "role": "publisher", "expire": 30},
            "expire",
            "no time to renew",
        ),
        (
            {"channel": "demo", "uid": 1, "role": "publisher", "expire": 86401},
            "expire",
            "at most 86400",
        ),
        (
            {"channel": "demo", "uid": 1, "role": "publisher", "expire": "600"},
            "expire",
            "must be an integer",
        ),
        (
            {
                "channel": "demo",
                "uid": 1,
                "role": "publisher",
                "expire": 600,
                "privilege_expire": 601,
            },
            "privilege_expire",
            "must not exceed",
        ),
        (
            {"channel": "demo", "uid": 1, "role": "publisher", "privilege_expire": 0},
            "privilege_expire",
            "no time to renew",
        ),
        (
            {"channel": "demo", "uid": 1, "role": "publisher", "privilege_expire": "60"},
            "privilege_expire",
            "an integer or an object",
        ),
        (
            {
                "channel": "demo",
                "uid": 1,
                "role": "subscriber",
                "privilege_expire": {"publish_audio_stream": 60},
            },
            "privilege_expire",
            "not a privilege of a subscriber",
        ),
        (
            {"channel": "demo", "uid": 1, "role": "publisher", "privilege_expire": {"kick": 60}},
            "privilege_expire",
            "not a privilege of a publisher",
        ),
        (
            {
                "channel": "demo",
                "uid": 1,
                "role": "publisher",
                "expire": 600,
                "privilege_expire": {"join_channel": 601},
            },
            "privilege_expire.join_channel",
            "must not exceed",
        ),
        (
            {
                "channel": "demo",
                "uid": 1,
                "role": "publisher",
                "privilege_expire": {"join_channel": "60"},
            },
            "privilege_expire.join_channel",
            "must be an integer",
        ),
        (
            {"channel": "demo", "uid": 1, "role": "publisher", "with_rtm": "yes"},
            "with_rtm",
            "true or false",
        ),
        (
            {"channel": "demo", "uid": 0, "role": "publisher", "with_rtm": True},
            "with_rtm",
            "non-zero uid",
        ),
        ({"channel": "demo", "uid": 1, "role": "publisher", "ttl": 60}, "ttl", "unknown field"),
    ],
)
async def test_rtc_token_bad_input_is_400_naming_the_field(
    client: Client,
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    status, answer = await _post(client, RTC, body)
    assert status == 400
    assert answer["error"] == "invalid_field"
    assert answer["field"] == field
    assert words in answer["message"]
    assert answer["request_id"]


async def test_rtc_with_rtm_needs_007(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_version="006")))
    status, answer = await _post(
        client, RTC, {"channel": "demo", "uid": 1, "role": "publisher", "with_rtm": True}
    )
    assert status == 400
    assert "AGORA_TOKEN_VERSION=007" in answer["message"]


async def test_rtm_token_grants_login_to_the_user(client: Client) -> None:
    status, body = await _post(client, RTM, {"user_id": "alice", "expire": 120})
    assert status == 200
    (service,) = _parsed(body["token"]).services
    assert (service.type, service.user_id, dict(service.privileges)) == (
        ServiceType.RTM,
        "alice",
        {1: 120},
    )
    assert body["grants"] == {"rtm": {"user_id": "alice", "privileges": {"login": NOW + 120}}}
    assert body["renew_at"] == NOW + 90


async def test_legacy_006_rtm_token_when_configured(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_version="006")))
    _, body = await _post(client, RTM, {"user_id": "alice", "expire": 120})
    parsed = accesstoken006.parse_token(body["token"])
    assert parsed.verify_signature(CERTIFICATE, channel="alice", uid="")
    assert dict(parsed.privileges) == {1000: NOW + 120}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "u" * 65}, "user_id"),
        ({"user_id": 5}, "user_id"),
        ({"user_id": "a", "expire": 10}, "expire"),
    ],
)
async def test_rtm_token_bad_input_is_400(client: Client, body: dict[str, Any], field: str) -> None:
    status, answer = await _post(client, RTM, body)
    assert (status, answer["field"]) == (400, field)


async def test_chat_user_token(client: Client) -> None:
    status, body = await _post(client, CHAT, {"kind": "user", "user_id": "alice"})
    assert status == 200
    (service,) = _parsed(body["token"]).services
    assert (service.type, service.user_id, sorted(service.privileges)) == (
        ServiceType.CHAT,
        "alice",
        [1],
    )


async def test_chat_app_tokens_are_refused_unless_enabled(client: Client) -> None:
    status, answer = await _post(client, CHAT, {"kind": "app"})
    assert status == 403
    assert "AGORA_ALLOW_CHAT_APP_TOKENS" in answer["message"]


async def test_chat_app_token_when_enabled(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(allow_chat_app_tokens=True)))
    _, body = await _post(client, CHAT, {"kind": "app"})
    (service,) = _parsed(body["token"]).services
    assert (service.user_id, sorted(service.privileges)) == ("", [2])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "kind"),
        ({"kind": "admin"}, "kind"),
        ({"kind": "user"}, "user_id"),
        ({"kind": "app", "user_id": "a"}, "user_id"),
    ],
)
async def test_chat_token_bad_input_is_400(
    client: Client, body: dict[str, Any], field: str
) -> None:
    status, answer = await _post(client, CHAT, body)
    assert (status, answer["field"]) == (400, field)


@pytest.mark.parametrize("path", [RTC, RTM, CHAT])
async def test_browser_preflight_succeeds_on_every_route(client: Client, path: str) -> None:
    response = await preflight(client, path, "http://localhost:5173")
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


async def test_preflight_from_an_origin_not_allowed_is_a_json_403(make_client: MakeClient) -> None:
    client = await make_client(make_settings(cors_allow_origins=("https://app.example.com",)))
    response = await client.options(
        RTC, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert response.status == 403
    assert "not allowed" in (await response.json())["message"]


async def test_actual_request_from_an_allowed_origin_gets_cors_headers(client: Client) -> None:
    response = await client.post(
        RTM, json={"user_id": "a"}, headers={"Origin": "http://localhost:5173"}
    )
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]


async def test_the_official_parser_accepts_every_routes_tokens(
    make_client: MakeClient, oracle: Oracle
) -> None:
    client = await make_client(make_settings(agora=agora_settings(allow_chat_app_tokens=True)))
    requests = [
        (RTC, {"channel": "demo", "uid": 42, "role": "publisher"}),
        (RTC, {"channel": "demo", "user_account": "bob", "role": "subscriber", "with_rtm": True}),
        (RTM, {"user_id": "alice"}),
        (CHAT, {"kind": "user", "user_id": "alice"}),
        (CHAT, {"kind": "app"}),
    ]
    tokens = [(await _post(client, path, body))[1]["token"] for path, body in requests]
    for verdict in oracle.parse(tokens):
        assert verdict["parsed"] and verdict["signature_valid"], verdict


async def test_concurrent_rtc_requests_each_get_their_own_token(make_client: MakeClient) -> None:
    import time

    from service.agora.salts import random_salt

    client = await make_client(clock=time.time, salt=random_salt)
    roles = ("publisher", "subscriber")
    requests: list[dict[str, Any]] = [
        {"channel": f"room-{i % 5}", "role": roles[i % 2]}
        | ({"uid": 10_000 + i} if i % 3 else {"user_account": f"user-{i}"})
        for i in range(300)
    ]
    answers = await asyncio.gather(*(_post(client, RTC, body) for body in requests))
    for body, (status, answer) in zip(requests, answers, strict=True):
        assert status == 200
        (service,) = _parsed(answer["token"]).services
        assert service.uid == str(body.get("uid", body.get("user_account")))
        assert service.channel == body["channel"]
        assert len(service.privileges) == (4 if body["role"] == "publisher" else 1)


@pytest.mark.parametrize(("path", "kind"), [(RTM, "rtm"), (CHAT, "chat")])
async def test_concurrent_user_token_requests_each_get_their_own_user(
    client: Client, path: str, kind: str
) -> None:
    def body(i: int) -> dict[str, Any]:
        return {"user_id": f"user-{i}"} | ({"kind": "user"} if kind == "chat" else {})

    answers = await asyncio.gather(*(_post(client, path, body(i)) for i in range(200)))
    for i, (status, answer) in enumerate(answers):
        assert status == 200
        assert _parsed(answer["token"]).services[0].user_id == f"user-{i}"
