"""HTTP handlers for VideoSDK: the example servers' /get-token, /create-meeting and
/validate-meeting/{meetingId}, and the versioned /v1/videosdk/token."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from service.access.admission import Admitted
from service.access.gate import caller_of
from service.context import CLOCK, GATE, SETTINGS, TOKEN_IDS, VIDEOSDK_API, VIDEOSDK_WEBHOOK_KEY
from service.errors import ApiError, ErrorCode
from service.events import check_fresh, epoch_seconds, take_event
from service.metrics import token_issued
from service.middlewares import VERIFIED_BODY, needs_caller, takes_signed_body
from service.responses import json_response
from service.store.base import safe_name
from service.validation import Fields, json_type, object_field, parse_json, read_json_object
from service.videosdk.admission import (
    VideoSdkGrant,
    admit_meeting,
    admit_server_call,
    admit_token,
    may_moderate,
)
from service.videosdk.issue import credentials_of, issue_token
from service.videosdk.settings import VideoSdkSettings
from service.videosdk.tokens import TokenGrant
from service.videosdk.webhook import load_public_key, verify_videosdk

KEY_RETRY_SECONDS = 10.0


def _enabled_videosdk(request: web.Request) -> VideoSdkSettings:
    videosdk = request.app[SETTINGS].videosdk
    credentials_of(videosdk)
    return videosdk


def _issue(request: web.Request, admitted: Admitted[VideoSdkGrant]) -> dict[str, Any]:
    return issue_token(
        request.app[SETTINGS].videosdk,
        admitted,
        issued_at=int(request.app[CLOCK]()),
        token_id=request.app[TOKEN_IDS](),
    )


def _admit(request: web.Request, grant: TokenGrant, ttl: int | None) -> Admitted[VideoSdkGrant]:
    """admit_token for this request's caller and policy."""
    policy = request.app[GATE].settings.policy.videosdk
    videosdk = request.app[SETTINGS].videosdk
    return admit_token(videosdk, caller_of(request), policy, grant, ttl=ttl)


@needs_caller
async def get_token(request: web.Request) -> web.Response:
    """GET /get-token[?roomId=&participantId=] (the examples call it peerId)."""
    videosdk = _enabled_videosdk(request)
    query = request.query
    participant = query.get("participantId")
    peer = query.get("peerId")
    if participant is not None and peer is not None and participant != peer:
        raise ApiError.invalid_field("participantId", "differs from peerId; give one")
    participant = participant if participant is not None else peer
    # The examples' tokens may join and moderate; here moderation only where it is allowed.
    policy = request.app[GATE].settings.policy.videosdk
    moderate = may_moderate(videosdk, policy)
    grant = TokenGrant(
        permissions=("allow_join", "allow_mod") if moderate else ("allow_join",),
        room_id=query.get("roomId"),
        participant_id=participant,
    )
    token = _issue(request, _admit(request, grant, None))["token"]
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
    answer = _issue(request, _admit(request, grant, fields.integer("ttl", required=False)))
    token_issued("videosdk", "participant")
    return json_response(answer)


async def _optional_body(request: web.Request) -> dict[str, Any]:
    """The examples' clients may post no body at all."""
    if not request.can_read_body:
        return {}
    return await read_json_object(request, allow_empty=True)


def _rest_token(request: web.Request) -> str:
    """A short-lived crawler token of the service's own for an admitted call. A token the
    client sends (as the examples' clients do) is not used: the participant tokens issued
    here carry the rtc role only, which VideoSDK refuses on its server API, and a call the
    service makes is one it has judged, with credentials it controls."""
    videosdk = request.app[SETTINGS].videosdk
    return str(_issue(request, admit_server_call(videosdk))["token"])


@needs_caller
async def create_meeting(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    fields = Fields(
        await _optional_body(request),
        allowed=("token", "customRoomId", "webhook", "autoCloseConfig", "region"),
    )
    body: dict[str, Any] = {}
    for name in ("webhook", "autoCloseConfig"):
        value = fields.value(name)
        if value is not None:
            if not isinstance(value, dict):
                raise ApiError.invalid_field(name, f"must be an object, got {json_type(value)}")
            body[name] = value
    # `region` is accepted for the examples' clients and dropped: VideoSDK discontinued it.
    fields.string("region", required=False)
    fields.string("token", required=False)  # accepted from the examples' clients, not used
    call = admit_meeting(
        caller_of(request),
        request.app[GATE].settings.policy.videosdk,
        room_id=fields.string("customRoomId", required=False),
        field="customRoomId",
        body=body,
    )
    room = await request.app[VIDEOSDK_API].create_room(call, _rest_token(request))
    return json_response({**room, "meetingId": room["roomId"]})


@needs_caller
async def validate_meeting(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    meeting_id = request.match_info["meetingId"]
    fields = Fields(await _optional_body(request), allowed=("token",))
    fields.string("token", required=False)  # accepted from the examples' clients, not used
    call = admit_meeting(
        caller_of(request),
        request.app[GATE].settings.policy.videosdk,
        room_id=meeting_id,
        field="meetingId",
    )
    room = await request.app[VIDEOSDK_API].validate_room(call, _rest_token(request))
    if room.get("disabled") is True:
        raise ApiError(
            410,
            ErrorCode.MEETING_DISABLED,
            f"meeting {meeting_id!r} exists but is disabled at VideoSDK",
        )
    return json_response({**room, "meetingId": room.get("roomId", meeting_id)})


# --- POST /videosdk/webhook ---


class WebhookKey:
    """VideoSDK's webhook public key: from configuration, or fetched once and cached. A
    failed fetch is remembered for KEY_RETRY_SECONDS: webhooks arriving meanwhile (forged
    ones included) get the same 5xx without another call to VideoSDK."""

    def __init__(self, pem: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._key: RSAPublicKey | None = load_public_key(pem) if pem else None
        self._lock = asyncio.Lock()
        self._clock = clock
        self._failure: tuple[float, ApiError] | None = None

    def _recent_failure(self) -> ApiError | None:
        if self._failure is not None and self._clock() - self._failure[0] < KEY_RETRY_SECONDS:
            return self._failure[1]
        return None

    async def get(self, request: web.Request) -> RSAPublicKey:
        if self._key is not None:
            return self._key
        async with self._lock:
            if self._key is None:
                if (failure := self._recent_failure()) is not None:
                    raise failure
                try:
                    self._key = await self._fetch(request)
                except ApiError as error:
                    self._failure = (self._clock(), error)
                    raise
        return self._key

    @staticmethod
    async def _fetch(request: web.Request) -> RSAPublicKey:
        _enabled_videosdk(request)
        pem = await request.app[VIDEOSDK_API].webhook_public_key(_rest_token(request))
        try:
            return load_public_key(pem)
        except ValueError:
            raise ApiError(
                502, ErrorCode.UPSTREAM_ERROR, "VideoSDK's webhook key is not an RSA key"
            ) from None


async def verify_videosdk_body(request: web.Request, body: bytes) -> bytes:
    """The "videosdk" signed-body scheme: RSA-SHA256 over the raw body."""
    key = await request.app[VIDEOSDK_WEBHOOK_KEY].get(request)
    verify_videosdk(body, request.headers.get("videosdk-signature"), key)
    return body


@takes_signed_body("videosdk")
async def videosdk_webhook(request: web.Request) -> web.Response:
    body: bytes = request[VERIFIED_BODY]
    event = parse_json(body, signed=True)
    if not isinstance(event, dict) or not isinstance(event.get("webhookType"), str):
        raise ApiError(400, ErrorCode.MALFORMED_EVENT, "webhook body is not a VideoSDK event")
    data = object_field(event, "data")
    # VideoSDK signs no delivery time; a session's end (or its start) is the event's own.
    stamp = data.get("end") if data.get("end") is not None else data.get("start")
    check_fresh(request, epoch_seconds(stamp))
    meeting = safe_name(data.get("meetingId"))
    # VideoSDK events carry no id of their own: the body's digest names a redelivery.
    event_id = "sha256:" + hashlib.sha256(body).hexdigest()
    return await take_event(
        request,
        provider="videosdk",
        event_id=event_id,
        ordering_key=f"meeting:{meeting}" if meeting is not None else "",
        body=body,
        summary={
            "event_type": event["webhookType"],
            "meeting": meeting,
            "session": data.get("sessionId"),
            "participant": data.get("participantId"),
        },
    )
