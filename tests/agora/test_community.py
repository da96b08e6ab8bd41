"""Drop-in routes for AgoraIO-Community's agora-token-service (Go) and
Agora-Node-TokenServer: same paths and answers, without their defects."""

from __future__ import annotations

from typing import Any

import pytest

from service.agora import accesstoken006, accesstoken2
from service.agora.accesstoken2 import ServiceType
from service.config import load_settings
from tests.helpers import CERTIFICATE, Client, MakeClient, Oracle, agora_settings, make_settings

NO_CACHE = {
    "Cache-Control": "private, no-cache, no-store, must-revalidate",
    "Expires": "-1",
    "Pragma": "no-cache",
}


async def _get(client: Client, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    response = await client.get(path, **kwargs)
    return response.status, await response.json(), response.headers


def _services(token: str) -> list[accesstoken2.Service]:
    parsed = accesstoken2.parse_token(token)
    assert parsed.verify_signature(CERTIFICATE)
    return list(parsed.services)


async def test_ping_answers_pong_without_caching(client: Client) -> None:
    status, body, headers = await _get(client, "/ping")
    assert (status, body) == (200, {"message": "pong"})
    for name, value in NO_CACHE.items():
        assert headers[name] == value


@pytest.mark.parametrize("slash", ["", "/"])
async def test_rtc_with_a_uid_with_and_without_the_trailing_slash(
    client: Client, slash: str
) -> None:
    status, body, headers = await _get(client, f"/rtc/demo/publisher/uid/42{slash}")
    assert status == 200 and list(body) == ["rtcToken"]
    (rtc,) = _services(body["rtcToken"])
    assert (rtc.channel, rtc.uid, sorted(rtc.privileges)) == ("demo", "42", [1, 2, 3, 4])
    assert headers["Cache-Control"] == NO_CACHE["Cache-Control"]


@pytest.mark.parametrize("role", ["subscriber", "audience"])
async def test_subscribers_and_the_node_servers_audience_join_only(
    client: Client, role: str
) -> None:
    _, body, _ = await _get(client, f"/rtc/demo/{role}/uid/42/")
    assert sorted(_services(body["rtcToken"])[0].privileges) == [1]


async def test_rtc_with_a_user_account_and_an_expiry(client: Client) -> None:
    _, body, _ = await _get(client, "/rtc/demo/publisher/userAccount/alice/?expiry=600")
    parsed = accesstoken2.parse_token(body["rtcToken"])
    assert (parsed.services[0].uid, parsed.expire) == ("alice", 600)


async def test_rtm_for_a_user(client: Client) -> None:
    _, body, _ = await _get(client, "/rtm/alice/")
    (rtm,) = _services(body["rtmToken"])
    assert (rtm.type, rtm.user_id) == (ServiceType.RTM, "alice")


@pytest.mark.parametrize(
    ("path", "rtm_user"),
    [("/rte/demo/publisher/uid/42/", "42"), ("/rte/demo/publisher/uid/42/bob", "bob")],
)
async def test_rte_answers_both_tokens(client: Client, path: str, rtm_user: str) -> None:
    _, body, _ = await _get(client, path)
    assert set(body) == {"rtcToken", "rtmToken"}
    assert _services(body["rtcToken"])[0].uid == "42"
    assert _services(body["rtmToken"])[0].user_id == rtm_user


async def test_chat_account_and_app_tokens(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(allow_chat_app_tokens=True)))
    _, user, _ = await _get(client, "/chat/account/alice/")
    assert _services(user["chatToken"])[0].user_id == "alice"
    _, app, _ = await _get(client, "/chat/app/")
    assert sorted(_services(app["chatToken"])[0].privileges) == [2]


async def test_chat_app_tokens_stay_off_unless_enabled(client: Client) -> None:
    status, body, _ = await _get(client, "/chat/app")
    assert status == 403
    assert "AGORA_ALLOW_CHAT_APP_TOKENS" in body["error"]


@pytest.mark.parametrize(
    ("request_body", "check"),
    [
        (
            {
                "tokenType": "rtc",
                "channel": "demo",
                "role": "publisher",
                "uid": "42",
                "expire": 600,
            },
            "uid:42",
        ),
        (
            {"tokenType": "rtc", "channel": "demo", "role": "subscriber", "uid": "alice"},
            "uid:alice",
        ),
        ({"tokenType": "rtm", "uid": "alice"}, "rtm:alice"),
        ({"tokenType": "chat", "uid": "alice"}, "chat:alice"),
    ],
)
async def test_get_token_for_each_token_type(
    client: Client, request_body: dict[str, Any], check: str
) -> None:
    response = await client.post("/getToken", json=request_body)
    assert response.status == 200
    (service,) = _services((await response.json())["token"])
    kind, value = check.split(":")
    assert (service.uid if kind == "uid" else service.user_id) == value


async def test_get_token_rtm_with_a_stream_channel_adds_join_and_publish_data(
    client: Client,
) -> None:
    response = await client.post(
        "/getToken", json={"tokenType": "rtm", "uid": "alice", "channel": "stream-1"}
    )
    rtc, rtm = _services((await response.json())["token"])
    assert (rtc.channel, rtc.uid, sorted(rtc.privileges)) == ("stream-1", "alice", [1, 4])
    assert rtm.user_id == "alice"


async def test_legacy_006_tokens_as_the_node_server_serves_them(make_client: MakeClient) -> None:
    client = await make_client(make_settings(agora=agora_settings(token_version="006")))
    _, body, _ = await _get(client, "/rtc/demo/publisher/uid/42/")
    assert accesstoken006.parse_token(body["rtcToken"]).verify_signature(
        CERTIFICATE, channel="demo", uid="42"
    )


# --- their defects, which we do not have ---


@pytest.mark.parametrize("uid", ["4294967296", "4294967297", "-1", "12abc"])
async def test_a_uid_outside_32_bits_is_an_error_never_a_wildcard_token(
    client: Client, uid: str
) -> None:
    status, body, _ = await _get(client, f"/rtc/demo/publisher/uid/{uid}/")
    assert status == 400
    assert "rtcToken" not in body and "4294967295" in body["error"]
    response = await client.post(
        "/getToken",
        json={"tokenType": "rtc", "channel": "demo", "role": "publisher", "uid": "4294967296"},
    )
    assert response.status == 400


async def test_a_request_without_an_origin_header_is_served(make_client: MakeClient) -> None:
    client = await make_client(make_settings(cors_allow_origins=("https://app.example.com",)))
    status, _, _ = await _get(client, "/rtc/demo/publisher/uid/42/")
    assert status == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/rtc/demo/admin/uid/42/", None),
        ("GET", "/rtc/demo/publisher/email/42/", None),
        ("GET", "/rtc/demo/publisher/uid/42/?expiry=soon", None),
        ("GET", "/rtc/demo/publisher/uid/42/?expiry=10", None),
        ("POST", "/getToken", b"not json"),
        ("POST", "/getToken", b'{"tokenType": "video"}'),
    ],
)
async def test_errors_are_json_with_a_4xx_status_never_plain_text(
    client: Client, method: str, path: str, body: bytes | None
) -> None:
    response = await client.request(method, path, data=body)
    assert 400 <= response.status < 500
    assert response.content_type == "application/json"
    answer = await response.json()
    assert answer["status"] == response.status and answer["error"]


def test_their_environment_names_work_as_aliases() -> None:
    settings = load_settings(
        {
            "APP_ID": "970CA35de60c44645bbae8a215061b33",
            "APP_CERTIFICATE": CERTIFICATE,
            "CORS_ALLOW_ORIGIN": "https://a.example",
            "PORT": "8080",
        }
    )
    assert settings.agora.credentials is not None
    assert settings.agora.credentials.app_id == "970CA35de60c44645bbae8a215061b33"
    assert (settings.cors_allow_origins, settings.port) == (("https://a.example",), 8080)


def test_our_own_names_win_over_the_aliases() -> None:
    assert load_settings({"SERVER_PORT": "7000", "PORT": "8080"}).port == 7000


async def test_the_official_parser_accepts_every_community_route_token(
    make_client: MakeClient, oracle: Oracle
) -> None:
    client = await make_client(make_settings(agora=agora_settings(allow_chat_app_tokens=True)))
    tokens = []
    for path in (
        "/rtc/demo/publisher/uid/42/",
        "/rtc/demo/audience/userAccount/alice",
        "/rtm/alice/",
        "/chat/app/",
        "/chat/account/bob/",
    ):
        _, body, _ = await _get(client, path)
        tokens.extend(body.values())
    _, both, _ = await _get(client, "/rte/demo/publisher/uid/42/")
    tokens.extend(both.values())
    response = await client.post(
        "/getToken", json={"tokenType": "rtm", "uid": "alice", "channel": "stream-1"}
    )
    tokens.append((await response.json())["token"])
    for verdict in oracle.parse(tokens):
        assert verdict["parsed"] and verdict["signature_valid"], verdict
