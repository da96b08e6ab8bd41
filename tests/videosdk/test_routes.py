"""VideoSDK routes against a fake VideoSDK REST API served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import jwt
import pytest

from service.videosdk.settings import VideoSdkSettings
from tests.helpers import (
    NOW,
    VIDEOSDK_KEY,
    VIDEOSDK_SECRET,
    Client,
    MakeClient,
    make_settings,
    videosdk_settings,
)
from tests.videosdk.fake_api import FakeVideoSdk


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, VIDEOSDK_SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    return claims


@pytest.fixture
def fake() -> FakeVideoSdk:
    return FakeVideoSdk(VIDEOSDK_KEY, VIDEOSDK_SECRET)


@pytest.fixture
async def vs(make_client: MakeClient, aiohttp_server: Any, fake: FakeVideoSdk) -> Client:
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    # The examples' endpoint value ends in /v2; the service takes it as well.
    endpoint = str(server.make_url("/v2"))
    settings = make_settings(
        videosdk=videosdk_settings(endpoint=endpoint.removesuffix("/v2"), timeout=1.0)
    )
    # VideoSDK (the fake) checks exp against the real clock.
    return await make_client(settings, clock=time.time, token_ids=lambda: "jti-1")


@pytest.fixture
async def tokens(make_client: MakeClient) -> Client:
    """For token routes, which never call VideoSDK: a fixed clock."""
    return await make_client(token_ids=lambda: "jti-1")


def _client_token(**claims: Any) -> str:
    payload = {
        "apikey": VIDEOSDK_KEY,
        "permissions": ["allow_join", "allow_mod"],
        "iat": 0,
        "exp": 4_000_000_000,
        **claims,
    }
    return jwt.encode(payload, VIDEOSDK_SECRET, algorithm="HS256")


# --- GET /get-token ---


async def test_get_token_gives_the_examples_token_with_explicit_roles(tokens: Client) -> None:
    response = await tokens.get("/get-token")
    assert response.status == 200
    body = await response.json()
    assert list(body) == ["token"]
    # Without roles VideoSDK grants every role (crawler: the server API); so rtc, stated.
    assert _claims(body["token"]) == {
        "apikey": VIDEOSDK_KEY,
        "permissions": ["allow_join"],
        "roles": ["rtc"],
        "version": 2,
        "iat": NOW,
        "exp": NOW + 3600,
        "jti": "jti-1",
    }


async def test_get_token_moderates_as_the_examples_do_only_when_configured(
    make_client: MakeClient,
) -> None:
    settings = make_settings(videosdk=videosdk_settings(allow_mod_tokens=True))
    client = await make_client(settings, token_ids=lambda: "jti-1")
    body = await (await client.get("/get-token")).json()
    assert _claims(body["token"])["permissions"] == ["allow_join", "allow_mod"]


@pytest.mark.parametrize("participant_param", ["participantId", "peerId"])
async def test_get_token_for_a_room_and_participant_is_version_2_with_role_rtc(
    tokens: Client, participant_param: str
) -> None:
    response = await tokens.get(
        "/get-token", params={"roomId": "abc-xyzw-lmno", participant_param: "alice"}
    )
    claims = _claims((await response.json())["token"])
    assert (claims["version"], claims["roles"]) == (2, ["rtc"])
    assert (claims["roomId"], claims["participantId"]) == ("abc-xyzw-lmno", "alice")


async def test_get_token_refuses_a_participant_id_with_whitespace(tokens: Client) -> None:
    response = await tokens.get("/get-token", params={"participantId": "alice smith"})
    assert (response.status, (await response.json())["field"]) == (400, "participantId")


async def test_get_token_refuses_conflicting_participant_and_peer_ids(tokens: Client) -> None:
    response = await tokens.get("/get-token", params={"participantId": "a", "peerId": "b"})
    assert response.status == 400


async def test_get_token_with_videosdk_unconfigured_is_503(make_client: MakeClient) -> None:
    client = await make_client(make_settings(videosdk=VideoSdkSettings()))
    response = await client.get("/get-token")
    assert response.status == 503
    assert "VIDEOSDK_API_KEY" in (await response.json())["message"]


# --- POST /v1/videosdk/token ---


async def test_v1_token_defaults_to_join_only(tokens: Client) -> None:
    response = await tokens.post("/v1/videosdk/token", json={})
    body = await response.json()
    assert response.status == 200
    assert _claims(body["token"])["permissions"] == ["allow_join"]
    assert (body["issued_at"], body["expires_at"], body["expires_in"]) == (NOW, NOW + 3600, 3600)


async def test_v1_token_with_every_restriction(tokens: Client) -> None:
    request = {
        "permissions": ["ask_join"],
        "roomId": "r1",
        "participantId": "p1",
        "roles": ["rtc"],
        "ttl": 300,
    }
    body = await (await tokens.post("/v1/videosdk/token", json=request)).json()
    claims = _claims(body["token"])
    assert claims == {
        "apikey": VIDEOSDK_KEY,
        "permissions": ["ask_join"],
        "roomId": "r1",
        "participantId": "p1",
        "roles": ["rtc"],
        "version": 2,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "jti-1",
    }


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"permissions": ["ask_join", "allow_join"]}, "permissions"),
        ({"permissions": ["ask_join", "allow_mod"]}, "permissions"),
        ({"permissions": ["root"]}, "permissions"),
        ({"permissions": "allow_join"}, "permissions"),
        ({"permissions": []}, "permissions"),
        ({"participantId": "a b"}, "participantId"),
        ({"participantId": 5}, "participantId"),
        ({"roles": ["admin"]}, "roles"),
        ({"roles": "rtc"}, "roles"),
        ({"roomId": ""}, "roomId"),
        ({"ttl": 59}, "ttl"),
        ({"ttl": 86401}, "ttl"),
        ({"version": 2}, "version"),
    ],
)
async def test_v1_token_refuses_what_videosdk_would_refuse_at_join(
    tokens: Client, request_body: Any, field: str
) -> None:
    response = await tokens.post("/v1/videosdk/token", json=request_body)
    assert response.status == 400
    assert (await response.json())["field"] == field


# --- POST /create-meeting ---


async def test_create_meeting_calls_videosdk_as_documented_with_the_services_own_token(
    vs: Client, fake: FakeVideoSdk
) -> None:
    token = _client_token()
    response = await vs.post("/create-meeting", json={"token": token, "region": "sg001"})
    assert response.status == 200
    room = await response.json()
    assert room["meetingId"] == room["roomId"]
    assert room["disabled"] is False
    (call,) = fake.requests
    assert (call.method, call.path) == ("POST", "/v2/rooms")
    # The client's token is accepted and not forwarded: the bare crawler token, no Bearer.
    assert call.headers["Authorization"] != token
    assert _claims(call.headers["Authorization"])["roles"] == ["crawler"]
    assert call.headers["Content-Type"].startswith("application/json")
    assert json.loads(call.body) == {}  # region is discontinued; not forwarded


async def test_create_meeting_without_a_token_uses_a_short_lived_crawler_token(
    vs: Client, fake: FakeVideoSdk
) -> None:
    response = await vs.post("/create-meeting")
    assert response.status == 200
    claims = _claims(fake.requests[0].headers["Authorization"])
    assert (claims["roles"], claims["version"]) == (["crawler"], 2)
    assert claims["exp"] - claims["iat"] == 120


async def test_create_meeting_passes_custom_room_id_webhook_and_auto_close_through(
    vs: Client, fake: FakeVideoSdk
) -> None:
    request = {
        "customRoomId": "standup",
        "webhook": {"endPoint": "https://app.example.com/hooks", "events": ["participant-joined"]},
        "autoCloseConfig": {"type": "session-ends", "duration": 60},
    }
    room = await (await vs.post("/create-meeting/", json=request)).json()
    assert json.loads(fake.requests[0].body) == request
    assert (room["customRoomId"], room["webhook"], room["autoCloseConfig"]) == (
        "standup",
        request["webhook"],
        request["autoCloseConfig"],
    )


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"customRoomId": 5}, "customRoomId"),
        ({"webhook": "https://x"}, "webhook"),
        ({"token": 1}, "token"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_create_meeting_bad_input_is_400_and_never_reaches_videosdk(
    vs: Client, fake: FakeVideoSdk, request_body: Any, field: str
) -> None:
    response = await vs.post("/create-meeting", json=request_body)
    assert (response.status, (await response.json())["field"]) == (400, field)
    assert fake.requests == []


async def test_a_participant_token_from_get_token_works_for_creating_a_meeting(
    vs: Client, fake: FakeVideoSdk
) -> None:
    rtc_only = (await (await vs.get("/get-token")).json())["token"]
    response = await vs.post("/create-meeting", json={"token": rtc_only})
    assert response.status == 200
    assert fake.requests[-1].headers["Authorization"] != rtc_only


# --- POST /validate-meeting/{meetingId} ---


async def test_validate_an_existing_meeting_answers_the_room(
    vs: Client, fake: FakeVideoSdk
) -> None:
    created = await (await vs.post("/create-meeting", json={})).json()
    response = await vs.post(
        f"/validate-meeting/{created['roomId']}", json={"token": _client_token()}
    )
    assert response.status == 200
    room = await response.json()
    assert (room["roomId"], room["meetingId"]) == (created["roomId"], created["roomId"])
    call = fake.requests[-1]
    assert (call.method, call.path) == ("GET", f"/v2/rooms/validate/{created['roomId']}")


async def test_validate_finds_a_meeting_by_its_custom_room_id(vs: Client) -> None:
    await vs.post("/create-meeting", json={"customRoomId": "standup"})
    response = await vs.post("/validate-meeting/standup")
    assert response.status == 200


@pytest.mark.parametrize("upstream_status", [400, 402, 404])
async def test_a_meeting_videosdk_does_not_know_is_404(
    vs: Client, fake: FakeVideoSdk, upstream_status: int
) -> None:
    fake.not_found_status = upstream_status
    response = await vs.post("/validate-meeting/nope-nope-nope")
    assert response.status == 404
    assert (await response.json())["error"] == "meeting_not_found"


async def test_a_disabled_meeting_is_reported_as_disabled(vs: Client, fake: FakeVideoSdk) -> None:
    created = await (await vs.post("/create-meeting", json={})).json()
    fake.rooms[created["roomId"]]["disabled"] = True
    response = await vs.post(f"/validate-meeting/{created['roomId']}")
    assert response.status == 410
    assert (await response.json())["error"] == "meeting_disabled"


@pytest.mark.parametrize(
    "hostile",
    [
        "%2E%2E",
        "%2e%2e",
        ".%2E",
        "%252E%252E",
        "..%2F",
        "a%2Fb",
        "a%5Cb",
        "%00",
        "a%0Ab",
        "a%20b",
        "a%3Fb",
        "a%23b",
        "%C2%B2",
        "x" * 257,
    ],
)
async def test_a_hostile_meeting_id_never_reaches_videosdk(
    vs: Client, fake: FakeVideoSdk, hostile: str
) -> None:
    response = await vs.post(f"/validate-meeting/{hostile}")
    assert response.status in (400, 404), await response.text()  # 404: aiohttp's router
    assert fake.requests == []


async def test_a_meeting_id_reaches_videosdk_as_exactly_one_path_segment(
    vs: Client, fake: FakeVideoSdk
) -> None:
    response = await vs.post("/validate-meeting/team.a_b~c:1")
    assert response.status == 404  # the fake has no such room
    assert fake.requests[-1].path == "/v2/rooms/validate/team.a_b~c:1"


async def test_a_dot_segment_meeting_id_is_refused_when_created(
    vs: Client, fake: FakeVideoSdk
) -> None:
    for hostile in ("..", ".", "a/b"):
        response = await vs.post("/create-meeting", json={"customRoomId": hostile})
        assert (response.status, (await response.json())["field"]) == (400, "customRoomId")
    assert fake.requests == []


# --- upstream failures ---


async def test_upstream_429_is_429_with_retry_after(vs: Client, fake: FakeVideoSdk) -> None:
    fake.fail(429, retry_after="7")
    response = await vs.post("/create-meeting", json={})
    assert (response.status, response.headers["Retry-After"]) == (429, "7")


async def test_upstream_429_without_retry_after_still_says_when(
    vs: Client, fake: FakeVideoSdk
) -> None:
    fake.fail(429)
    response = await vs.post("/validate-meeting/abc")
    assert response.status == 429
    assert response.headers["Retry-After"]


@pytest.mark.parametrize("upstream_status", [500, 502, 503])
async def test_upstream_5xx_is_502(vs: Client, fake: FakeVideoSdk, upstream_status: int) -> None:
    fake.fail(upstream_status)
    response = await vs.post("/create-meeting", json={})
    assert response.status == 502
    assert (await response.json())["error"] == "upstream_error"


async def test_creating_without_custom_room_id_is_not_retried(
    vs: Client, fake: FakeVideoSdk
) -> None:
    fake.fail(503)
    await vs.post("/create-meeting", json={})
    assert len(fake.requests) == 1


async def test_idempotent_calls_are_retried_once_after_a_5xx(
    vs: Client, fake: FakeVideoSdk
) -> None:
    fake.fail(503, times=1)
    assert (await vs.post("/create-meeting", json={"customRoomId": "retry-me"})).status == 200
    assert [r.path for r in fake.requests] == ["/v2/rooms", "/v2/rooms"]
    fake.fail(503, times=1)
    assert (await vs.post("/validate-meeting/retry-me")).status == 200


async def test_a_refused_connection_is_502(make_client: MakeClient) -> None:
    client = await make_client()  # the default test endpoint: nothing listens there
    response = await client.post("/create-meeting", json={})
    assert response.status == 502
    assert (await response.json())["error"] == "upstream_unavailable"


async def test_no_answer_within_the_timeout_is_504_not_a_hang(
    vs: Client, fake: FakeVideoSdk
) -> None:
    fake.hang = True
    response = await asyncio.wait_for(vs.post("/create-meeting", json={}), timeout=10)
    assert response.status == 504
    assert (await response.json())["error"] == "upstream_timeout"


async def test_the_http_session_is_shared_and_closed_on_shutdown(make_client: MakeClient) -> None:
    from service.videosdk.api import VIDEOSDK_API

    client = await make_client()
    api = client.app[VIDEOSDK_API]
    await client.post("/create-meeting", json={})
    await client.post("/create-meeting", json={})
    assert client.app[VIDEOSDK_API] is api
    session = api.session
    await client.close()
    assert session.closed
