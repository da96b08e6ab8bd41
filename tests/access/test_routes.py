"""The gate on every token route: authentication per mode, identities bound to the caller,
the issuance policy per platform, and rate limits; never a secret in a log line."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from structlog.testing import capture_logs

from service.access.callers import JwtRules
from service.access.policy import parse_policy
from service.access.ratelimit import Limit
from service.access.settings import AccessSettings
from service.agora import accesstoken2
from service.store.settings import EventSettings
from tests.access.issuer import AUDIENCE, HS_SECRET, ISSUER, hs_token
from tests.helpers import Client, MakeClient, make_settings, redis_server

API_KEYS = ("mobile-app-key-0123456789", "rotated-app-key-0123456789")
JWT_RULES = JwtRules(issuer=ISSUER, audience=AUDIENCE, secret=HS_SECRET)
NO_LIMITS: dict[str, Any] = {"caller_limit": None, "address_limit": None}


def _access(**overrides: Any) -> AccessSettings:
    return AccessSettings(**{**NO_LIMITS, **overrides})


async def _client(make_client: MakeClient, access: AccessSettings) -> Client:
    return await make_client(make_settings(access=access), clock=time.time)


def _bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {hs_token(**claims)}"}


# Every token route, with a request it would otherwise grant.
ROUTES = [
    ("POST", "/v1/agora/rtc-token", {"channel": "demo", "uid": 42, "role": "publisher"}),
    ("POST", "/v1/agora/rtm-token", {"user_id": "42"}),
    ("POST", "/v1/agora/chat-token", {"kind": "user", "user_id": "42"}),
    ("POST", "/fetch_rtc_token", {"uid": 42, "channelName": "demo", "role": 1}),
    ("POST", "/v1/livekit/token", {"room": "room-1", "identity": "42"}),
    ("POST", "/token", {"roomName": "room-1", "participantName": "42"}),
    (
        "POST",
        "/v1/livekit/connection-details",
        {"room_name": "room-1", "participant_identity": "42"},
    ),
    ("GET", "/get-token", None),
    ("POST", "/v1/videosdk/token", {}),
]


async def _call(
    client: Client, method: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    response = await client.request(method, path, data=data, headers=headers or {})
    return response.status, await response.json()


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
async def test_api_key_mode_refuses_callers_without_a_key(
    make_client: MakeClient, method: str, path: str, body: Any
) -> None:
    client = await _client(make_client, _access(mode="api-key", api_keys=API_KEYS))
    status, answer = await _call(client, method, path, body)
    assert status == 401
    assert "X-API-Key" in json.dumps(answer)
    status, _ = await _call(client, method, path, body, {"X-API-Key": "guessed-key-0123456789"})
    assert status == 401


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
@pytest.mark.parametrize("key", API_KEYS, ids=["current", "rotated"])
async def test_api_key_mode_serves_callers_with_any_configured_key(
    make_client: MakeClient, method: str, path: str, body: Any, key: str
) -> None:
    client = await _client(make_client, _access(mode="api-key", api_keys=API_KEYS))
    status, _ = await _call(client, method, path, body, {"X-API-Key": key})
    assert status == 200 or (status == 201 and "connection-details" in path)


async def test_compatibility_routes_answer_401_in_their_own_shape(make_client: MakeClient) -> None:
    client = await _client(make_client, _access(mode="api-key", api_keys=API_KEYS))
    assert (await _call(client, "POST", "/fetch_rtc_token", {}))[1]["code"] == "401"
    assert "errorMessage" in (await _call(client, "POST", "/token", {}))[1]


async def test_preflights_need_no_credentials(make_client: MakeClient) -> None:
    client = await _client(make_client, _access(mode="api-key", api_keys=API_KEYS))
    assert (await client.options("/fetch_rtc_token")).status == 200
    preflight = await client.options(
        "/v1/agora/rtc-token",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        },
    )
    assert preflight.status == 200


async def test_health_metrics_and_webhooks_stay_outside_the_gate(make_client: MakeClient) -> None:
    client = await _client(make_client, _access(mode="api-key", api_keys=API_KEYS))
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/metrics")).status == 200
    assert (
        await client.post("/livekit/webhook", data=b"{}")
    ).status == 400  # its own signature check


# --- jwt mode: the identity is the caller's own ---


@pytest.fixture
async def signed_in(make_client: MakeClient) -> Client:
    return await _client(make_client, _access(mode="jwt", jwt=JWT_RULES))


async def test_jwt_mode_refuses_a_missing_or_bad_login_token(signed_in: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, _bearer(aud="other")):
        status, answer = await _call(signed_in, "POST", "/v1/livekit/token", {"room": "r"}, headers)
        assert (status, answer["error"]) == (401, "unauthorized")


async def test_agora_uid_is_filled_from_a_numeric_identity(signed_in: Client) -> None:
    status, answer = await _call(
        signed_in,
        "POST",
        "/v1/agora/rtc-token",
        {"channel": "demo", "role": "publisher"},
        _bearer(sub="42"),
    )
    assert status == 200
    assert accesstoken2.parse_token(answer["token"]).services[0].uid == "42"


async def test_agora_user_account_is_filled_from_a_text_identity(signed_in: Client) -> None:
    _, answer = await _call(
        signed_in,
        "POST",
        "/v1/agora/rtc-token",
        {"channel": "demo", "role": "publisher"},
        _bearer(),
    )
    assert answer["grants"]["rtc"]["user_account"] == "alice"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/agora/rtc-token", {"channel": "demo", "uid": 43, "role": "publisher"}, "uid"),
        ("POST", "/v1/agora/rtc-token", {"channel": "demo", "uid": 0, "role": "publisher"}, "uid"),
        (
            "POST",
            "/v1/agora/rtc-token",
            {"channel": "demo", "user_account": "bob", "role": "publisher"},
            "user_account",
        ),
        ("POST", "/v1/agora/rtm-token", {"user_id": "bob"}, "user_id"),
        ("POST", "/v1/agora/chat-token", {"kind": "user", "user_id": "bob"}, "user_id"),
        ("POST", "/v1/livekit/token", {"room": "r", "identity": "bob"}, "identity"),
        (
            "POST",
            "/v1/livekit/connection-details",
            {"participant_identity": "bob"},
            "participant_identity",
        ),
        ("POST", "/v1/videosdk/token", {"participantId": "bob"}, "participantId"),
        ("GET", "/get-token?peerId=bob", None, "participantId"),
    ],
)
async def test_asking_in_someone_elses_name_is_refused(
    signed_in: Client, method: str, path: str, body: Any, field: str
) -> None:
    status, answer = await _call(signed_in, method, path, body, _bearer(sub="42"))
    assert (status, answer["field"]) == (403, field)


async def test_the_go_samples_route_refuses_another_uid_in_its_shape(signed_in: Client) -> None:
    status, answer = await _call(
        signed_in,
        "POST",
        "/fetch_rtc_token",
        {"uid": 43, "channelName": "demo", "role": 1},
        _bearer(sub="42"),
    )
    assert (status, answer["code"]) == (403, "403")
    status, _ = await _call(
        signed_in,
        "POST",
        "/fetch_rtc_token",
        {"uid": 42, "channelName": "demo", "role": 1},
        _bearer(sub="42"),
    )
    assert status == 200


async def test_openvidus_participant_name_cannot_choose_the_identity(signed_in: Client) -> None:
    _, answer = await _call(
        signed_in, "POST", "/token", {"roomName": "r", "participantName": "bob"}, _bearer()
    )
    claims = jwt.decode(answer["token"], options={"verify_signature": False})
    assert (claims["sub"], claims["name"]) == ("alice", "bob")


async def test_identities_left_out_are_the_callers_own(signed_in: Client) -> None:
    _, livekit = await _call(signed_in, "POST", "/v1/livekit/token", {"room": "r"}, _bearer())
    assert livekit["identity"] == "alice"
    _, details = await _call(
        signed_in, "POST", "/v1/livekit/connection-details", {"room_name": "r"}, _bearer()
    )
    assert (
        jwt.decode(details["participant_token"], options={"verify_signature": False})["sub"]
        == "alice"
    )
    _, videosdk = await _call(signed_in, "GET", "/get-token", None, _bearer())
    claims = jwt.decode(videosdk["token"], options={"verify_signature": False})
    assert (claims["participantId"], claims["version"], claims["roles"]) == ("alice", 2, ["rtc"])


# --- policy ---

POLICY = parse_policy(
    """
[agora]
channels = ["team-{org}-*"]
roles = ["subscriber"]
max_expire = 600
rtm = false

[livekit]
rooms = ["team-{org}-*"]
grants = ["canPublish"]
max_ttl = 3600

[videosdk]
rooms = ["team-{org}-*"]
permissions = ["allow_join"]
roles = ["rtc"]
max_ttl = 3600
"""
)


@pytest.fixture
async def governed(make_client: MakeClient) -> Client:
    return await _client(make_client, _access(mode="jwt", jwt=JWT_RULES, policy=POLICY))


ALLOWED = [
    (
        "POST",
        "/v1/agora/rtc-token",
        {"channel": "team-acme-1", "role": "subscriber", "expire": 600},
    ),
    ("POST", "/fetch_rtc_token", {"uid": 42, "channelName": "team-acme-1", "role": 2}),
    ("POST", "/v1/livekit/token", {"room": "team-acme-1", "video": {"canPublish": True}}),
    ("POST", "/token", {"roomName": "team-acme-1", "participantName": "Alice"}),
    ("POST", "/v1/videosdk/token", {"roomId": "team-acme-1", "roles": ["rtc"]}),
    # The examples' route: moderation left out where it is not allowed, not refused.
    ("GET", "/get-token?roomId=team-acme-1", None),
]
DENIED = [
    (
        "POST",
        "/v1/agora/rtc-token",
        {"channel": "team-other-1", "role": "subscriber", "expire": 600},
        "channel",
    ),
    (
        "POST",
        "/v1/agora/rtc-token",
        {"channel": "team-acme-1", "role": "publisher", "expire": 600},
        "role",
    ),
    (
        "POST",
        "/v1/agora/rtc-token",
        {"channel": "team-acme-1", "role": "subscriber", "expire": 601},
        "expire",
    ),
    (
        "POST",
        "/v1/agora/rtc-token",
        {"channel": "team-acme-1", "role": "subscriber", "expire": 600, "with_rtm": True},
        "with_rtm",
    ),
    ("POST", "/v1/agora/rtm-token", {"expire": 600}, None),
    ("POST", "/fetch_rtc_token", {"uid": 42, "channelName": "lobby", "role": 2}, "channel"),
    ("POST", "/v1/livekit/token", {"room": "lobby"}, "room"),
    (
        "POST",
        "/v1/livekit/token",
        {"room": "team-acme-1", "video": {"canPublishData": True}},
        "video.canPublishData",
    ),
    ("POST", "/v1/livekit/token", {"room": "team-acme-1", "ttl": 3601}, "ttl"),
    ("POST", "/v1/livekit/connection-details", {}, None),
    ("POST", "/v1/videosdk/token", {"roomId": "lobby"}, "roomId"),
    (
        "POST",
        "/v1/videosdk/token",
        {"roomId": "team-acme-1", "permissions": ["allow_mod"]},
        "permissions",
    ),
    ("POST", "/v1/videosdk/token", {}, "roomId"),
]


@pytest.mark.parametrize(("method", "path", "body"), ALLOWED, ids=[a[1] for a in ALLOWED])
async def test_the_policy_allows_what_it_names(
    governed: Client, method: str, path: str, body: Any
) -> None:
    status, answer = await _call(governed, method, path, body, _bearer(sub="42", org="acme"))
    assert status == 200, answer


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), DENIED, ids=[f"{d[1]}-{d[3]}" for d in DENIED]
)
async def test_the_policy_denies_the_rest_with_a_reason(
    governed: Client, method: str, path: str, body: Any, field: str | None
) -> None:
    status, answer = await _call(governed, method, path, body, _bearer(sub="42", org="acme"))
    assert status == 403, answer
    message = answer.get("message") or answer.get("token") or answer.get("errorMessage")
    assert message
    if field is not None and "field" in answer:
        assert answer["field"] == field


# --- rate limits ---


async def test_an_address_over_its_limit_gets_429_then_recovers(make_client: MakeClient) -> None:
    client = await _client(make_client, _access(address_limit=Limit(rate=2.0, burst=3)))
    body = {"channel": "demo", "uid": 1, "role": "publisher"}
    statuses = [(await _call(client, "POST", "/v1/agora/rtc-token", body))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = await client.post("/v1/agora/rtc-token", json=body)
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    await asyncio.sleep(1.1)  # two tokens back in the bucket
    assert (await _call(client, "POST", "/v1/agora/rtc-token", body))[0] == 200


async def test_each_signed_in_user_has_their_own_limit(make_client: MakeClient) -> None:
    client = await _client(
        make_client, _access(mode="jwt", jwt=JWT_RULES, caller_limit=Limit(rate=0.1, burst=2))
    )
    body = {"room": "r"}
    alice = [
        (await _call(client, "POST", "/v1/livekit/token", body, _bearer(sub="alice")))[0]
        for _ in range(3)
    ]
    assert alice == [200, 200, 429]
    assert (await _call(client, "POST", "/v1/livekit/token", body, _bearer(sub="bob")))[0] == 200


async def test_a_renewal_every_10_seconds_is_never_limited_by_default(
    make_client: MakeClient,
) -> None:
    from service.access.ratelimit import MemoryBuckets
    from service.access.settings import DEFAULT_ADDRESS_LIMIT, DEFAULT_CALLER_LIMIT

    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    for _ in range(360):  # an hour of 40 s tokens renewed every 10 s
        assert await buckets.take("caller", DEFAULT_CALLER_LIMIT) == 0
        assert await buckets.take("address", DEFAULT_ADDRESS_LIMIT) == 0
        now[0] += 10
    flood = [
        await buckets.take("flood", DEFAULT_CALLER_LIMIT) for _ in range(300)
    ]  # at one instant
    assert sum(1 for wait in flood if wait == 0) == DEFAULT_CALLER_LIMIT.burst


@pytest.mark.slow
async def test_replicas_sharing_redis_enforce_one_limit(make_client: MakeClient) -> None:
    with redis_server() as (url, _):
        settings = make_settings(
            access=_access(address_limit=Limit(rate=0.1, burst=2)),
            events=EventSettings(db_path=":memory:", redis_url=url),
        )
        one, two = await make_client(settings), await make_client(settings)
        body = {"channel": "demo", "uid": 1, "role": "publisher"}
        assert (await _call(one, "POST", "/v1/agora/rtc-token", body))[0] == 200
        assert (await _call(two, "POST", "/v1/agora/rtc-token", body))[0] == 200
        assert (await _call(one, "POST", "/v1/agora/rtc-token", body))[0] == 429
        assert (await _call(two, "POST", "/v1/agora/rtc-token", body))[0] == 429


# --- logs ---


async def test_no_key_secret_or_token_ever_reaches_a_log_line(make_client: MakeClient) -> None:
    settings = make_settings(access=_access(mode="api-key", api_keys=API_KEYS))
    client = await make_client(settings, clock=time.time)
    login = hs_token()
    with capture_logs() as logs:
        tokens: list[str] = []
        for key in (*API_KEYS, "wrong-key-0123456789"):
            for method, path, body in ROUTES:
                _, answer = await _call(
                    client,
                    method,
                    path,
                    body,
                    {"X-API-Key": key, "Authorization": f"Bearer {login}"},
                )
                tokens.extend(
                    v
                    for k, v in answer.items()
                    if "token" in k and isinstance(v, str) and len(v) > 40
                )
    everything = json.dumps(logs, default=str)
    assert tokens, "the routes issued no token to look for"
    secrets = [*API_KEYS, login, HS_SECRET, settings.agora.credentials.certificate]  # type: ignore[union-attr]
    secrets += [settings.videosdk.secret or "", *settings.livekit.keys.values()]
    for secret in [*secrets, *tokens]:
        assert secret not in everything
        assert secret[:24] not in everything


_ = replace
