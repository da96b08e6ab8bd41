"""No input gets a 5xx: hostile bytes drawn by hypothesis, sent over a raw socket to every
route of the OpenAPI document, in every authentication mode. Only the documented upstream
and dependency answers (502, 503, 504) may be 5xx, and every answer from the service is
JSON in the route's error shape."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.access.callers import JwtRules
from service.access.settings import AccessSettings
from service.openapi import build_document
from service.store.settings import EventSettings
from tests.access.issuer import AUDIENCE, HS_SECRET, ISSUER
from tests.helpers import Client, MakeClient, agora_settings, make_settings

DOCUMENT = build_document()
ROUTES = [
    (method.upper(), path)
    for path, operations in DOCUMENT["paths"].items()
    for method in operations
    if not path.startswith(("/static", "/docs", "/playground"))
]
ALLOWED_5XX = {502, 503, 504}
HEADERS = [
    "X-API-Key",
    "Authorization",
    "Agora-Signature",
    "Agora-Signature-V2",
    "videosdk-signature",
    "X-Forwarded-For",
    "Forwarded",
    "Origin",
    "X-Request-ID",
    "Content-Type",
]

# Text that breaks naive code: lone surrogates, Unicode digits, dot segments, huge numbers.
_HOSTILE_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "\ud800",
            "²",
            "①",
            "٤٢",
            "..",
            ".",
            "%2E%2E",
            "0" * 30,
            "-1",
            "a/b",
            "\x00",
            "*",
            "99999999999999999999999",
            "1e400",
            "NaN",
            "true",
            "{}",
            " 42",
            "042",
        ]
    ),
)
_HUGE = st.sampled_from([2**64, -(2**63) - 1, 10**40, 2**63])
_JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), _HUGE, st.floats(allow_nan=False), _HOSTILE_TEXT
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_HOSTILE_TEXT, children, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "channel",
        "uid",
        "user_account",
        "role",
        "expire",
        "privilege_expire",
        "with_rtm",
        "user_id",
        "kind",
        "room",
        "identity",
        "name",
        "metadata",
        "attributes",
        "ttl",
        "video",
        "roomConfig",
        "roomName",
        "participantName",
        "channelName",
        "permissions",
        "roomId",
        "participantId",
        "roles",
        "customRoomId",
        "webhook",
        "token",
        "tokenType",
        "room_name",
        "participant_identity",
        "room_config",
        "noticeId",
        "payload",
        "event",
        "id",
    ]
)
_BODY_OBJECT = st.dictionaries(_FIELDS, _JSON, max_size=5)
_BODY = st.one_of(
    _BODY_OBJECT.map(lambda value: json.dumps(value).encode()),
    _BODY_OBJECT.map(
        lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=64),
    st.just(b""),
)
_HEADER_VALUE = st.one_of(
    st.binary(min_size=1, max_size=24).map(
        lambda raw: bytes(b for b in raw if b not in b"\r\n\x00") or b"x"
    ),
    st.sampled_from(
        [
            b"Bearer \xff\xfe",
            b"Bearer a.b.c",
            b"\xc3\x28",
            b'for="[::1]:80"',
            b"1.2.3.4, ::ffff:10.0.0.1",
        ]
    ),
)


# A nearly valid body per route; hypothesis replaces some of its values with hostile ones,
# so the drawn input gets past the first checks and reaches the deeper ones.
TEMPLATES: dict[str, dict[str, Any]] = {
    "/v1/agora/rtc-token": {"channel": "demo", "uid": 42, "role": "publisher", "expire": 600},
    "/fetch_rtc_token": {"uid": 42, "channelName": "demo", "role": 1},
    "/v1/agora/rtm-token": {"user_id": "u", "expire": 600},
    "/v1/agora/chat-token": {"kind": "user", "user_id": "u"},
    "/getToken": {"tokenType": "rtm", "channel": "demo", "role": "publisher", "uid": "42"},
    "/v1/livekit/token": {
        "room": "r",
        "identity": "a",
        "video": {"canPublishSources": ["camera"], "canPublish": True},
        "roomConfig": {"maxParticipants": 2, "agents": [{"agentName": "x"}]},
        "attributes": {"k": "v"},
        "ttl": 600,
    },
    "/token": {"roomName": "r", "participantName": "p"},
    "/v1/livekit/connection-details": {
        "room_name": "r",
        "participant_identity": "a",
        "room_config": {"max_participants": 1, "agents": [{"agent_name": "x"}]},
    },
    "/v1/videosdk/token": {"roomId": "r", "permissions": ["allow_join"], "roles": ["rtc"]},
    "/create-meeting": {"customRoomId": "x", "autoCloseConfig": {"type": "session-ends"}},
    "/agora/webhook": {
        "noticeId": "n-1",
        "productId": 1,
        "eventType": 101,
        "notifyMs": int(time.time() * 1000),
        "payload": {"channelName": "demo", "uid": 1},
    },
    "/livekit/webhook": {"event": "room_started", "id": "EV_1", "room": {"name": "r"}},
}
NCS_SECRET = "ncs-secret-0123456789"


def _mutate(template: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(template))
    for key in data.draw(st.lists(st.sampled_from(sorted(body)), max_size=3, unique=True)):
        value = body[key]
        if isinstance(value, dict) and value and data.draw(st.booleans()):
            inner = data.draw(st.sampled_from(sorted(value)))
            value[inner] = data.draw(_JSON)
        elif isinstance(value, list) and data.draw(st.booleans()):
            body[key] = [data.draw(_JSON)]
        else:
            body[key] = data.draw(_JSON)
    return body


def _signed(path: str, body: bytes) -> dict[str, bytes]:
    import base64
    import hashlib
    import hmac

    import jwt

    from tests.helpers import LIVEKIT_KEY, LIVEKIT_SECRET

    if path == "/agora/webhook":
        digest = hmac.new(NCS_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"Agora-Signature-V2": digest.encode()}
    if path == "/livekit/webhook":
        checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
        token = jwt.encode(
            {"iss": LIVEKIT_KEY, "exp": int(time.time()) + 60, "sha256": checksum},
            LIVEKIT_SECRET,
            algorithm="HS256",
        )
        return {"Authorization": token.encode()}
    return {}


def _segment(text: str) -> str:
    encoded = text.encode("utf-8", "surrogatepass")
    return quote(encoded, safe="") or "x"


def _fill(path: str, values: list[str]) -> str:
    names = re.findall(r"\{[^}]+\}", path)
    for name, value in zip(names, values, strict=False):
        path = path.replace(name, _segment(value), 1)
    return path


async def _send(port: int, request: bytes) -> tuple[int, bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head, body


async def _clients(make_client: MakeClient) -> list[Client]:
    events = EventSettings(
        db_path=":memory:",
        api_token="events-api-token-0123456789",
    )
    base = replace(make_settings(), events=events, agora=agora_settings(ncs_secret=NCS_SECRET))
    modes = [
        AccessSettings(caller_limit=None, address_limit=None),
        AccessSettings(
            mode="api-key",
            api_keys=("fuzz-api-key-0123456789",),
            caller_limit=None,
            address_limit=None,
        ),
        AccessSettings(
            mode="jwt",
            jwt=JwtRules(issuer=ISSUER, audience=AUDIENCE, secret=HS_SECRET),
            caller_limit=None,
            address_limit=None,
        ),
    ]
    return [await make_client(replace(base, access=mode), clock=time.time) for mode in modes]


@pytest.fixture
async def targets(make_client: MakeClient) -> list[Client]:
    return await _clients(make_client)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    segments=st.lists(_HOSTILE_TEXT, min_size=4, max_size=4),
    query=st.dictionaries(
        _FIELDS | st.sampled_from(["expiry", "after", "limit", "roomId", "peerId"]),
        _HOSTILE_TEXT,
        max_size=3,
    ),
    headers=st.dictionaries(st.sampled_from(HEADERS), _HEADER_VALUE, max_size=3),
    body=_BODY,
    mode=st.integers(min_value=0, max_value=2),
)
async def test_no_input_gets_a_server_error(
    targets: list[Client],
    route: tuple[str, str],
    segments: list[str],
    query: dict[str, str],
    headers: dict[str, bytes],
    body: bytes,
    mode: int,
) -> None:
    method, template = route
    target = _fill(template, segments)
    if query:
        target += "?" + "&".join(f"{_segment(k)}={_segment(v)}" for k, v in query.items())
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    if method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    request = b"\r\n".join(lines) + b"\r\n\r\n" + (body if method == "POST" else b"")
    port = targets[mode].server.port
    assert port is not None
    status, head, answer = await _send(port, request)
    assert status < 500 or status in ALLOWED_5XX, (status, request, answer[:300])
    if status >= 400 and b"application/json" in head.lower():
        parsed: Any = json.loads(answer)
        assert isinstance(parsed, dict)
        assert {"error", "token", "errorMessage", "message"} & set(parsed), parsed


def _credentials(mode: int, sub: Any) -> dict[str, bytes]:
    import jwt

    if mode == 1:
        return {"X-API-Key": b"fuzz-api-key-0123456789"}
    if mode == 2:
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": int(time.time()) + 300}
        token = jwt.encode(claims, HS_SECRET, algorithm="HS256")
        return {"Authorization": b"Bearer " + token.encode()}
    return {}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(sorted(TEMPLATES)),
    mode=st.integers(min_value=0, max_value=2),
    sub=_JSON,
    data=st.data(),
)
async def test_nearly_valid_requests_with_hostile_values_get_no_server_error(
    targets: list[Client], path: str, mode: int, sub: Any, data: st.DataObject
) -> None:
    body = _mutate(TEMPLATES[path], data)
    raw = json.dumps(body, ensure_ascii=data.draw(st.booleans())).encode("utf-8", "surrogatepass")
    headers = {**_credentials(mode, sub), **_signed(path, raw)}
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    lines.append(b"Content-Length: " + str(len(raw)).encode())
    port = targets[mode].server.port
    assert port is not None
    status, _, answer = await _send(port, b"\r\n".join(lines) + b"\r\n\r\n" + raw)
    assert status < 500 or status in ALLOWED_5XX, (status, path, body, answer[:300])
    if status == 200 and path.endswith("webhook"):
        page = await targets[mode].get(
            "/v1/events", headers={"Authorization": "Bearer events-api-token-0123456789"}
        )
        assert page.status == 200, await page.text()


# --- the inputs that once answered 500, one by one ---

SURROGATE = '"\\ud800"'  # a lone surrogate, as JSON text
NAME_FIELDS = [
    ("/v1/agora/rtc-token", '{"channel": %s, "uid": 1, "role": "publisher"}'),
    ("/v1/agora/rtc-token", '{"channel": "c", "user_account": %s, "role": "publisher"}'),
    ("/v1/agora/rtm-token", '{"user_id": %s}'),
    ("/v1/agora/chat-token", '{"kind": "user", "user_id": %s}'),
    ("/fetch_rtc_token", '{"channelName": %s, "uid": 1, "role": 1}'),
    ("/getToken", '{"tokenType": "rtc", "channel": "c", "role": "publisher", "uid": %s}'),
    ("/v1/livekit/token", '{"room": %s, "identity": "a"}'),
    ("/v1/livekit/token", '{"room": "r", "identity": %s}'),
    ("/v1/livekit/token", '{"room": "r", "identity": "a", "name": %s}'),
    ("/v1/livekit/token", '{"room": "r", "identity": "a", "metadata": %s}'),
    ("/v1/livekit/token", '{"room": "r", "identity": "a", "attributes": {"k": %s}}'),
    ("/token", '{"roomName": %s, "participantName": "p"}'),
    ("/token", '{"roomName": "r", "participantName": %s}'),
    ("/v1/livekit/connection-details", '{"room_name": %s}'),
    ("/v1/videosdk/token", '{"roomId": %s}'),
    ("/v1/videosdk/token", '{"participantId": %s}'),
    ("/create-meeting", '{"customRoomId": %s}'),
]


@pytest.mark.parametrize(("path", "template"), NAME_FIELDS)
async def test_a_lone_surrogate_in_any_name_is_a_400(
    targets: list[Client], path: str, template: str
) -> None:
    response = await targets[0].post(path, data=template % SURROGATE)
    assert response.status == 400, await response.text()


HUGE_NUMBERS = [
    ("/v1/livekit/token", {"room": "r", "identity": "a", "roomConfig": {"maxParticipants": 2**70}}),
    ("/v1/livekit/token", {"room": "r", "identity": "a", "roomConfig": {"emptyTimeout": 2**64}}),
    ("/v1/agora/rtc-token", {"channel": "c", "uid": 2**80, "role": "publisher"}),
    ("/v1/livekit/token", {"room": "r", "identity": "a", "ttl": -(2**70)}),
    ("/v1/livekit/token", {"room": "r", "identity": "a", "video": {"canPublishSources": [[1]]}}),
    ("/v1/livekit/token", {"room": "r", "identity": "a", "video": {"canPublishSources": [{}]}}),
    ("/v1/livekit/connection-details", {"room_config": {"agents": [[1]]}}),
]


@pytest.mark.parametrize(("path", "body"), HUGE_NUMBERS)
async def test_huge_numbers_and_mistyped_members_are_a_400(
    targets: list[Client], path: str, body: dict[str, Any]
) -> None:
    response = await targets[0].post(path, data=json.dumps(body))
    assert response.status == 400, await response.text()


@pytest.mark.parametrize(
    "target",
    [
        "/rtc/c/publisher/uid/%C2%B2/",
        "/rtc/c/publisher/uid/%E2%91%A0/",
        "/rtc/c/publisher/uid/042/",
        "/rtc/c/publisher/uid/1/?expiry=%C2%B2",
        "/rtc/c/publisher/uid/1/?expiry=99999999999999999999",
        "/rtm/u/?expiry=%E2%91%A0",
        "/v1/events?after=99999999999999999999",
        "/v1/events?after=18446744073709551616-18446744073709551616",
        "/v1/events?limit=%C2%B2",
    ],
)
async def test_unicode_digits_and_huge_numbers_in_paths_and_queries_are_a_400(
    targets: list[Client], target: str
) -> None:
    headers = {"Authorization": "Bearer events-api-token-0123456789"}
    response = await targets[0].get(target, headers=headers)
    assert response.status == 400, await response.text()


@pytest.mark.parametrize(
    ("mode", "path", "header"),
    [
        (1, "/v1/agora/rtc-token", "X-API-Key"),
        (2, "/v1/agora/rtc-token", "Authorization"),
        (0, "/v1/events", "Authorization"),
        (0, "/livekit/webhook", "Authorization"),
        (0, "/agora/webhook", "Agora-Signature"),
        (0, "/agora/webhook", "Agora-Signature-V2"),
        (0, "/videosdk/webhook", "videosdk-signature"),
    ],
)
async def test_a_header_that_is_not_utf8_is_a_400_naming_it(
    targets: list[Client], mode: int, path: str, header: str
) -> None:
    method = "GET" if path == "/v1/events" else "POST"
    start = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n"
    request = start.encode() + header.encode() + b": \xff\xfe\xc3\x28\r\n\r\n{}"
    port = targets[mode].server.port
    assert port is not None
    status, _, body = await _send(port, request)
    assert status == 400, body
    assert json.loads(body)["field"] == header


async def test_a_stored_event_with_a_huge_number_and_a_lone_surrogate_still_lists(
    targets: list[Client],
) -> None:
    sent_ms = str(int(time.time() * 1000)).encode()
    raw = (
        b'{"noticeId": "n-\\ud800", "productId": 1, "eventType": 1, "notifyMs": '
        + sent_ms
        + b', "payload": {"n": 184467440737095516160}}'
    )
    headers = _signed("/agora/webhook", raw)
    first = await targets[0].post(
        "/agora/webhook", data=raw, headers={k: v.decode() for k, v in headers.items()}
    )
    assert first.status == 200, await first.text()
    again = await targets[0].post(
        "/agora/webhook", data=raw, headers={k: v.decode() for k, v in headers.items()}
    )
    assert (await again.json())["status"] == "duplicate"
    page = await targets[0].get(
        "/v1/events", headers={"Authorization": "Bearer events-api-token-0123456789"}
    )
    assert page.status == 200
    (event,) = (await page.json())["events"]
    assert event["event"]["payload"]["n"] == 184467440737095516160
