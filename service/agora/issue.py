"""From a validated request to a token and the facts a client needs about it.

Shared by the HTTP handlers and the CLI, so both apply Agora's rules and the configured
limits the same way. Pure: the issue time and salt are arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.agora import accesstoken006, tokens
from service.agora.accesstoken2 import PRIVILEGE_NAMES, RtcPrivilege, ServiceType
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
from service.validation import json_type

ROLE_NAMES = {Role.PUBLISHER: "publisher", Role.SUBSCRIBER: "subscriber"}
ROLES_BY_NAME = {name: role for role, name in ROLE_NAMES.items()}
RTC_PRIVILEGES_BY_NAME = {p.name.lower(): p.value for p in RtcPrivilege}


# Built on every token request: plain slotted dataclasses, since a frozen one pays an
# object.__setattr__ call per field (about 1 µs per instance here). Treat them as values.
@dataclass(slots=True)
class RtcTokenRequest:
    channel: str
    uid: int | None = None
    user_account: str | None = None
    role: Role = Role.PUBLISHER
    expire: int | None = None
    # Seconds for every privilege of the role, or per privilege name; default: expire.
    privilege_expire: int | Mapping[str, Any] | None = None
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


def _privilege_lifetime(agora: AgoraSettings, field: str, seconds: Any, token_expire: int) -> int:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ApiError.invalid_field(field, f"must be an integer, got {json_type(seconds)}")
    value: int = _check(field, check_expire, seconds, maximum=agora.max_token_expire)
    if value > token_expire:
        raise ApiError.invalid_field(
            field,
            f"must not exceed expire ({token_expire}): the token ends first, and a client "
            "holding live privileges in an expired token gets no renewal callback",
        )
    return value


def _rtc_privileges(
    agora: AgoraSettings, request: RtcTokenRequest, token_expire: int
) -> dict[int, int]:
    """The role's privileges, each expiring with the token unless the request says less."""
    requested = request.privilege_expire
    if requested is None:
        # Privileges expiring with the token make the SDK warn 30 s before the end.
        return tokens.rtc_privileges(request.role, token_expire)
    if not isinstance(requested, Mapping):
        seconds = _privilege_lifetime(agora, "privilege_expire", requested, token_expire)
        return tokens.rtc_privileges(request.role, seconds)
    privileges = tokens.rtc_privileges(request.role, token_expire)
    for name, seconds in requested.items():
        privilege = RTC_PRIVILEGES_BY_NAME.get(name)
        if privilege not in privileges:
            allowed = ", ".join(PRIVILEGE_NAMES[ServiceType.RTC][p] for p in sorted(privileges))
            raise ApiError.invalid_field(
                "privilege_expire",
                f"{name!r} is not a privilege of a {ROLE_NAMES[request.role]} "
                f"(expected some of: {allowed})",
            )
        field = f"privilege_expire.{name}"
        privileges[privilege] = _privilege_lifetime(agora, field, seconds, token_expire)
    return privileges


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


def _privilege_expiries(
    service_type: ServiceType, privileges: Mapping[int, int], issue_ts: int
) -> dict[str, int]:
    """Privilege name -> when it expires (unix seconds), for the answer."""
    names = PRIVILEGE_NAMES[service_type]
    return {names[p]: issue_ts + privileges[p] for p in sorted(privileges)}


@dataclass(slots=True)
class MintedRtcToken:
    """An RTC token and what went into it, before it is shaped into an answer."""

    token: str
    channel: str
    who: int | str
    privileges: dict[int, int]
    token_expire: int
    privilege_expire: int
    rtm_user_id: str | None


def mint_rtc_token(
    agora: AgoraSettings, request: RtcTokenRequest, *, issue_ts: int, salt: int
) -> MintedRtcToken:
    """Check the request against Agora's rules and the configured limits; build the token."""
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
    privileges = _rtc_privileges(agora, request, token_expire)
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
        privileges,
        token_expire=token_expire,
        issue_ts=issue_ts,
        salt=salt,
        version=agora.token_version,
        rtm_user_id=rtm_user_id,
    )
    return MintedRtcToken(
        token=token,
        channel=channel,
        who=who,
        privileges=privileges,
        token_expire=token_expire,
        # The SDK warns when the first privilege is about to expire.
        privilege_expire=min(privileges.values()),
        rtm_user_id=rtm_user_id,
    )


def issue_rtc_token(
    agora: AgoraSettings, request: RtcTokenRequest, *, issue_ts: int, salt: int
) -> dict[str, Any]:
    """The token with the facts a client needs: grants, expiry and when to renew."""
    minted = mint_rtc_token(agora, request, issue_ts=issue_ts, salt=salt)
    who, privileges = minted.who, minted.privileges
    rtc: dict[str, Any] = {"channel": minted.channel}
    if isinstance(who, int):
        rtc["uid"] = who
    else:
        rtc["user_account"] = who
    rtc["role"] = ROLE_NAMES[request.role]
    rtc["privileges"] = _privilege_expiries(ServiceType.RTC, privileges, issue_ts)
    grants: dict[str, Any] = {"rtc": rtc}
    token_expire = minted.token_expire
    if minted.rtm_user_id is not None:
        grants["rtm"] = {
            "user_id": minted.rtm_user_id,
            "privileges": {"login": issue_ts + token_expire},
        }
    if agora.token_version == accesstoken006.VERSION:
        # A 006 token's own lifetime is fixed at 24 h; its privileges end it sooner.
        token_expire = privileges[RtcPrivilege.JOIN_CHANNEL]
    return {
        "token": minted.token,
        "version": agora.token_version,
        "app_id": credentials_of(agora).app_id,
        "grants": grants,
        **_times(issue_ts, token_expire, minted.privilege_expire),
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
        "grants": {"rtm": {"user_id": user_id, "privileges": {"login": issue_ts + expire}}},
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
        chat: dict[str, Any] = {"user_id": user_id, "privileges": {"user": issue_ts + expire}}
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
        chat = {"privileges": {"app": issue_ts + expire}}
    else:
        raise ApiError.invalid_field("kind", "must be 'user' or 'app'")
    return {
        "token": token,
        "version": "007",  # Chat exists only in AccessToken2
        "app_id": credentials.app_id,
        "grants": {"chat": chat},
        **_times(issue_ts, expire, expire),
    }
