"""From an admitted grant to a token and the facts a client needs about it.

Shared by the HTTP handlers and the CLI. Only grants that passed admission
(service/agora/admission.py) are signed. Pure: the issue time and salt are arguments.
"""

from __future__ import annotations

from typing import Any

from service.access.admission import Admitted, require_admitted
from service.agora import accesstoken006, accesstoken2, tokens
from service.agora.accesstoken2 import PRIVILEGE_NAMES, RtcPrivilege, Rtm2Permissions, ServiceType
from service.agora.admission import (
    AGENT_NAMES,
    ROLE_NAMES,
    ApaasGrant,
    ChatGrant,
    FpaGrant,
    RtcGrant,
    RtmGrant,
)
from service.agora.rules import RENEWAL_WARNING_SECONDS
from service.agora.settings import AgoraSettings
from service.agora.shapes import AgoraTokenAnswer
from service.agora.tokens import AgoraCredentials
from service.errors import ApiError


def credentials_of(agora: AgoraSettings) -> AgoraCredentials:
    if agora.credentials is None:
        raise ApiError.not_configured("Agora", "set AGORA_APP_ID and AGORA_APP_CERTIFICATE")
    return agora.credentials


def _answer(
    token: str,
    version: str,
    app_id: str,
    grants: dict[str, Any],
    *,
    issue_ts: int,
    token_expire: int,
    privilege_expire: int,
) -> AgoraTokenAnswer:
    privileges_expire_at = issue_ts + privilege_expire
    return AgoraTokenAnswer(
        token=token,
        version=version,
        app_id=app_id,
        grants=grants,
        issued_at=issue_ts,
        expires_at=issue_ts + token_expire,
        privileges_expire_at=privileges_expire_at,
        # When the SDK fires tokenPrivilegeWillExpire: fetch a new token then.
        renew_at=privileges_expire_at - RENEWAL_WARNING_SECONDS,
        expires_in=token_expire,
    )


def _privilege_expiries(
    service_type: ServiceType, privileges: dict[int, int], issue_ts: int
) -> dict[str, int]:
    """Privilege name -> when it expires (unix seconds), for the answer."""
    names = PRIVILEGE_NAMES[service_type]
    return {names[p]: issue_ts + privileges[p] for p in sorted(privileges)}


def mint_rtc_token(
    agora: AgoraSettings, admitted: Admitted[RtcGrant], *, issue_ts: int, salt: int
) -> str:
    require_admitted(admitted)
    grant = admitted.value
    return tokens.build_rtc_token(
        credentials_of(agora),
        grant.channel,
        grant.who,
        grant.privileges,
        token_expire=grant.token_expire,
        issue_ts=issue_ts,
        salt=salt,
        version=agora.token_version,
        rtm_user_id=grant.rtm_user_id,
        rtm_expire=grant.rtm_expire,
        agent=grant.agent,
    )


def issue_rtc_token(
    agora: AgoraSettings, admitted: Admitted[RtcGrant], *, issue_ts: int, salt: int
) -> AgoraTokenAnswer:
    """The token with the facts a client needs: grants, expiry and when to renew."""
    token = mint_rtc_token(agora, admitted, issue_ts=issue_ts, salt=salt)
    grant = admitted.value
    who, privileges = grant.who, grant.privileges
    rtc: dict[str, Any] = {"channel": grant.channel}
    if isinstance(who, int):
        rtc["uid"] = who
    else:
        rtc["user_account"] = who
    rtc["role"] = ROLE_NAMES[grant.role]
    rtc["privileges"] = _privilege_expiries(ServiceType.RTC, privileges, issue_ts)
    grants: dict[str, Any] = {"rtc": rtc}
    token_expire = grant.token_expire
    if grant.rtm_user_id is not None:
        login = token_expire if grant.rtm_expire is None else grant.rtm_expire
        grants["rtm"] = {"user_id": grant.rtm_user_id, "privileges": {"login": issue_ts + login}}
    if grant.agent is not None:
        grants[AGENT_NAMES[grant.agent]] = {}
    if agora.token_version == accesstoken006.VERSION:
        # A 006 token's own lifetime is fixed at 24 h; its privileges end it sooner.
        token_expire = privileges[RtcPrivilege.JOIN_CHANNEL]
    return _answer(
        token,
        agora.token_version,
        credentials_of(agora).app_id,
        grants,
        issue_ts=issue_ts,
        token_expire=token_expire,
        # The SDK warns when the first privilege is about to expire.
        privilege_expire=min(privileges.values()),
    )


def issue_rtm_token(
    agora: AgoraSettings, admitted: Admitted[RtmGrant], *, issue_ts: int, salt: int
) -> AgoraTokenAnswer:
    require_admitted(admitted)
    credentials = credentials_of(agora)
    grant = admitted.value
    rtm: dict[str, Any] = {
        "user_id": grant.user_id,
        "privileges": {"login": issue_ts + grant.expire},
    }
    if grant.permissions is None:
        token = tokens.build_rtm_token(
            credentials,
            grant.user_id,
            expire=grant.expire,
            issue_ts=issue_ts,
            salt=salt,
            version=agora.token_version,
        )
    else:
        token = tokens.build_rtm_token_with_permissions(
            credentials,
            grant.user_id,
            grant.permissions,
            expire=grant.expire,
            issue_ts=issue_ts,
            salt=salt,
        )
        rtm["permissions"] = _permission_names(grant.permissions)
    return _answer(
        token,
        agora.token_version,
        credentials.app_id,
        {"rtm": rtm},
        issue_ts=issue_ts,
        token_expire=grant.expire,
        privilege_expire=grant.expire,
    )


def issue_chat_token(
    agora: AgoraSettings, admitted: Admitted[ChatGrant], *, issue_ts: int, salt: int
) -> AgoraTokenAnswer:
    require_admitted(admitted)
    credentials = credentials_of(agora)
    grant = admitted.value
    expire = grant.expire
    chat: dict[str, Any]
    if grant.kind == "app":
        token = tokens.build_chat_app_token(
            credentials, expire=expire, issue_ts=issue_ts, salt=salt
        )
        chat = {"privileges": {"app": issue_ts + expire}}
    else:
        user_id = grant.user_id or ""
        token = tokens.build_chat_user_token(
            credentials, user_id, expire=expire, issue_ts=issue_ts, salt=salt
        )
        chat = {"user_id": user_id, "privileges": {"user": issue_ts + expire}}
    return _answer(
        token,
        "007",  # Chat exists only in AccessToken2
        credentials.app_id,
        {"chat": chat},
        issue_ts=issue_ts,
        token_expire=expire,
        privilege_expire=expire,
    )


def _permission_names(permissions: Rtm2Permissions) -> dict[str, dict[str, list[str]]]:
    resources = {number: name for name, number in tokens.RTM2_RESOURCES.items()}
    kinds = {number: name for name, number in tokens.RTM2_PERMISSIONS.items()}
    return {
        resources[resource]: {kinds[kind]: list(names) for kind, names in by_kind.items()}
        for resource, by_kind in permissions.items()
    }


def issue_apaas_token(
    agora: AgoraSettings, admitted: Admitted[ApaasGrant], *, issue_ts: int, salt: int
) -> AgoraTokenAnswer:
    """As ApaasTokenBuilder; a room user's token also logs in RTM and Chat (as the md5 of
    its user uuid), which the grants say."""
    require_admitted(admitted)
    credentials = credentials_of(agora)
    grant = admitted.value
    token = tokens.build_apaas_token(
        credentials,
        grant.kind,
        room_uuid=grant.room_uuid,
        user_uuid=grant.user_uuid,
        role=grant.role,
        expire=grant.expire,
        issue_ts=issue_ts,
        salt=salt,
    )
    until = issue_ts + grant.expire
    grants: dict[str, Any] = {"apaas": {"kind": grant.kind}}
    if grant.kind == "room_user":
        grants["apaas"].update(room_uuid=grant.room_uuid, user_uuid=grant.user_uuid)
        grants["apaas"]["role"] = grant.role or -1
        grants["rtm"] = {"user_id": grant.user_uuid, "privileges": {"login": until}}
        chat_user = tokens.apaas_chat_user(grant.user_uuid)
        grants["chat"] = {"user_id": chat_user, "privileges": {"user": until}}
    elif grant.kind == "user":
        grants["apaas"].update(user_uuid=grant.user_uuid, privileges={"user": until})
    else:
        grants["apaas"]["privileges"] = {"app": until}
    return _answer(
        token,
        accesstoken2.VERSION,
        credentials.app_id,
        grants,
        issue_ts=issue_ts,
        token_expire=grant.expire,
        privilege_expire=grant.expire,
    )


def issue_fpa_token(
    agora: AgoraSettings, admitted: Admitted[FpaGrant], *, issue_ts: int, salt: int
) -> AgoraTokenAnswer:
    """As FpaTokenBuilder: valid for 24 hours."""
    require_admitted(admitted)
    credentials = credentials_of(agora)
    token = tokens.build_fpa_token(credentials, issue_ts=issue_ts, salt=salt)
    expire = tokens.FPA_TOKEN_EXPIRE
    return _answer(
        token,
        accesstoken2.VERSION,
        credentials.app_id,
        {"fpa": {"privileges": {"login": issue_ts + expire}}},
        issue_ts=issue_ts,
        token_expire=expire,
        privilege_expire=expire,
    )
