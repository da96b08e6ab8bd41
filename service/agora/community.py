"""Drop-in routes for the community Agora token servers: AgoraIO-Community's
agora-token-service (Go) and Agora-Node-TokenServer (Node), for apps that switch by
changing one URL.

Same paths, parameters and answer keys; without their defects: a uid above 4294967295 is
an error (never truncated into an any-uid token), errors are JSON with a 4xx status, and a
request without an Origin header is served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from service.access.identity import IdentityError, ascii_uid
from service.agora.accesstoken2 import RtcPrivilege
from service.agora.admission import ChatTokenRequest, RtcTokenRequest, RtmTokenRequest
from service.agora.calls import (
    chat_admission,
    enabled_agora,
    issue_time_and_salt,
    rtc_admission,
    rtm_admission,
)
from service.agora.issue import issue_chat_token, issue_rtm_token, mint_rtc_token
from service.agora.settings import AgoraSettings
from service.agora.shapes import (
    ChatAnswer,
    CommunityError,
    CommunityTokenBody,
    PingAnswer,
    RtcAnswer,
    RteAnswer,
    RtmAnswer,
)
from service.agora.tokens import Role
from service.errors import ApiError
from service.metrics import token_issued
from service.responses import json_response
from service.selection import app_of
from service.shapes import TokenAnswer, field_names
from service.validation import Fields, read_json_object

# What both servers send on every answer, so no proxy or browser caches a token.
NO_CACHE = {
    "Cache-Control": "private, no-cache, no-store, must-revalidate",
    "Expires": "-1",
    "Pragma": "no-cache",
}
# The Node server calls a subscriber "audience".
ROLES = {"publisher": Role.PUBLISHER, "subscriber": Role.SUBSCRIBER, "audience": Role.SUBSCRIBER}
# What an RTM stream channel needs, as agora-token-service mints it: join and send data.
_STREAM_PRIVILEGES = frozenset(
    {RtcPrivilege.JOIN_CHANNEL.value, RtcPrivilege.PUBLISH_DATA_STREAM.value}
)


def community_error(request: web.Request, error: ApiError) -> web.Response:
    # Their clients read "error" (Node) or "message" (Go); both carry the reason.
    body = CommunityError(error=error.message, message=error.message, status=error.status)
    # Their own no-cache headers win over the generic no-store.
    return json_response(body, status=error.status, headers={**error.headers, **NO_CACHE})


def _answer(body: Mapping[str, Any]) -> web.Response:
    return json_response(body, headers=NO_CACHE)


def _role(value: str) -> Role:
    if value not in ROLES:
        raise ApiError.invalid_field("role", "must be publisher or subscriber (or audience)")
    return ROLES[value]


def _uid(value: str) -> int:
    # agora-token-service casts to uint32, so 4294967296 became uid 0: a token for anyone.
    # Here it is refused, and so is every other spelling than plain ASCII digits.
    try:
        return ascii_uid(value)
    except IdentityError as error:
        raise ApiError.invalid_field("uid", str(error)) from None


def _expiry(request: web.Request) -> int | None:
    raw = request.query.get("expiry")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ApiError.invalid_field("expiry", "must be a whole number of seconds")
    return int(raw)


def _rtc_request(
    channel: str, role: str, id_kind: str, user: str, expire: int | None
) -> RtcTokenRequest:
    if id_kind == "uid":
        return RtcTokenRequest(channel=channel, uid=_uid(user), role=_role(role), expire=expire)
    if id_kind == "userAccount":
        return RtcTokenRequest(channel=channel, user_account=user, role=_role(role), expire=expire)
    raise ApiError.invalid_field("tokenType", "must be uid or userAccount")


def _rtc_token(request: web.Request, agora: AgoraSettings, ask: RtcTokenRequest) -> str:
    grant = rtc_admission(request, agora, ask)
    token = mint_rtc_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", "rtc", app_of(request).name)
    return token


def _rtm_token(request: web.Request, agora: AgoraSettings, user: str, expire: int | None) -> str:
    grant = rtm_admission(request, agora, RtmTokenRequest(user_id=user, expire=expire))
    answer = issue_rtm_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", "rtm", app_of(request).name)
    return str(answer["token"])


def _chat_token(
    request: web.Request, agora: AgoraSettings, user: str | None, expire: int | None
) -> str:
    kind = "user" if user is not None else "app"
    grant = chat_admission(request, agora, ChatTokenRequest(kind=kind, user_id=user, expire=expire))
    answer = issue_chat_token(agora, grant, **issue_time_and_salt(request))
    token_issued("agora", f"chat_{kind}", app_of(request).name)
    return str(answer["token"])


def _rtm_stream_token(
    request: web.Request, agora: AgoraSettings, user: str, channel: str, expire: int | None
) -> str:
    """RTM login plus what an RTM stream channel needs, as agora-token-service mints it:
    join and publish data in that channel, for the same user."""
    ask = RtcTokenRequest(
        channel=channel,
        rtm_user=user,
        role=Role.PUBLISHER,
        expire=expire,
        with_rtm=True,
        only_privileges=_STREAM_PRIVILEGES,
    )
    return _rtc_token(request, agora, ask)


async def ping(request: web.Request) -> web.Response:
    return _answer(PingAnswer(message="pong"))


async def rtc(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    match = request.match_info
    ask = _rtc_request(
        match["channelName"], match["role"], match["tokenType"], match["rtcuid"], _expiry(request)
    )
    return _answer(RtcAnswer(rtcToken=_rtc_token(request, agora, ask)))


async def rtm(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    user = request.match_info["rtmuid"]
    return _answer(RtmAnswer(rtmToken=_rtm_token(request, agora, user, _expiry(request))))


async def rte(request: web.Request) -> web.Response:
    """Two tokens, RTC and RTM; the RTM user defaults to the RTC uid."""
    agora = enabled_agora(request)
    match, expire = request.match_info, _expiry(request)
    ask = _rtc_request(
        match["channelName"], match["role"], match["tokenType"], match["rtcuid"], expire
    )
    rtm_user = match.get("rtmuid") or match["rtcuid"]
    return _answer(
        RteAnswer(
            rtcToken=_rtc_token(request, agora, ask),
            rtmToken=_rtm_token(request, agora, rtm_user, expire),
        )
    )


async def chat_app(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    return _answer(ChatAnswer(chatToken=_chat_token(request, agora, None, _expiry(request))))


async def chat_account(request: web.Request) -> web.Response:
    agora = enabled_agora(request)
    user = request.match_info["chatid"]
    return _answer(ChatAnswer(chatToken=_chat_token(request, agora, user, _expiry(request))))


async def get_token(request: web.Request) -> web.Response:
    """POST /getToken {tokenType, channel, role, uid, expire}."""
    agora = enabled_agora(request)
    fields = Fields(await read_json_object(request), allowed=field_names(CommunityTokenBody))
    wanted = fields.string("tokenType")
    uid = fields.string("uid", required=wanted != "chat")
    expire = fields.integer("expire", required=False)
    if wanted == "rtc":
        rtc_channel = fields.string("channel") or ""
        role = fields.string("role") or ""
        # A uid that reads as a number is a uid; anything else is a user account.
        kind = "uid" if uid and uid.isascii() and uid.isdigit() else "userAccount"
        ask = _rtc_request(rtc_channel, role, kind, uid or "", expire)
        token = _rtc_token(request, agora, ask)
    elif wanted == "rtm":
        channel = fields.string("channel", required=False)
        if channel:
            token = _rtm_stream_token(request, agora, uid or "", channel, expire)
        else:
            token = _rtm_token(request, agora, uid or "", expire)
    elif wanted == "chat":
        token = _chat_token(request, agora, uid or None, expire)
    else:
        raise ApiError.invalid_field("tokenType", "must be rtc, rtm or chat")
    return _answer(TokenAnswer(token=token))
