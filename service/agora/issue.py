"""From a validated request to a token and the facts a client needs about it.

Shared by the HTTP handlers and the CLI, so both apply Agora's rules and the configured
limits the same way. Pure: the issue time and salt are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.agora import accesstoken006, tokens
from service.agora.accesstoken2 import PRIVILEGE_NAMES, ServiceType
from service.agora.rules import (
    RENEWAL_WARNING_SECONDS,
    RuleViolation,
    check_account,
    check_channel,
    check_expire,
    check_uid,
    check_user_id,
)
from service.agora.tokens import AgoraCredentials, Role
from service.config import AgoraSettings
from service.errors import ApiError

ROLE_NAMES = {Role.PUBLISHER: "publisher", Role.SUBSCRIBER: "subscriber"}
ROLES_BY_NAME = {name: role for role, name in ROLE_NAMES.items()}


@dataclass(frozen=True)
class RtcTokenRequest:
    channel: str
    uid: int | None = None
    user_account: str | None = None
    role: Role = Role.PUBLISHER
    expire: int | None = None
    privilege_expire: int | None = None
    with_rtm: bool = False


@dataclass(frozen=True)
class RtmTokenRequest:
    user_id: str
    expire: int | None = None


@dataclass(frozen=True)
class ChatTokenRequest:
    kind: str  # "user" or "app"
    user_id: str | None = None
    expire: int | None = None


def _check(field: str, check: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return check(*args, **kwargs)
    except RuleViolation as violation:
        raise ApiError.invalid_field(field, str(violation)) from None


def credentials_of(agora: AgoraSettings) -> AgoraCredentials:
    if agora.credentials is None:
        raise ApiError(
            503,
            "platform_disabled",
            "Agora is not configured: set AGORA_APP_ID and AGORA_APP_CERTIFICATE",
        )
    return agora.credentials


def _lifetime(agora: AgoraSettings, expire: int | None) -> int:
    if expire is None:
        return agora.token_expire
    value: int = _check("expire", check_expire, expire, maximum=agora.max_token_expire)
    return value


def _privilege_lifetime(agora: AgoraSettings, requested: int | None, token_expire: int) -> int:
    if requested is None:
        # Privileges expiring with the token make the SDK warn 30 s before the end.
        return token_expire
    value: int = _check("privilege_expire", check_expire, requested, maximum=agora.max_token_expire)
    if value > token_expire:
        raise ApiError.invalid_field(
            "privilege_expire",
            f"must not exceed expire ({token_expire}): the token ends first, and a client "
            "holding live privileges in an expired token gets no renewal callback",
        )
    return value


def _times(issue_ts: int, token_expire: int, privilege_expire: int) -> dict[str, int]:
    privileges_expire_at = issue_ts + privilege_expire
    return {
        "issued_at": issue_ts,
        "expires_at": issue_ts + token_expire,
        "privileges_expire_at": privileges_expire_at,
        # When the SDK fires tokenPrivilegeWillExpire: fetch a new token then.
        "renew_at": privileges_expire_at - RENEWAL_WARNING_SECONDS,
        "expires_in": token_expire,
    }


def _privilege_names(service_type: ServiceType, privileges: dict[int, int]) -> list[str]:
    return [PRIVILEGE_NAMES[service_type][p] for p in sorted(privileges)]


def issue_rtc_token(
    agora: AgoraSettings, request: RtcTokenRequest, *, issue_ts: int, salt: int
) -> dict[str, Any]:
    credentials = credentials_of(agora)
    channel: str = _check(
        "channel", check_channel, request.channel, allow_wildcard=agora.allow_wildcard_channel
    )
    if (request.uid is None) == (request.user_account is None):
        raise ApiError.invalid_field("uid", "give exactly one of uid (a number) or user_account")
    who: int | str
    if request.uid is not None:
        who = _check("uid", check_uid, request.uid)
    else:
        who = _check("user_account", check_account, request.user_account)
    token_expire = _lifetime(agora, request.expire)
    privilege_expire = _privilege_lifetime(agora, request.privilege_expire, token_expire)
    rtm_user_id: str | None = None
    if request.with_rtm:
        if agora.token_version == accesstoken006.VERSION:
            raise ApiError.invalid_field(
                "with_rtm", "RTC and RTM in one token needs AGORA_TOKEN_VERSION=007"
            )
        rtm_user_id = tokens.account_for_uid(who)
        if not rtm_user_id:
            raise ApiError.invalid_field(
                "with_rtm", "RTM needs a user: use a non-zero uid or a user_account"
            )
    token = tokens.build_rtc_token(
        credentials,
        channel,
        who,
        request.role,
        token_expire=token_expire,
        privilege_expire=privilege_expire,
        issue_ts=issue_ts,
        salt=salt,
        version=agora.token_version,
        rtm_user_id=rtm_user_id,
    )
    rtc: dict[str, Any] = {"channel": channel}
    if isinstance(who, int):
        rtc["uid"] = who
    else:
        rtc["user_account"] = who
    rtc["role"] = ROLE_NAMES[request.role]
    rtc["privileges"] = _privilege_names(
        ServiceType.RTC, tokens.rtc_privileges(request.role, privilege_expire)
    )
    grants: dict[str, Any] = {"rtc": rtc}
    if rtm_user_id is not None:
        grants["rtm"] = {"user_id": rtm_user_id, "privileges": ["login"]}
    if agora.token_version == accesstoken006.VERSION:
        # A 006 token's own lifetime is fixed at 24 h; its privileges end it sooner.
        token_expire = privilege_expire
    return {
        "token": token,
        "version": agora.token_version,
        "app_id": credentials.app_id,
        "grants": grants,
        **_times(issue_ts, token_expire, privilege_expire),
    }


def issue_rtm_token(
    agora: AgoraSettings, request: RtmTokenRequest, *, issue_ts: int, salt: int
) -> dict[str, Any]:
    credentials = credentials_of(agora)
    user_id: str = _check("user_id", check_user_id, request.user_id)
    expire = _lifetime(agora, request.expire)
    token = tokens.build_rtm_token(
        credentials,
        user_id,
        expire=expire,
        issue_ts=issue_ts,
        salt=salt,
        version=agora.token_version,
    )
    return {
        "token": token,
        "version": agora.token_version,
        "app_id": credentials.app_id,
        "grants": {"rtm": {"user_id": user_id, "privileges": ["login"]}},
        **_times(issue_ts, expire, expire),
    }


def issue_chat_token(
    agora: AgoraSettings, request: ChatTokenRequest, *, issue_ts: int, salt: int
) -> dict[str, Any]:
    credentials = credentials_of(agora)
    expire = _lifetime(agora, request.expire)
    if request.kind == "user":
        if request.user_id is None:
            raise ApiError.invalid_field("user_id", "is required for a user token")
        user_id: str = _check("user_id", check_user_id, request.user_id)
        token = tokens.build_chat_user_token(
            credentials, user_id, expire=expire, issue_ts=issue_ts, salt=salt
        )
        chat: dict[str, Any] = {"user_id": user_id, "privileges": ["user"]}
    elif request.kind == "app":
        if request.user_id is not None:
            raise ApiError.invalid_field("user_id", "must not be given for an app token")
        if not agora.allow_chat_app_tokens:
            raise ApiError(
                403,
                "forbidden",
                "Chat app tokens administer the whole Chat app and are off by default; "
                "set AGORA_ALLOW_CHAT_APP_TOKENS=true to issue them",
                field="kind",
            )
        token = tokens.build_chat_app_token(
            credentials, expire=expire, issue_ts=issue_ts, salt=salt
        )
        chat = {"privileges": ["app"]}
    else:
        raise ApiError.invalid_field("kind", "must be 'user' or 'app'")
    return {
        "token": token,
        "version": "007",  # Chat exists only in AccessToken2
        "app_id": credentials.app_id,
        "grants": {"chat": chat},
        **_times(issue_ts, expire, expire),
    }
