"""HTTP handlers for Agora tokens: the versioned API and the Go sample's /fetch_rtc_token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.agora.accesstoken2 import ServiceType
from service.agora.admission import (
    ROLES_BY_NAME,
    ApaasTokenRequest,
    ChatTokenRequest,
    RtcTokenRequest,
    RtmTokenRequest,
)
from service.agora.calls import (
    apaas_admission,
    chat_admission,
    enabled_agora,
    fpa_admission,
    issue_time_and_salt,
    rtc_admission,
    rtm_admission,
)
from service.agora.issue import (
    issue_apaas_token,
    issue_chat_token,
    issue_fpa_token,
    issue_rtc_token,
    issue_rtm_token,
    mint_rtc_token,
)
from service.agora.ncs import verify_ncs
from service.agora.shapes import (
    AgentTokenBody,
    ApaasTokenBody,
    ChatTokenBody,
    FpaTokenBody,
    RtcTokenBody,
    RtmTokenBody,
)
from service.agora.tokens import Role
from service.context import SETTINGS
from service.errors import ApiError, ErrorCode
from service.events import check_fresh, epoch_seconds, take_event
from service.metrics import token_issued
from service.responses import json_response
from service.selection import app_of, choose_app
from service.shapes import field_names
from service.store.base import safe_name
from service.validation import Fields, json_type, object_field, parse_json, read_json_object


def _role(fields: Fields) -> Role:
    name = fields.string("role")
    if name not in ROLES_BY_NAME:
        raise ApiError.invalid_field("role", "must be 'publisher' or 'subscriber'")
    return ROLES_BY_NAME[name]


async def rtc_token(request: web.Request) -> web.Response:
    return await _rtc_answer(request, RtcTokenBody, "rtc", agent=None)


async def convoai_token(request: web.Request) -> web.Response:
    """As ConvoAITokenBuilder: RTC and RTM login, and the ConvoAI service."""
    return await _rtc_answer(request, AgentTokenBody, "convoai", agent=ServiceType.CONVOAI)


async def stt_token(request: web.Request) -> web.Response:
    """As SttTokenBuilder: RTC and RTM login, and the speech-to-text service."""
    return await _rtc_answer(request, AgentTokenBody, "stt", agent=ServiceType.STT)


async def _rtc_answer(
    request: web.Request, body: Any, kind: str, agent: int | None
) -> web.Response:
    agora = enabled_agora(request)
    fields = Fields(await read_json_object(request), allowed=field_names(body))
    token_request = RtcTokenRequest(
        channel=fields.string("channel") or "",
        uid=fields.integer("uid", required=False),
        user_account=fields.string("user_account", required=False),
        role=_role(fields),
        expire=fields.integer("expire", required=False),
        privilege_expire=fields.integer_or_object("privilege_expire"),
        with_rtm=bool(fields.boolean("with_rtm", required=False)) if agent is None else False,
        rtm_user_id=fields.string("rtm_user_id", required=False),
        rtm_expire=fields.integer("rtm_expire", required=False),
        agent=agent,
    )
    grant = rtc_admission(request, agora, token_request)
    answer = issue_rtc_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", kind, app_of(request).name)
    return json_response(answer)


async def rtm_token(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    fields = Fields(await read_json_object(request), allowed=field_names(RtmTokenBody))
    permissions = fields.value("permissions")
    if permissions is not None and not isinstance(permissions, dict):
        raise ApiError.invalid_field(
            "permissions", f"must be an object, got {json_type(permissions)}"
        )
    ask = RtmTokenRequest(
        user_id=fields.string("user_id", required=False),
        expire=fields.integer("expire", required=False),
        permissions=permissions,
    )
    grant = rtm_admission(request, agora, ask)
    answer = issue_rtm_token(agora, grant, **issue_time_and_salt(request))
    kind = "rtm" if permissions is None else "rtm_permissions"
    token_issued("agora", kind, app_of(request).name)
    return json_response(answer)


async def apaas_token(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    fields = Fields(await read_json_object(request), allowed=field_names(ApaasTokenBody))
    ask = ApaasTokenRequest(
        kind=fields.string("kind") or "",
        room_uuid=fields.string("room_uuid", required=False),
        user_uuid=fields.string("user_uuid", required=False),
        role=fields.integer("role", required=False),
        expire=fields.integer("expire", required=False),
    )
    grant = apaas_admission(request, agora, ask)
    answer = issue_apaas_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", f"apaas_{ask.kind}", app_of(request).name)
    return json_response(answer)


async def fpa_token(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    Fields(await read_json_object(request, allow_empty=True), allowed=field_names(FpaTokenBody))
    grant = fpa_admission(request, agora)
    answer = issue_fpa_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", "fpa", app_of(request).name)
    return json_response(answer)


async def chat_token(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    fields = Fields(await read_json_object(request), allowed=field_names(ChatTokenBody))
    ask = ChatTokenRequest(
        kind=fields.string("kind") or "",
        user_id=fields.string("user_id", required=False),
        expire=fields.integer("expire", required=False),
    )
    grant = chat_admission(request, agora, ask)
    answer = issue_chat_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", f"chat_{ask.kind}", app_of(request).name)
    return json_response(answer)


# --- POST /fetch_rtc_token: Agora's Go token-server sample, for its unchanged clients ---

_SAMPLE_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "*",
}
# The sample's roles: 1 publisher, 2 subscriber; 0 (attendee) and 101 (admin) are
# deprecated 006 roles that official builders treat as publisher.
_SAMPLE_ROLES = {0: Role.PUBLISHER, 1: Role.PUBLISHER, 2: Role.SUBSCRIBER, 101: Role.PUBLISHER}


def _sample_cors_headers(request: web.Request) -> dict[str, str]:
    origins = request.app[SETTINGS].cors_allow_origins
    if origins == ("*",):
        return dict(_SAMPLE_CORS)
    origin = request.headers.get("Origin")
    if origin not in origins:
        return {"Vary": "Origin"}
    return {**_SAMPLE_CORS, "Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def sample_error(request: web.Request, error: ApiError) -> web.Response:
    # The sample's clients read "token" from every answer; errors put the message there.
    headers = {**_sample_cors_headers(request), **error.headers}
    return json_response(
        {"code": str(error.status), "token": error.message}, status=error.status, headers=headers
    )


def _sample_fields(body: dict[str, Any]) -> dict[str, Any]:
    # Go's JSON decoder matches field names case-insensitively: the sample's web client
    # sends channelName, its Android client ChannelName.
    known = {"uid": "uid", "channelname": "channelName", "role": "role"}
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = known.get(key.lower())
        if name is None:
            continue  # the sample ignores unknown fields, and so do we here
        if name in fields:
            raise ApiError.invalid_field(name, "is given twice (names differ only in case)")
        fields[name] = value
    return fields


def _sample_integer(fields: dict[str, Any], name: str) -> int:
    value = fields.get(name)
    if value is None:
        raise ApiError.invalid_field(name, "is required")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError.invalid_field(name, f"must be a number, got {json_type(value)}")
    return value


async def fetch_rtc_token(request: web.Request) -> web.Response:
    if request.method == "OPTIONS":
        return web.Response(
            status=200,
            headers={
                **_sample_cors_headers(request),
                "Content-Type": "application/json; charset=UTF-8",
            },
        )
    if request.method != "POST":
        raise ApiError(
            405,
            ErrorCode.METHOD_NOT_ALLOWED,
            "Unsupported method. Please check.",
            headers={"Allow": "POST, OPTIONS"},
        )
    agora = enabled_agora(request)
    fields = _sample_fields(await read_json_object(request))
    uid = _sample_integer(fields, "uid")
    channel = fields.get("channelName")
    if channel is None:
        raise ApiError.invalid_field("channelName", "is required")
    if not isinstance(channel, str):
        raise ApiError.invalid_field("channelName", f"must be a string, got {json_type(channel)}")
    role_number = _sample_integer(fields, "role")
    if role_number not in _SAMPLE_ROLES:
        raise ApiError.invalid_field("role", "must be 1 (publisher) or 2 (subscriber)")
    grant = rtc_admission(
        request, agora, RtcTokenRequest(channel=channel, uid=uid, role=_SAMPLE_ROLES[role_number])
    )
    token = mint_rtc_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", "rtc", app_of(request).name)
    return json_response({"code": "200", "token": token}, headers=_sample_cors_headers(request))


# --- POST /agora/webhook: Agora Notification Center (NCS) ---


async def verify_ncs_body(request: web.Request, body: bytes) -> bytes:
    """NCS's HMAC of the raw body (the route's signed_body check)."""
    # NCS does not say which app a notice is for: the path prefix does (or the default).
    secret = choose_app(request, None).agora.ncs_secret
    if secret is None:
        raise ApiError.not_configured("Agora's NCS webhook receiver", "set AGORA_NCS_SECRET")
    verify_ncs(
        body,
        signature_v2=request.headers.get("Agora-Signature-V2"),
        signature_v1=request.headers.get("Agora-Signature"),
        secret=secret,
    )
    return body


async def agora_webhook(request: web.Request, body: bytes) -> web.Response:
    event = parse_json(body, signed=True)
    notice_id = safe_name(event.get("noticeId")) if isinstance(event, dict) else None
    if notice_id is None:
        raise ApiError(400, ErrorCode.MALFORMED_EVENT, "webhook body is not an Agora NCS notice")
    # notifyMs is when this attempt was sent (NCS updates it on every resend).
    check_fresh(request, epoch_seconds(event.get("notifyMs")))
    payload = object_field(event, "payload")
    channel = safe_name(payload.get("channelName"))
    # NCS resends a notice under the same noticeId (notifyMs changes): dedupe on it.
    return await take_event(
        request,
        provider="agora",
        event_id=notice_id,
        ordering_key=f"channel:{channel}" if channel is not None else "",
        body=body,
        summary={
            "event_type": event.get("eventType"),
            "product_id": event.get("productId"),
            "channel": channel,
            "uid": payload.get("uid"),
        },
    )
