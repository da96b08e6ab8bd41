"""LiveKit routes: OpenVidu's /token, /v1/livekit/token, the standard token endpoint, and
the webhook receiver, each judged by livekit-api."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import jwt
import pytest
from livekit.api import TokenVerifier
from structlog.testing import capture_logs

from service.livekit.settings import LiveKitSettings
from service.store.settings import EventSettings
from tests.helpers import (
    LIVEKIT_KEY,
    LIVEKIT_OLD_KEY,
    LIVEKIT_OLD_SECRET,
    LIVEKIT_SECRET,
    LIVEKIT_URL,
    Client,
    MakeClient,
    livekit_settings,
    make_settings,
    preflight,
)
from tests.livekit.server import participant_joined, sign_webhook, track_published

CLOCK_NOW = time.time()  # tokens are checked by livekit-api against the real clock


def _raw(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def _verified(token: str) -> Any:
    return TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(token)


@pytest.fixture
async def lk(make_client: MakeClient) -> Client:
    return await make_client(clock=lambda: CLOCK_NOW)


@pytest.fixture
async def wh(make_client: MakeClient) -> Client:
    """For webhooks, which livekit-api signs at the real time: the app's clock is real too,
    as CLOCK_NOW (taken at import) is out of the 60 s leeway by the time a long run gets
    here, and every webhook would be turned away as not yet valid."""
    return await make_client(clock=time.time)


async def _post(client: Client, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = await client.post(path, data=data, **kwargs)
    return response.status, await response.json()


# --- POST /token (OpenVidu) ---


async def test_openvidu_token_joins_the_room_as_the_participant_for_six_hours(lk: Client) -> None:
    status, body = await _post(lk, "/token", {"roomName": "room1", "participantName": "alice"})
    assert status == 200
    assert list(body) == ["token"]
    claims = _verified(body["token"])
    assert (claims.identity, claims.name) == ("alice", "alice")
    assert (claims.video.room_join, claims.video.room) == (True, "room1")
    now = int(CLOCK_NOW)
    assert _raw(body["token"]) == {
        "iss": LIVEKIT_KEY,
        "sub": "alice",
        "nbf": now,
        "exp": now + 6 * 3600,
        "name": "alice",
        # LiveKit's defaults, stated: the token says what its holder may do.
        "video": {
            "roomJoin": True,
            "room": "room1",
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        },
    }


async def test_openvidu_token_ttl_is_configurable(make_client: MakeClient) -> None:
    client = await make_client(
        make_settings(livekit=livekit_settings(token_ttl=600)), clock=lambda: CLOCK_NOW
    )
    _, body = await _post(client, "/token", {"roomName": "room1", "participantName": "alice"})
    assert _raw(body["token"])["exp"] - _raw(body["token"])["nbf"] == 600


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"roomName": "room1"},
        {"participantName": "alice"},
        {"roomName": "", "participantName": "alice"},
        {"roomName": "room1", "participantName": ""},
        {"roomName": 1, "participantName": "alice"},
        {"roomName": "room1", "participantName": None},
    ],
)
async def test_openvidu_token_missing_fields_are_400_with_openvidus_message(
    lk: Client, request_body: Any
) -> None:
    status, body = await _post(lk, "/token", request_body)
    assert (status, body) == (400, {"errorMessage": "roomName and participantName are required"})


@pytest.mark.parametrize("raw", ["", "nope", "[]", "null"])
async def test_openvidu_token_malformed_bodies_are_400_in_openvidus_shape(
    lk: Client, raw: str
) -> None:
    status, body = await _post(lk, "/token", raw)
    assert status == 400
    assert list(body) == ["errorMessage"]


async def test_openvidu_token_over_livekits_limits_is_400(lk: Client) -> None:
    status, body = await _post(lk, "/token", {"roomName": "r" * 257, "participantName": "alice"})
    assert status == 400
    assert "256 bytes" in body["errorMessage"]


async def test_disabled_livekit_is_503_naming_the_variables(make_client: MakeClient) -> None:
    client = await make_client(make_settings(livekit=LiveKitSettings()))
    status, body = await _post(client, "/token", {"roomName": "r", "participantName": "a"})
    assert status == 503
    assert "LIVEKIT_API_KEY" in body["errorMessage"]


# --- POST /v1/livekit/token ---


async def test_v1_token_answers_the_token_server_url_and_expiry(lk: Client) -> None:
    request = {
        "room": "room1",
        "identity": "alice",
        "name": "Alice",
        "metadata": "{}",
        "attributes": {"seat": "3"},
        "ttl": 900,
        "video": {"canPublishSources": ["microphone"], "canUpdateOwnMetadata": True},
        "roomConfig": {"agents": [{"agentName": "concierge"}]},
    }
    status, body = await _post(lk, "/v1/livekit/token", request)
    assert status == 200
    now = int(CLOCK_NOW)
    assert body["server_url"] == LIVEKIT_URL
    assert (body["identity"], body["room"]) == ("alice", "room1")
    assert (body["issued_at"], body["expires_at"], body["expires_in"]) == (now, now + 900, 900)
    raw = _raw(body["token"])
    assert raw["video"] == {
        "roomJoin": True,
        "canPublishSources": ["microphone"],
        "canUpdateOwnMetadata": True,
        "room": "room1",
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }
    assert raw["roomConfig"] == {"agents": [{"agentName": "concierge"}]}
    assert raw["attributes"] == {"seat": "3"}
    claims = _verified(body["token"])
    assert claims.video.can_publish_sources == ["microphone"]
    assert claims.room_config.agents[0].agent_name == "concierge"


async def test_v1_token_can_grant_a_non_joining_token_explicitly(lk: Client) -> None:
    status, body = await _post(
        lk,
        "/v1/livekit/token",
        {"identity": "a", "video": {"roomJoin": True, "room": "r", "canSubscribe": False}},
    )
    assert status == 200
    assert _raw(body["token"])["video"]["canSubscribe"] is False


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"room": "r"}, "identity"),
        ({"room": "r", "identity": ""}, "identity"),
        ({"identity": "a"}, "room"),
        ({"identity": "a", "video": {"roomJoin": True}}, "room"),
        ({"room": "r", "identity": "a", "video": {"room": "other"}}, "video.room"),
        ({"room": "r", "identity": "a", "video": {"canFly": True}}, "video.canFly"),
        ({"room": "r", "identity": "a", "video": {"canPublish": 1}}, "video.canPublish"),
        ({"room": "r", "identity": "a", "video": []}, "video"),
        ({"room": "r", "identity": "a", "ttl": 60}, "ttl"),
        ({"room": "r", "identity": "a", "ttl": 86401}, "ttl"),
        ({"room": "r", "identity": "a", "ttl": "1h"}, "ttl"),
        ({"room": "r", "identity": "a", "kind": "robot"}, "kind"),
        ({"room": "r", "identity": "a", "attributes": {"k": 1}}, "attributes"),
        (
            {"room": "r", "identity": "a", "roomConfig": {"egress": {"room": {}}}},
            "roomConfig.egress",
        ),
        ({"room": "r", "identity": "a", "grants": {}}, "grants"),
        ({"room": "r" * 257, "identity": "a"}, "video.room"),
        ({"room": "r", "identity": "a" * 257}, "identity"),
    ],
)
async def test_v1_token_bad_input_is_400_naming_the_field(
    lk: Client, request_body: Any, field: str
) -> None:
    status, body = await _post(lk, "/v1/livekit/token", request_body)
    assert status == 400
    assert body["field"] == field


async def test_v1_token_admin_grants_are_403_unless_allowed(make_client: MakeClient) -> None:
    request = {"room": "r", "identity": "a", "video": {"roomAdmin": True}}
    strict = await make_client(clock=lambda: CLOCK_NOW)
    status, body = await _post(strict, "/v1/livekit/token", request)
    assert (status, body["field"]) == (403, "video.roomAdmin")
    open_ = await make_client(
        make_settings(livekit=livekit_settings(allow_admin_grants=True)), clock=lambda: CLOCK_NOW
    )
    status, body = await _post(open_, "/v1/livekit/token", request)
    assert status == 200
    assert _verified(body["token"]).video.room_admin is True


async def test_tokens_are_signed_with_the_signing_key_among_several(
    make_client: MakeClient,
) -> None:
    settings = make_settings(livekit=livekit_settings(signing_key=LIVEKIT_OLD_KEY))
    client = await make_client(settings, clock=lambda: CLOCK_NOW)
    _, body = await _post(client, "/v1/livekit/token", {"room": "r", "identity": "a"})
    assert _raw(body["token"])["iss"] == LIVEKIT_OLD_KEY
    TokenVerifier(LIVEKIT_OLD_KEY, LIVEKIT_OLD_SECRET).verify(body["token"])


# --- POST /v1/livekit/connection-details (LiveKit's standard token endpoint) ---

ENDPOINT = "/v1/livekit/connection-details"


async def test_the_standard_endpoint_answers_201_in_snake_case(lk: Client) -> None:
    request = {
        "room_name": "room1",
        "participant_name": "Alice",
        "participant_identity": "alice",
        "participant_metadata": "{}",
        "participant_attributes": {"k": "v"},
        "room_config": {
            "empty_timeout": 30,
            "agents": [{"agent_name": "my-agent", "metadata": "m"}],
        },
    }
    status, body = await _post(lk, ENDPOINT, request)
    assert status == 201
    assert body["server_url"] == LIVEKIT_URL
    assert (body["room_name"], body["participant_name"]) == ("room1", "Alice")
    raw = _raw(body["participant_token"])
    assert raw["sub"] == "alice"
    assert raw["video"] == {
        "roomJoin": True,
        "room": "room1",
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }
    assert raw["roomConfig"] == {
        "emptyTimeout": 30,
        "agents": [{"agentName": "my-agent", "metadata": "m"}],
    }
    claims = _verified(body["participant_token"])
    assert claims.room_config.agents[0].agent_name == "my-agent"
    assert claims.attributes == {"k": "v"}


async def test_the_standard_endpoint_makes_up_room_and_identity_for_an_empty_request(
    lk: Client,
) -> None:
    status, body = await _post(lk, ENDPOINT, {})
    assert status == 201
    claims = _verified(body["participant_token"])
    assert claims.identity.startswith("participant-")
    assert claims.video.room.startswith("room-") and claims.video.room == body["room_name"]


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"roomName": "r"}, "roomName"),
        ({"room_config": {"egress": {}}}, "room_config.egress"),
        ({"room_config": {"colour": "red"}}, "room_config.colour"),
        ({"room_config": {"agents": [{"agentName": "x"}]}}, "room_config.agents[0].agentName"),
        ({"participant_attributes": "k=v"}, "participant_attributes"),
    ],
)
async def test_the_standard_endpoint_refuses_fields_it_does_not_allow(
    lk: Client, request_body: Any, field: str
) -> None:
    status, body = await _post(lk, ENDPOINT, request_body)
    assert status == 400
    assert body["field"] == field


async def test_the_standard_endpoint_needs_livekit_url(make_client: MakeClient) -> None:
    client = await make_client(make_settings(livekit=livekit_settings(url=None)))
    status, body = await _post(client, ENDPOINT, {})
    assert status == 503
    assert "LIVEKIT_URL" in body["message"]


async def test_a_browser_client_can_call_the_standard_endpoint(lk: Client) -> None:
    answer = await preflight(
        lk, ENDPOINT, "https://app.example.com", request_headers="content-type,authorization"
    )
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "AUTHORIZATION" in answer.headers["Access-Control-Allow-Headers"].upper()
    response = await lk.post(ENDPOINT, json={}, headers={"Origin": "https://app.example.com"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    error = await lk.post(ENDPOINT, json={"bad": 1}, headers={"Origin": "https://app.example.com"})
    assert error.status == 400
    assert error.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


# --- POST /livekit/webhook ---

WEBHOOK_HEADERS = {"Content-Type": "application/webhook+json", "User-Agent": "LiveKit"}


async def _deliver(client: Client, body: bytes, authorization: str | None) -> tuple[int, Any]:
    headers = dict(WEBHOOK_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await client.post("/livekit/webhook", data=body, headers=headers)
    return response.status, await response.json()


async def test_a_signed_webhook_is_answered_200_and_logged_in_one_line(wh: Client) -> None:
    body = track_published()
    with capture_logs() as logs:
        status, answer = await _deliver(wh, body, sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET))
    assert (status, answer) == (200, {"status": "received", "id": "EV_track000001"})
    (line,) = [entry for entry in logs if entry["event"] == "webhook event"]
    assert (line["event_type"], line["event_id"]) == ("track_published", "EV_track000001")
    assert (line["room"], line["participant"], line["track"]) == ("room1", "alice", "TR_cam")
    assert line["duplicate"] is False


async def test_a_redelivered_event_is_recognised_as_a_duplicate(wh: Client) -> None:
    body = participant_joined("EV_redelivered1")
    token = sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET)
    assert (await _deliver(wh, body, token))[1]["status"] == "received"
    assert (await _deliver(wh, body, token))[1]["status"] == "duplicate"


async def test_two_copies_arriving_at_once_are_taken_once(wh: Client) -> None:
    body = participant_joined("EV_simultaneous")
    token = sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET)
    answers = await asyncio.gather(*(_deliver(wh, body, token) for _ in range(10)))
    statuses = sorted(answer["status"] for _, answer in answers)
    assert statuses == ["duplicate"] * 9 + ["received"]


async def test_webhooks_signed_by_the_old_key_are_accepted_during_rotation(wh: Client) -> None:
    body = participant_joined("EV_oldkey000001")
    status, _ = await _deliver(wh, body, sign_webhook(body, LIVEKIT_OLD_KEY, LIVEKIT_OLD_SECRET))
    assert status == 200


async def test_a_webhook_without_authorization_is_400(wh: Client) -> None:
    status, answer = await _deliver(wh, participant_joined(), None)
    assert (status, answer["error"]) == (400, "missing_signature")


@pytest.mark.parametrize("case", ["bearer", "tampered", "wrong-secret", "join-token"])
async def test_a_forged_webhook_is_401_never_5xx(wh: Client, case: str) -> None:
    body = participant_joined()
    token = sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET)
    if case == "bearer":
        authorization, sent = f"Bearer {token}", body
    elif case == "tampered":
        authorization, sent = token, body.replace(b"alice", b"mallo")
    elif case == "wrong-secret":
        authorization, sent = sign_webhook(body, LIVEKIT_KEY, "x" * 40), body
    else:
        status, joined = await _post(
            wh, "/token", {"roomName": "room1", "participantName": "mallory"}
        )
        authorization, sent = joined["token"], body
    status, answer = await _deliver(wh, sent, authorization)
    assert (status, answer["error"]) == (401, "invalid_signature")


async def test_a_signed_body_that_is_not_an_event_is_400(wh: Client) -> None:
    body = b'["not", "an", "event"]'
    status, answer = await _deliver(wh, body, sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET))
    assert (status, answer["error"]) == (400, "malformed_event")


async def test_a_webhook_larger_than_ordinary_bodies_is_still_taken(wh: Client) -> None:
    body = participant_joined("EV_bigmetadata01").replace(
        b'"name":"Alice"', b'"name":"Alice","metadata":"' + b"m" * 100_000 + b'"'
    )
    status, _ = await _deliver(wh, body, sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET))
    assert status == 200


async def test_a_webhook_over_its_own_limit_is_413(make_client: MakeClient) -> None:
    client = await make_client(
        make_settings(events=EventSettings(db_path=":memory:", webhook_max_body_bytes=2048))
    )
    body = b'{"event":"room_started","id":"EV_x","pad":"' + b"p" * 4096 + b'"}'
    status, _ = await _deliver(client, body, sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET))
    assert status == 413


async def test_webhooks_with_livekit_disabled_are_503_so_livekit_retries(
    make_client: MakeClient,
) -> None:
    client = await make_client(make_settings(livekit=LiveKitSettings()))
    body = participant_joined()
    status, _ = await _deliver(client, body, sign_webhook(body, LIVEKIT_KEY, LIVEKIT_SECRET))
    assert status == 503


@pytest.mark.parametrize("path", ["/token", "/v1/livekit/token", ENDPOINT])
async def test_a_browser_preflight_to_each_token_route_succeeds(lk: Client, path: str) -> None:
    response = await preflight(lk, path, "http://localhost:5173")
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
