"""The policy judges what a token lets its holder do, on every route, as the platforms'
own code reads the token: livekit-api's TokenVerifier, Agora's official npm parser, and
pyjwt with VideoSDK's claims."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from livekit.api import TokenVerifier

from service.access.callers import JwtRules
from service.access.policy import parse_policy
from service.access.settings import AccessSettings
from tests.access.issuer import AUDIENCE, HS_SECRET, ISSUER, hs_token
from tests.helpers import (
    LIVEKIT_KEY,
    LIVEKIT_SECRET,
    VIDEOSDK_SECRET,
    Client,
    MakeClient,
    Oracle,
    agora_settings,
    livekit_settings,
    make_settings,
    videosdk_settings,
)

JWT_RULES = JwtRules(issuer=ISSUER, audience=AUDIENCE, secret=HS_SECRET)


async def _governed(
    make_client: MakeClient, policy: str, *, mode: str = "jwt", **platforms: Any
) -> Client:
    access = AccessSettings(
        mode=mode,
        jwt=JWT_RULES if mode == "jwt" else None,
        api_keys=("test-api-key-0123456789",) if mode == "api-key" else (),
        policy=parse_policy(policy),
        caller_limit=None,
        address_limit=None,
    )
    settings = replace(make_settings(access=access), **platforms)
    return await make_client(settings, clock=time.time)


def _bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {hs_token(**claims)}"}


async def _call(
    client: Client, method: str, path: str, body: Any = None, *, sub: str = "42", **claims: Any
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    response = await client.request(method, path, data=data, headers=_bearer(sub=sub, **claims))
    return response.status, await response.json()


def _livekit(token: str) -> Any:
    return TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(token)


def _raw(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def _videosdk(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, VIDEOSDK_SECRET, algorithms=["HS256"])
    return claims


# --- LiveKit: publishing by omission ---

SUBSCRIBE_ONLY = "[livekit]\ngrants = ['canSubscribe']\n"
PLAIN_LIVEKIT_REQUESTS = [
    ("/v1/livekit/token", {"room": "r1"}, "token"),
    ("/v1/livekit/token", {"room": "r1", "video": {}}, "token"),
    ("/v1/livekit/token", {"room": "r1", "video": {"canPublishSources": []}}, "token"),
    ("/token", {"roomName": "r1", "participantName": "Alice"}, "token"),
    ("/v1/livekit/connection-details", {"room_name": "r1"}, "participant_token"),
]


@pytest.mark.parametrize(
    ("path", "body", "key"),
    PLAIN_LIVEKIT_REQUESTS,
    ids=[f"{p[0]}-{p[1]}" for p in PLAIN_LIVEKIT_REQUESTS],
)
async def test_a_request_that_names_no_grant_gets_no_grant_the_policy_withholds(
    make_client: MakeClient, path: str, body: dict[str, Any], key: str
) -> None:
    client = await _governed(make_client, SUBSCRIBE_ONLY)
    status, answer = await _call(client, "POST", path, body)
    assert status in (200, 201), answer
    video = _livekit(answer[key]).video
    assert (video.can_publish, video.can_publish_data, video.can_subscribe) == (False, False, True)
    # Stated in the token itself, not left to a reader's defaults.
    raw = _raw(answer[key])["video"]
    assert (raw["canPublish"], raw["canPublishData"]) == (False, False)


async def test_asking_for_a_withheld_grant_is_refused(make_client: MakeClient) -> None:
    client = await _governed(make_client, SUBSCRIBE_ONLY)
    status, answer = await _call(
        client, "POST", "/v1/livekit/token", {"room": "r1", "video": {"canPublish": True}}
    )
    assert (status, answer["field"]) == (403, "video.canPublish")


async def test_allowed_sources_are_written_into_a_token_that_names_none(
    make_client: MakeClient,
) -> None:
    client = await _governed(make_client, "[livekit]\nsources = ['microphone']\n")
    status, answer = await _call(client, "POST", "/v1/livekit/token", {"room": "r1"})
    assert status == 200
    assert _livekit(answer["token"]).video.can_publish_sources == ["microphone"]
    status, answer = await _call(
        client,
        "POST",
        "/v1/livekit/token",
        {"room": "r1", "video": {"canPublishSources": ["camera"]}},
    )
    assert (status, answer["field"]) == (403, "video.canPublishSources")


async def test_an_empty_source_list_in_the_policy_means_no_publishing(
    make_client: MakeClient,
) -> None:
    client = await _governed(make_client, "[livekit]\nsources = []\n")
    status, answer = await _call(client, "POST", "/v1/livekit/token", {"room": "r1"})
    assert status == 200
    assert _livekit(answer["token"]).video.can_publish is False


# --- admin-class tokens need the switch and the policy ---


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/agora/chat-token", {"kind": "app"}),
        ("/chat/app/", None),
        ("/getToken", {"tokenType": "chat"}),
    ],
)
async def test_chat_app_tokens_need_the_policy_as_well_as_the_switch(
    make_client: MakeClient, path: str, body: Any
) -> None:
    agora = agora_settings(allow_chat_app_tokens=True)
    method = "GET" if body is None else "POST"
    for policy in ("[agora]\nchat = false\nmax_expire = 3600\n", "[agora]\nmax_expire = 3600\n"):
        client = await _governed(make_client, policy, agora=agora)
        status, _ = await _call(client, method, path, body)
        assert status == 403, policy


async def test_a_chat_app_token_the_policy_allows_obeys_its_max_expire(
    make_client: MakeClient, oracle: Oracle
) -> None:
    agora = agora_settings(allow_chat_app_tokens=True)
    client = await _governed(
        make_client, "[agora]\nchat_app = true\nmax_expire = 3600\n", agora=agora
    )
    status, answer = await _call(client, "POST", "/v1/agora/chat-token", {"kind": "app"})
    assert status == 200
    (parsed,) = oracle.parse([answer["token"]])
    assert parsed["signature_valid"]
    assert parsed["expire"] <= 3600
    (service,) = parsed["services"]
    assert all(seconds <= 3600 for seconds in service["privileges"].values())
    status, _ = await _call(
        client, "POST", "/v1/agora/chat-token", {"kind": "app", "expire": 86_400}
    )
    assert status == 403


@pytest.mark.parametrize(
    "body",
    [
        {"room": "r1", "video": {"roomAdmin": True}},
        {"room": "r1", "kind": "agent"},
        {"room": "r1", "attributes": {"lk.agent.state": "speaking"}},
    ],
    ids=["server grant", "kind", "reserved attribute"],
)
async def test_livekit_server_capabilities_need_the_policy_as_well_as_the_switch(
    make_client: MakeClient, body: dict[str, Any]
) -> None:
    livekit = livekit_settings(allow_admin_grants=True)
    client = await _governed(make_client, "[livekit]\nattributes = ['*']\n", livekit=livekit)
    status, _ = await _call(client, "POST", "/v1/livekit/token", body)
    assert status == 403
    named = (
        "[livekit]\ngrants = ['canPublish', 'canSubscribe', 'roomAdmin']\n"
        "kinds = ['standard', 'agent']\nattributes = ['lk.*']\n"
    )
    client = await _governed(make_client, named, livekit=livekit)
    status, answer = await _call(client, "POST", "/v1/livekit/token", body)
    assert status == 200, answer
    client = await _governed(make_client, named)  # the switch off
    status, _ = await _call(client, "POST", "/v1/livekit/token", body)
    assert status == 403


@pytest.mark.parametrize(
    ("body", "switch"),
    [
        ({"roomId": "r1", "permissions": ["allow_join", "allow_mod"]}, "allow_mod_tokens"),
        ({"roomId": "r1", "roles": ["crawler"]}, "allow_crawler_tokens"),
    ],
)
async def test_videosdk_moderator_and_crawler_tokens_need_the_switch_and_the_policy(
    make_client: MakeClient, body: dict[str, Any], switch: str
) -> None:
    on = videosdk_settings(**{switch: True})
    client = await _governed(make_client, "[videosdk]\n", videosdk=on)
    assert (await _call(client, "POST", "/v1/videosdk/token", body))[0] == 403
    named = "[videosdk]\npermissions = ['allow_join', 'allow_mod']\nroles = ['rtc', 'crawler']\n"
    client = await _governed(make_client, named, videosdk=on)
    status, answer = await _call(client, "POST", "/v1/videosdk/token", body)
    assert status == 200, answer
    client = await _governed(make_client, named)
    assert (await _call(client, "POST", "/v1/videosdk/token", body))[0] == 403


# --- patterns: a prefix of another claim value ---

PREFIX_POLICY = """
[agora]
channels = ["team-{org}-*"]
[livekit]
rooms = ["team-{org}-*"]
[videosdk]
rooms = ["team-{org}-*"]
"""
ROOM_REQUESTS = [
    ("/v1/agora/rtc-token", {"channel": "{room}", "role": "subscriber"}),
    ("/fetch_rtc_token", {"channelName": "{room}", "uid": 42, "role": 2}),
    ("/v1/livekit/token", {"room": "{room}"}),
    ("/token", {"roomName": "{room}", "participantName": "A"}),
    ("/v1/videosdk/token", {"roomId": "{room}"}),
]


@pytest.mark.parametrize(("path", "template"), ROOM_REQUESTS, ids=[r[0] for r in ROOM_REQUESTS])
async def test_a_claim_value_never_reaches_rooms_another_value_could_own(
    make_client: MakeClient, path: str, template: dict[str, Any]
) -> None:
    client = await _governed(make_client, PREFIX_POLICY)

    def body(room: str) -> dict[str, Any]:
        return {k: (room if v == "{room}" else v) for k, v in template.items()}

    assert (await _call(client, "POST", path, body("team-acme-1"), org="acme"))[0] == 200
    for org in ("acme", "acme-corp"):
        status, _ = await _call(client, "POST", path, body("team-acme-corp-secret"), org=org)
        assert status == 403, org


# --- identities ---


@pytest.mark.parametrize("login", ["042", "٤٢", "\uff14\uff12", "42 ", "+42", "42.0"])
async def test_logins_that_only_look_like_42_never_get_uid_42(
    make_client: MakeClient, oracle: Oracle, login: str
) -> None:
    client = await _governed(make_client, "")
    body = {"channel": "demo", "role": "publisher"}
    status, answer = await _call(client, "POST", "/v1/agora/rtc-token", body, sub=login)
    if status == 200:
        (parsed,) = oracle.parse([answer["token"]])
        assert parsed["services"][0]["uid"] != "42"
    else:
        assert status == 403
    for ask in ({**body, "uid": 42}, {**body, "user_account": "42"}):
        status, _ = await _call(client, "POST", "/v1/agora/rtc-token", ask, sub=login)
        assert status == 403
    status, _ = await _call(
        client, "POST", "/fetch_rtc_token", {"channelName": "demo", "uid": 42, "role": 1}, sub=login
    )
    assert status == 403


async def test_the_login_42_gets_uid_42_and_nothing_else(
    make_client: MakeClient, oracle: Oracle
) -> None:
    client = await _governed(make_client, "")
    body = {"channel": "demo", "role": "publisher"}
    status, answer = await _call(client, "POST", "/v1/agora/rtc-token", body, sub="42")
    assert (status, answer["grants"]["rtc"]["uid"]) == (200, 42)
    (parsed,) = oracle.parse([answer["token"]])
    assert parsed["services"][0]["uid"] == "42"
    status, _ = await _call(
        client, "POST", "/v1/agora/rtc-token", {**body, "user_account": "42"}, sub="42"
    )
    assert status == 403


async def test_the_login_0_never_gets_the_any_user_uid(make_client: MakeClient) -> None:
    client = await _governed(make_client, "")
    for body in (
        {"channel": "demo", "role": "publisher"},
        {"channel": "demo", "role": "publisher", "uid": 0},
    ):
        status, _ = await _call(client, "POST", "/v1/agora/rtc-token", body, sub="0")
        assert status == 403
    status, _ = await _call(
        client, "POST", "/fetch_rtc_token", {"channelName": "d", "uid": 0, "role": 1}, sub="0"
    )
    assert status == 403


async def test_a_login_identity_is_used_byte_for_byte_on_livekit_and_videosdk(
    make_client: MakeClient,
) -> None:
    client = await _governed(make_client, "")
    decomposed, composed = "e\u0301", "\u00e9"
    for login in (decomposed, composed):
        _, answer = await _call(client, "POST", "/v1/livekit/token", {"room": "r"}, sub=login)
        assert _livekit(answer["token"]).identity == login
        _, answer = await _call(client, "GET", "/get-token", sub=login)
        assert _videosdk(answer["token"])["participantId"] == login


# --- routes the policy now sees ---

MEETINGS = """
[videosdk]
rooms = ["team-{org}-*"]
roles = ["rtc"]
"""


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/create-meeting", {"customRoomId": "team-other-1"}, "customRoomId"),
        ("/create-meeting", {}, "customRoomId"),
        ("/validate-meeting/team-other-1", {}, "meetingId"),
        (
            "/create-meeting",
            {"customRoomId": "team-acme-1", "webhook": {"endPoint": "https://evil.example"}},
            "webhook",
        ),
    ],
)
async def test_meetings_outside_the_policy_are_refused_before_videosdk_is_called(
    make_client: MakeClient, path: str, body: dict[str, Any], field: str
) -> None:
    # The endpoint is unreachable: any call to VideoSDK would answer 502, not 403.
    client = await _governed(make_client, MEETINGS)
    status, answer = await _call(client, "POST", path, body, org="acme")
    assert (status, answer["field"]) == (403, field)


async def test_a_videosdk_token_always_carries_the_policys_roles(make_client: MakeClient) -> None:
    client = await _governed(make_client, MEETINGS)
    for path, body in (
        ("/v1/videosdk/token", {"roomId": "team-acme-1"}),
        ("/get-token?roomId=team-acme-1", None),
    ):
        status, answer = await _call(client, "POST" if body else "GET", path, body, org="acme")
        assert status == 200
        claims = _videosdk(answer["token"])
        assert (claims["roles"], claims["version"]) == (["rtc"], 2)


ROOM_CONFIG = """
[livekit]
room_config = ["agents", "maxParticipants", "emptyTimeout"]
agents = ["support-*"]
min_participants = 2
max_participants = 50
max_empty_timeout = 600
metadata = true
attributes = ["app.*"]
"""


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"roomConfig": {"agents": [{"agentName": "evil-bot"}]}}, "roomConfig.agents[0].agentName"),
        ({"roomConfig": {"maxParticipants": 1}}, "roomConfig.maxParticipants"),
        ({"roomConfig": {"maxParticipants": 0}}, "roomConfig.maxParticipants"),
        ({"roomConfig": {"emptyTimeout": 3600}}, "roomConfig.emptyTimeout"),
        ({"roomConfig": {"syncStreams": True}}, "roomConfig.syncStreams"),
        ({"attributes": {"role": "admin"}}, "attributes.role"),
        ({"attributes": {"lk.publish_on_behalf": "x"}}, "attributes.lk.publish_on_behalf"),
    ],
)
async def test_room_configuration_and_participant_data_are_governed(
    make_client: MakeClient, extra: dict[str, Any], field: str
) -> None:
    client = await _governed(make_client, ROOM_CONFIG)
    status, answer = await _call(client, "POST", "/v1/livekit/token", {"room": "r", **extra})
    assert (status, answer["field"]) == (403, field)


async def test_what_the_room_policy_names_is_issued(make_client: MakeClient) -> None:
    client = await _governed(make_client, ROOM_CONFIG)
    body = {
        "room": "r",
        "metadata": "{}",
        "attributes": {"app.seat": "3"},
        "roomConfig": {"agents": [{"agentName": "support-bot"}], "maxParticipants": 10},
    }
    status, answer = await _call(client, "POST", "/v1/livekit/token", body)
    assert status == 200, answer
    claims = _livekit(answer["token"])
    assert claims.room_config.agents[0].agent_name == "support-bot"
    assert claims.room_config.max_participants == 10
    assert claims.attributes == {"app.seat": "3"}


async def test_a_present_livekit_section_refuses_metadata_and_room_config_it_does_not_name(
    make_client: MakeClient,
) -> None:
    client = await _governed(make_client, "[livekit]\n")
    for extra in (
        {"metadata": '{"role": "admin"}'},
        {"attributes": {"k": "v"}},
        {"roomConfig": {"maxParticipants": 1}},
    ):
        status, _ = await _call(client, "POST", "/v1/livekit/token", {"room": "r", **extra})
        assert status == 403, extra


async def test_a_wildcard_channel_token_needs_a_policy_that_allows_every_channel(
    make_client: MakeClient,
) -> None:
    agora = agora_settings(allow_wildcard_channel=True)
    body = {"channel": "*", "role": "subscriber"}
    client = await _governed(make_client, "[agora]\nchannels = ['team-{org}-*']\n", agora=agora)
    status, answer = await _call(client, "POST", "/v1/agora/rtc-token", body, org="acme")
    assert (status, answer["field"]) == (403, "channel")
    client = await _governed(make_client, "[agora]\nchannels = ['*']\n", agora=agora)
    assert (await _call(client, "POST", "/v1/agora/rtc-token", body))[0] == 200
