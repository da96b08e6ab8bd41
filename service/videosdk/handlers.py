"""HTTP handlers for VideoSDK: the example servers' /get-token, /create-meeting and
/validate-meeting/{meetingId}, and the versioned /v1/videosdk/token."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from service.access.gate import allowed, bound_identity, caller_of
from service.access.policy import PolicyDenied, check_allowed, check_room, lifetime
from service.config import VideoSdkSettings
from service.context import CLOCK, GATE, SETTINGS, TOKEN_IDS, VIDEOSDK_API, VIDEOSDK_WEBHOOK_KEY
from service.errors import ApiError
from service.events import take_event
from service.metrics import token_issued
from service.middlewares import VERIFIED_BODY, needs_caller, takes_signed_body
from service.responses import json_response
from service.validation import Fields, json_type, object_field, parse_json, read_json_object
from service.videosdk.tokens import TokenGrant, TokenRuleError, build_token, server_grant
from service.videosdk.webhook import load_public_key, verify_videosdk

# The example servers' tokens: may join and moderate (mute others).
EXAMPLE_PERMISSIONS = ("allow_join", "allow_mod")


def _enabled_videosdk(request: web.Request) -> tuple[str, str, VideoSdkSettings]:
    videosdk = request.app[SETTINGS].videosdk
    if videosdk.api_key is None or videosdk.secret is None:
        raise ApiError(
            503,
            "platform_disabled",
            "VideoSDK is not configured: set VIDEOSDK_API_KEY and VIDEOSDK_SECRET_KEY",
        )
    return videosdk.api_key, videosdk.secret, videosdk


def _issue(request: web.Request, grant: TokenGrant, ttl: int | None) -> dict[str, Any]:
    api_key, secret, videosdk = _enabled_videosdk(request)
    if ttl is None:
        ttl = videosdk.token_ttl
    elif not 60 <= ttl <= videosdk.max_token_ttl:
        raise ApiError.invalid_field("ttl", f"must be from 60 to {videosdk.max_token_ttl} seconds")
    issued_at = int(request.app[CLOCK]())
    try:
        token = build_token(
            api_key, secret, grant, issued_at=issued_at, ttl=ttl, token_id=request.app[TOKEN_IDS]()
        )
    except TokenRuleError as error:
        raise ApiError.invalid_field(error.field, error.message) from None
    return {
        "token": token,
        "issued_at": issued_at,
        "expires_at": issued_at + ttl,
        "expires_in": ttl,
    }


def _admit(
    request: web.Request, grant: TokenGrant, ttl: int | None
) -> tuple[TokenGrant, int | None]:
    """The caller's own participant id (jwt mode), and what the policy allows them."""
    caller = caller_of(request)
    policy = request.app[GATE].settings.policy.videosdk
    participant = bound_identity(caller, grant.participant_id, field="participantId")
    if participant != grant.participant_id:
        roles = grant.roles if grant.roles is not None else ("rtc",)
        grant = replace(grant, participant_id=participant, roles=roles)
    if grant.room_id is not None:
        allowed(check_room, policy.rooms, grant.room_id, caller.claims, field="roomId", noun="room")
    elif policy.rooms is not None:
        raise ApiError(
            403,
            "forbidden",
            "name the room (roomId): your tokens are limited to some rooms",
            field="roomId",
        )
    allowed(
        check_allowed, policy.permissions, grant.permissions, field="permissions", what="permission"
    )
    allowed(check_allowed, policy.roles, grant.roles or (), field="roles", what="role")
    videosdk = request.app[SETTINGS].videosdk
    try:
        return grant, lifetime(policy.max_ttl, ttl, videosdk.token_ttl, field="ttl")
    except PolicyDenied as denied:
        raise ApiError(403, "forbidden", denied.message, field=denied.field) from None


@needs_caller
async def get_token(request: web.Request) -> web.Response:
    """GET /get-token[?roomId=&participantId=] (the examples call it peerId)."""
    query = request.query
    participant = query.get("participantId")
    peer = query.get("peerId")
    if participant is not None and peer is not None and participant != peer:
        raise ApiError.invalid_field("participantId", "differs from peerId; give one")
    participant = participant if participant is not None else peer
    room = query.get("roomId")
    restricted = room is not None or participant is not None
    grant = TokenGrant(
        permissions=EXAMPLE_PERMISSIONS,
        room_id=room,
        participant_id=participant,
        roles=("rtc",) if restricted else None,
    )
    token = _issue(request, *_admit(request, grant, None))["token"]
    token_issued("videosdk", "participant")
    return json_response({"token": token})


def _strings(fields: Fields, name: str) -> Sequence[str] | None:
    value = fields.value(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError.invalid_field(name, f"must be a list of strings, got {json_type(value)}")
    return tuple(value)


@needs_caller
async def videosdk_token(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    fields = Fields(
        await read_json_object(request),
        allowed=("permissions", "roomId", "participantId", "roles", "ttl"),
    )
    permissions = _strings(fields, "permissions")
    grant = TokenGrant(
        # Least privilege unless asked: join, not moderate.
        permissions=("allow_join",) if permissions is None else permissions,
        room_id=fields.string("roomId", required=False),
        participant_id=fields.string("participantId", required=False),
        roles=_strings(fields, "roles"),
    )
    ttl = fields.integer("ttl", required=False)
    answer = _issue(request, *_admit(request, grant, ttl))
    token_issued("videosdk", "participant")
    return json_response(answer)


async def _optional_body(request: web.Request) -> dict[str, Any]:
    """The examples' clients may post no body at all."""
    if not request.can_read_body:
        return {}
    return await read_json_object(request, allow_empty=True)


def _rest_token(request: web.Request, fields: Fields) -> str:
    """The client's token if it sent one, as the examples do; else a short-lived crawler
    token of our own, so clients never need a token that can call server APIs."""
    token = fields.string("token", required=False)
    if token:
        return token
    videosdk = _enabled_videosdk(request)[2]
    return str(_issue(request, server_grant(), videosdk.server_token_ttl)["token"])


@needs_caller
async def create_meeting(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    fields = Fields(
        await _optional_body(request),
        allowed=("token", "customRoomId", "webhook", "autoCloseConfig", "region"),
    )
    body: dict[str, Any] = {}
    if (custom := fields.string("customRoomId", required=False)) is not None:
        body["customRoomId"] = custom
    for name in ("webhook", "autoCloseConfig"):
        value = fields.value(name)
        if value is not None:
            if not isinstance(value, dict):
                raise ApiError.invalid_field(name, f"must be an object, got {json_type(value)}")
            body[name] = value
    # `region` is accepted for the examples' clients and dropped: VideoSDK discontinued it.
    fields.string("region", required=False)
    room = await request.app[VIDEOSDK_API].create_room(_rest_token(request, fields), body)
    return json_response({**room, "meetingId": room["roomId"]})


@needs_caller
async def validate_meeting(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    meeting_id = request.match_info["meetingId"]
    if not meeting_id.strip() or len(meeting_id) > 256:
        raise ApiError.invalid_field("meetingId", "must be 1 to 256 characters")
    fields = Fields(await _optional_body(request), allowed=("token",))
    room = await request.app[VIDEOSDK_API].validate_room(_rest_token(request, fields), meeting_id)
    if room.get("disabled") is True:
        raise ApiError(
            410, "meeting_disabled", f"meeting {meeting_id!r} exists but is disabled at VideoSDK"
        )
    return json_response({**room, "meetingId": room.get("roomId", meeting_id)})


# --- POST /videosdk/webhook ---


class WebhookKey:
    """VideoSDK's webhook public key: from configuration, or fetched once and cached."""

    def __init__(self, pem: str | None) -> None:
        self._key: RSAPublicKey | None = load_public_key(pem) if pem else None
        self._lock = asyncio.Lock()

    async def get(self, request: web.Request) -> RSAPublicKey:
        if self._key is None:
            async with self._lock:
                if self._key is None:
                    videosdk = _enabled_videosdk(request)[2]
                    token = str(_issue(request, server_grant(), videosdk.server_token_ttl)["token"])
                    pem = await request.app[VIDEOSDK_API].webhook_public_key(token)
                    try:
                        self._key = load_public_key(pem)
                    except ValueError:
                        raise ApiError(
                            502, "upstream_error", "VideoSDK's webhook key is not an RSA key"
                        ) from None
        return self._key


async def verify_videosdk_body(request: web.Request, body: bytes) -> bytes:
    """The "videosdk" signed-body scheme: RSA-SHA256 over the raw body."""
    key = await request.app[VIDEOSDK_WEBHOOK_KEY].get(request)
    verify_videosdk(body, request.headers.get("videosdk-signature"), key)
    return body


@takes_signed_body("videosdk")
async def videosdk_webhook(request: web.Request) -> web.Response:
    body: bytes = request[VERIFIED_BODY]
    event = parse_json(body)
    if not isinstance(event, dict) or not isinstance(event.get("webhookType"), str):
        raise ApiError(400, "malformed_event", "webhook body is not a VideoSDK event")
    data = object_field(event, "data")
    meeting = data.get("meetingId")
    # VideoSDK events carry no id of their own: the body's digest names a redelivery.
    event_id = "sha256:" + hashlib.sha256(body).hexdigest()
    return await take_event(
        request,
        provider="videosdk",
        event_id=event_id,
        ordering_key=f"meeting:{meeting}" if isinstance(meeting, str) else "",
        body=body,
        summary={
            "event_type": event["webhookType"],
            "meeting": meeting,
            "session": data.get("sessionId"),
            "participant": data.get("participantId"),
        },
    )
