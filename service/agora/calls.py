"""From a request to Agora's admission and issue layers: what every Agora handler (the
versioned API, the Go sample, the community routes) needs of the request it serves."""

from __future__ import annotations

from aiohttp import web

from service.access.admission import Admitted
from service.access.gate import caller_of
from service.agora.admission import (
    ApaasGrant,
    ApaasTokenRequest,
    ChatGrant,
    ChatTokenRequest,
    FpaGrant,
    RtcGrant,
    RtcTokenRequest,
    RtmGrant,
    RtmTokenRequest,
    admit_apaas,
    admit_chat,
    admit_fpa,
    admit_rtc,
    admit_rtm,
)
from service.agora.issue import credentials_of
from service.agora.settings import AgoraSettings
from service.context import CLOCK, SALT
from service.selection import app_of


def enabled_agora(request: web.Request) -> AgoraSettings:
    """Agora's settings, or a 503 naming the variables to set, before reading any body."""
    agora = app_of(request).agora
    credentials_of(agora)
    return agora


def issue_time_and_salt(request: web.Request) -> dict[str, int]:
    return {"issue_ts": int(request.app[CLOCK]()), "salt": request.app[SALT]()}


def rtc_admission(
    request: web.Request, agora: AgoraSettings, ask: RtcTokenRequest
) -> Admitted[RtcGrant]:
    """admit_rtc for this request's caller and policy."""
    policy = app_of(request).policy.agora
    return admit_rtc(agora, caller_of(request), policy, ask)


def rtm_admission(
    request: web.Request, agora: AgoraSettings, ask: RtmTokenRequest
) -> Admitted[RtmGrant]:
    policy = app_of(request).policy.agora
    return admit_rtm(agora, caller_of(request), policy, ask)


def chat_admission(
    request: web.Request, agora: AgoraSettings, ask: ChatTokenRequest
) -> Admitted[ChatGrant]:
    policy = app_of(request).policy.agora
    return admit_chat(agora, caller_of(request), policy, ask)


def apaas_admission(
    request: web.Request, agora: AgoraSettings, ask: ApaasTokenRequest
) -> Admitted[ApaasGrant]:
    return admit_apaas(agora, caller_of(request), app_of(request).policy.agora, ask)


def fpa_admission(request: web.Request, agora: AgoraSettings) -> Admitted[FpaGrant]:
    return admit_fpa(agora, app_of(request).policy.agora)
