"""HTTP handlers for LiveKit: OpenVidu's /token, the versioned token route, LiveKit's
standard token endpoint (connection-details), and the webhook receiver."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from service.access.admission import Admitted
from service.access.gate import caller_of
from service.context import APPS, CLOCK
from service.errors import ApiError, ErrorCode
from service.events import check_fresh, epoch_seconds, take_event
from service.livekit.admission import LiveKitGrant, admit_participant
from service.livekit.issue import issue_participant_token, signing_key_of
from service.livekit.settings import LiveKitSettings
from service.livekit.shapes import (
    ConnectionDetailsAnswer,
    ConnectionDetailsBody,
    LiveKitTokenBody,
    OpenViduError,
)
from service.livekit.tokens import (
    AGENT_DISPATCH_TYPES,
    CLAIM_GROUP_TYPES,
    ROOM_CONFIG_TYPES,
    ParticipantGrant,
)
from service.livekit.webhook import VerifiedWebhook, summarize_event, verify_webhook
from service.logs import get_logger
from service.metrics import token_issued
from service.responses import json_response
from service.selection import app_of, choose_app
from service.shapes import TokenAnswer, field_names
from service.store.base import safe_name
from service.validation import Fields, json_type, parse_json, read_json_object

log = get_logger("service.livekit")


def _enabled_livekit(request: web.Request) -> LiveKitSettings:
    """LiveKit's settings, or a 503 naming the variables to set, before reading a body."""
    livekit = app_of(request).livekit
    signing_key_of(livekit)
    return livekit


def _now(request: web.Request) -> int:
    return int(request.app[CLOCK]())


def _admit(
    request: web.Request,
    livekit: LiveKitSettings,
    grant: ParticipantGrant,
    ttl: int | None,
    identity_field: str = "identity",
) -> Admitted[LiveKitGrant]:
    """admit_participant for this request's caller and policy."""
    policy = app_of(request).policy.livekit
    return admit_participant(
        livekit, caller_of(request), policy, grant, ttl=ttl, identity_field=identity_field
    )


# --- POST /token: OpenVidu's application-server contract, for its unchanged clients ---

OPENVIDU_REQUIRED = "roomName and participantName are required"


def openvidu_error(request: web.Request, error: ApiError) -> web.Response:
    # OpenVidu's clients read errorMessage from every failure.
    body = OpenViduError(errorMessage=error.message)
    return json_response(body, status=error.status, headers=error.headers)


async def openvidu_token(request: web.Request) -> web.Response:
    livekit = _enabled_livekit(request)
    body = await read_json_object(request)
    room, participant = body.get("roomName"), body.get("participantName")
    if not (isinstance(room, str) and room and isinstance(participant, str) and participant):
        raise ApiError(400, ErrorCode.INVALID_FIELD, OPENVIDU_REQUIRED)
    # Signed in (jwt mode), admission makes the identity the caller's own; the name stays
    # as asked.
    identity = "" if caller_of(request).identity is not None else participant
    grant = ParticipantGrant(
        identity=identity, name=participant, video={"roomJoin": True, "room": room}
    )
    admitted = _admit(request, livekit, grant, None)
    issued = issue_participant_token(livekit, admitted, issued_at=_now(request))
    token_issued("livekit", "openvidu", app_of(request).name)
    return json_response(TokenAnswer(token=issued["token"]))


# --- POST /v1/livekit/token ---


def _object(fields: Fields, name: str) -> dict[str, Any]:
    value = fields.value(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError.invalid_field(name, f"must be an object, got {json_type(value)}")
    return value


def _video_grant(room: str | None, video: dict[str, Any], *, other: bool) -> dict[str, Any]:
    """`room` is the short way to say {"roomJoin": true, "room": room}. `other`: the
    token grants something else (a claim group), so it may have no video grant."""
    if room is None:
        if not video and not other:
            raise ApiError.invalid_field(
                "room", "is required (or give a video grant or another claim group)"
            )
        return video
    if video.get("room", room) != room:
        raise ApiError.invalid_field("video.room", "differs from room")
    return {"roomJoin": True, **video, "room": room}


async def livekit_token(request: web.Request) -> web.Response:
    livekit = _enabled_livekit(request)
    fields = Fields(await read_json_object(request), allowed=field_names(LiveKitTokenBody))
    given = fields.string("identity", required=caller_of(request).identity is None)
    groups = {
        group: _object(fields, group)
        for group in CLAIM_GROUP_TYPES
        if fields.value(group) is not None
    }
    grant = ParticipantGrant(
        identity=given or "",
        name=fields.string("name", required=False) or "",
        metadata=fields.string("metadata", required=False) or "",
        attributes=_object(fields, "attributes"),
        kind=fields.string("kind", required=False) or "",
        video=_video_grant(
            fields.string("room", required=False), _object(fields, "video"), other=bool(groups)
        ),
        room_config=_object(fields, "roomConfig"),
        groups=groups,
        room_preset=fields.string("roomPreset", required=False) or "",
    )
    admitted = _admit(request, livekit, grant, fields.integer("ttl", required=False))
    issued = issue_participant_token(livekit, admitted, issued_at=_now(request))
    token_issued("livekit", "participant", app_of(request).name)
    return json_response(issued)


# --- POST /v1/livekit/connection-details: LiveKit's standard token endpoint ---


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


_ROOM_CONFIG_BY_SNAKE = {_snake(name): name for name in ROOM_CONFIG_TYPES}
_AGENT_BY_SNAKE = {_snake(name): name for name in AGENT_DISPATCH_TYPES}


def _camel_keys(value: Mapping[str, Any], names: Mapping[str, str], where: str) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for key, item in value.items():
        if key not in names:
            raise ApiError.invalid_field(f"{where}.{key}", "is not a field LiveKit defines here")
        converted[names[key]] = item
    return converted


def _room_config_from_snake(config: dict[str, Any]) -> dict[str, Any]:
    """LiveKit's clients send room_config in protobuf field names; tokens carry protojson."""
    converted = _camel_keys(config, _ROOM_CONFIG_BY_SNAKE, "room_config")
    agents = converted.get("agents")
    if isinstance(agents, list):
        converted["agents"] = [
            _camel_keys(agent, _AGENT_BY_SNAKE, f"room_config.agents[{i}]")
            if isinstance(agent, dict)
            else agent
            for i, agent in enumerate(agents)
        ]
    return converted


async def connection_details(request: web.Request) -> web.Response:
    livekit = _enabled_livekit(request)
    if livekit.url is None:
        raise ApiError.not_configured(
            "LiveKit's server address", "set LIVEKIT_URL (clients need its ws(s):// address)"
        )
    fields = Fields(await read_json_object(request), allowed=field_names(ConnectionDetailsBody))
    # Every field is optional in LiveKit's contract: make up what is missing.
    room = fields.string("room_name", required=False) or f"room-{secrets.token_hex(4)}"
    given = fields.string("participant_identity", required=False) or ""
    # Signed in, admission fills in the caller's own identity; otherwise make one up.
    signed_in = caller_of(request).identity is not None
    identity = given or ("" if signed_in else f"participant-{secrets.token_hex(4)}")
    name = fields.string("participant_name", required=False) or ""
    grant = ParticipantGrant(
        identity=identity,
        name=name,
        metadata=fields.string("participant_metadata", required=False) or "",
        attributes=_object(fields, "participant_attributes"),
        video={"roomJoin": True, "room": room},
        room_config=_room_config_from_snake(_object(fields, "room_config")),
    )
    admitted = _admit(request, livekit, grant, None, "participant_identity")
    issued = issue_participant_token(livekit, admitted, issued_at=_now(request))
    token_issued("livekit", "connection_details", app_of(request).name)
    answer = ConnectionDetailsAnswer(
        server_url=livekit.url,
        participant_token=issued["token"],
        participant_name=name or admitted.value.identity,
        room_name=room,
    )
    return json_response(answer, status=201)


# --- POST /livekit/webhook ---


async def verify_livekit_body(request: web.Request, body: bytes) -> VerifiedWebhook:
    """LiveKit server's webhook signature (the route's signed_body check), with the keys
    of every app: the signing key names the app (no key belongs to two apps), which a
    path prefix may only confirm."""
    apps = request.app[APPS].current
    if not apps.livekit_secrets:
        raise ApiError.not_configured(
            "LiveKit",
            "set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or LIVEKIT_KEYS / LIVEKIT_KEY_FILE)",
        )
    verified = verify_webhook(
        body, request.headers.get("Authorization"), apps.livekit_secrets, now=request.app[CLOCK]()
    )
    choose_app(request, apps.by_name[apps.by_livekit_key[verified.api_key]])
    return verified


def _ordering_key(event: dict[str, Any]) -> str:
    """LiveKit's own queue key: egress, ingress, room, participant, track, in that order."""
    for name, key in (
        ("egressInfo", "egressId"),
        ("ingressInfo", "ingressId"),
        ("room", "name"),
        ("participant", "identity"),
        ("track", "sid"),
    ):
        value = event.get(name)
        named = safe_name(value.get(key)) if isinstance(value, dict) else None
        if named is not None:
            return f"{name}:{named}"
    return ""


async def livekit_webhook(request: web.Request, verified: VerifiedWebhook) -> web.Response:
    event = parse_json(verified.body, signed=True)
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise ApiError(400, ErrorCode.MALFORMED_EVENT, "webhook body is not a LiveKit event")
    # LiveKit stamps every event with an id; fall back to the body's digest if absent.
    event_id = safe_name(event.get("id"))
    if event_id is None:
        event_id = "sha256:" + hashlib.sha256(verified.body).hexdigest()
    # LiveKit stamps createdAt (seconds); its signing token's exp bounds replays as well.
    check_fresh(request, epoch_seconds(event.get("createdAt")))
    summary = summarize_event(event)
    return await take_event(
        request,
        provider="livekit",
        event_id=event_id,
        ordering_key=_ordering_key(event),
        body=verified.body,
        summary={**summary, "api_key": verified.api_key},
    )
