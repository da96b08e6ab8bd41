"""HTTP handlers for VideoSDK: the example servers' /get-token, /create-meeting and
/validate-meeting/{meetingId}, and the versioned /v1/videosdk/token."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from service.access.admission import Admitted
from service.access.gate import caller_of
from service.context import CLOCK, TOKEN_IDS
from service.errors import ApiError, ErrorCode
from service.events import check_fresh, epoch_seconds, take_event
from service.metrics import token_issued
from service.responses import json_response
from service.selection import app_of, choose_app
from service.shapes import TokenAnswer, field_names
from service.store.base import safe_name
from service.validation import Fields, json_type, object_field, parse_json, read_json_object
from service.videosdk.admission import (
    VideoSdkGrant,
    admit_meeting,
    admit_server_call,
    admit_token,
    may_moderate,
)
from service.videosdk.api import VIDEOSDK_API, VideoSdkApi
from service.videosdk.issue import credentials_of, issue_token
from service.videosdk.settings import VideoSdkSettings
from service.videosdk.shapes import (
    CreateMeetingBody,
    ValidateMeetingBody,
    VideoSdkTokenAnswer,
    VideoSdkTokenBody,
)
from service.videosdk.tokens import TokenGrant
from service.videosdk.webhook import decode_signature, verify_videosdk
from service.videosdk.webhook_key import VIDEOSDK_WEBHOOK_KEYS


def _enabled_videosdk(request: web.Request) -> VideoSdkSettings:
    videosdk = app_of(request).videosdk
    credentials_of(videosdk)
    return videosdk


def _api(request: web.Request) -> VideoSdkApi:
    """The REST client for this request's app's API address."""
    videosdk = app_of(request).videosdk
    return request.app[VIDEOSDK_API].client(videosdk.endpoint, videosdk.timeout)


def _issue(request: web.Request, admitted: Admitted[VideoSdkGrant]) -> VideoSdkTokenAnswer:
    return issue_token(
        app_of(request).videosdk,
        admitted,
        issued_at=int(request.app[CLOCK]()),
        token_id=request.app[TOKEN_IDS](),
    )


def _admit(request: web.Request, grant: TokenGrant, ttl: int | None) -> Admitted[VideoSdkGrant]:
    """admit_token for this request's caller and policy."""
    policy = app_of(request).policy.videosdk
    videosdk = app_of(request).videosdk
    return admit_token(videosdk, caller_of(request), policy, grant, ttl=ttl)


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
    policy = app_of(request).policy.videosdk
    moderate = may_moderate(videosdk, policy)
    grant = TokenGrant(
        permissions=("allow_join", "allow_mod") if moderate else ("allow_join",),
        room_id=query.get("roomId"),
        participant_id=participant,
    )
    token = _issue(request, _admit(request, grant, None))["token"]
    token_issued("videosdk", "participant", app_of(request).name)
    return json_response(TokenAnswer(token=token))


def _strings(fields: Fields, name: str) -> Sequence[str] | None:
    value = fields.value(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError.invalid_field(name, f"must be a list of strings, got {json_type(value)}")
    return tuple(value)


async def videosdk_token(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    fields = Fields(
        await read_json_object(request),
        allowed=field_names(VideoSdkTokenBody),
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
    token_issued("videosdk", "participant", app_of(request).name)
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
    videosdk = app_of(request).videosdk
    return str(_issue(request, admit_server_call(videosdk))["token"])


async def create_meeting(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    fields = Fields(
        await _optional_body(request),
        allowed=field_names(CreateMeetingBody),
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
        app_of(request).policy.videosdk,
        room_id=fields.string("customRoomId", required=False),
        field="customRoomId",
        body=body,
    )
    room = await _api(request).create_room(call, _rest_token(request))
    return json_response({**room, "meetingId": room["roomId"]})


async def validate_meeting(request: web.Request) -> web.Response:
    _enabled_videosdk(request)
    meeting_id = request.match_info["meetingId"]
    fields = Fields(await _optional_body(request), allowed=field_names(ValidateMeetingBody))
    fields.string("token", required=False)  # accepted from the examples' clients, not used
    call = admit_meeting(
        caller_of(request),
        app_of(request).policy.videosdk,
        room_id=meeting_id,
        field="meetingId",
    )
    room = await _api(request).validate_room(call, _rest_token(request))
    if room.get("disabled") is True:
        raise ApiError(
            410,
            ErrorCode.MEETING_DISABLED,
            f"meeting {meeting_id!r} exists but is disabled at VideoSDK",
        )
    return json_response({**room, "meetingId": room.get("roomId", meeting_id)})


# --- POST /videosdk/webhook ---


async def verify_videosdk_body(request: web.Request, body: bytes) -> bytes:
    """RSA-SHA256 over the raw body (the route's signed_body check). A request with no
    usable signature is refused before VideoSDK is asked for its key."""
    signature = request.headers.get("videosdk-signature")
    decode_signature(signature)
    app = choose_app(request, None)

    async def fetch_pem() -> str:
        _enabled_videosdk(request)
        return await _api(request).webhook_public_key(_rest_token(request))

    key = await request.app[VIDEOSDK_WEBHOOK_KEYS].for_app(app.name, app.videosdk).get(fetch_pem)
    verify_videosdk(body, signature, key)
    return body


async def videosdk_webhook(request: web.Request, body: bytes) -> web.Response:
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
