"""Agora's one admission step: from what a caller asked for to the exact grant that will be
signed, judged against Agora's rules, the configuration and the caller's policy.

Every Agora token on every route (versioned, Go sample, community servers, CLI) comes
through here. The grant is judged as Agora will read it: the role as the privileges it
carries, every privilege with its own expiry made explicit (a privilege without one lasts
as long as the token), the RTM service as long as the token, uid 0 and channel `*` as
"anyone" and "any channel". Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.access.admission import Admitted, admitted
from service.access.callers import Caller
from service.access.identity import IdentityError, agora_identity
from service.access.policy import AgoraPolicy, lifetime
from service.agora import accesstoken006
from service.agora.accesstoken2 import (
    PRIVILEGE_NAMES,
    RtcPrivilege,
    Rtm2Permissions,
    ServiceType,
)
from service.agora.rules import (
    WILDCARD_CHANNEL,
    RuleViolation,
    check_account,
    check_channel,
    check_expire,
    check_uid,
    check_user_id,
)
from service.agora.settings import AgoraSettings
from service.agora.tokens import (
    APAAS_KINDS,
    FPA_TOKEN_EXPIRE,
    RTM2_PERMISSIONS,
    RTM2_RESOURCES,
    Role,
    account_for_uid,
    rtc_privileges,
)
from service.errors import ApiError, ErrorCode, PolicyDenied
from service.validation import json_type

ROLE_NAMES = {Role.PUBLISHER: "publisher", Role.SUBSCRIBER: "subscriber"}
ROLES_BY_NAME = {name: role for role, name in ROLE_NAMES.items()}
RTC_PRIVILEGES_BY_NAME = {p.name.lower(): p.value for p in RtcPrivilege}
_JOIN = RtcPrivilege.JOIN_CHANNEL.value


# Built on every token request: plain slotted dataclasses, since a frozen one pays an
# object.__setattr__ call per field. Treat them as values.
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
    # Only these privileges of the role (e.g. join + data for an RTM stream channel).
    only_privileges: frozenset[int] | None = None
    # Instead of uid/user_account: the user as the RTM side names them (community stream
    # tokens), judged like an RTM user id.
    rtm_user: str | None = None
    # RTM login in the same token for this user (else the RTC account), lasting this long
    # (else the token's expire): buildTokenWithRtm2.
    rtm_user_id: str | None = None
    rtm_expire: int | None = None
    # An AI agent's token (ConvoAI) or a speech-to-text bot's (STT): ServiceType value.
    agent: int | None = None


@dataclass(frozen=True)
class RtmTokenRequest:
    user_id: str | None
    expire: int | None = None
    # Resource permissions (RtmTokenBuilder2.buildTokenWithPermissions): resource name ->
    # permission name -> resource names, as the client sent them.
    permissions: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ChatTokenRequest:
    kind: str  # "user" or "app"
    user_id: str | None = None
    expire: int | None = None


@dataclass(slots=True)
class RtcGrant:
    """Exactly what an RTC token will say."""

    channel: str
    who: int | str  # uid, or user account
    role: Role  # as Agora reads the privileges
    privileges: dict[int, int]  # RtcPrivilege -> seconds from the issue time
    token_expire: int
    rtm_user_id: str | None = None  # RTM login for this user
    rtm_expire: int | None = None  # ... lasting this long; None: token_expire
    agent: int | None = None  # ServiceType.CONVOAI or STT


@dataclass(frozen=True)
class RtmGrant:
    user_id: str
    expire: int
    # resource type -> permission type -> names; None: a plain RTM login token
    permissions: Rtm2Permissions | None = None


@dataclass(frozen=True)
class ApaasTokenRequest:
    kind: str  # "room_user", "user" or "app"
    room_uuid: str | None = None
    user_uuid: str | None = None
    role: int | None = None
    expire: int | None = None


@dataclass(frozen=True)
class ApaasGrant:
    kind: str
    room_uuid: str
    user_uuid: str
    role: int
    expire: int


@dataclass(frozen=True)
class FpaGrant:
    """FPA login for the app: the official builder takes nothing else."""


@dataclass(frozen=True)
class ChatGrant:
    kind: str  # "user" or "app" (admin of the whole Chat app)
    user_id: str | None
    expire: int


def _rule(field: str, check: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return check(*args, **kwargs)
    except RuleViolation as violation:
        raise ApiError.invalid_field(field, str(violation)) from None


def _lifetime(agora: AgoraSettings, policy: AgoraPolicy, asked: int | None, field: str) -> int:
    seconds = lifetime(policy.max_expire, asked, agora.token_expire, field=field)
    value: int = _rule(field, check_expire, seconds, maximum=agora.max_token_expire)
    return value


def _own_identity(caller: Caller) -> int | str | None:
    """The caller's one Agora identity (jwt mode), or None when callers name their own."""
    if caller.identity is None:
        return None
    try:
        return agora_identity(caller.identity)
    except IdentityError as error:
        raise PolicyDenied("uid", f"your login identity {error}") from None


def _bound_user(caller: Caller, given: str | None, field: str) -> str:
    """RTM and Chat user ids: the caller's own login identity, byte for byte."""
    own = caller.identity
    if own is not None:
        if given not in (None, "", own):
            raise PolicyDenied(
                field, f"{field}: must be your own identity from your login ({own!r}), or left out"
            )
        given = own
    if given is None:
        raise ApiError.invalid_field(field, "is required")
    value: str = _rule(field, check_user_id, given)
    return value


def _privilege_seconds(agora: AgoraSettings, field: str, seconds: Any, token_expire: int) -> int:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ApiError.invalid_field(field, f"must be an integer, got {json_type(seconds)}")
    value: int = _rule(field, check_expire, seconds, maximum=agora.max_token_expire)
    if value > token_expire:
        raise ApiError.invalid_field(
            field,
            f"must not exceed expire ({token_expire}): the token ends first, and a client "
            "holding live privileges in an expired token gets no renewal callback",
        )
    return value


def _privileges(agora: AgoraSettings, ask: RtcTokenRequest, token_expire: int) -> dict[int, int]:
    """The role's privileges, each with its own expiry made explicit."""
    privileges = rtc_privileges(ask.role, token_expire)
    if ask.only_privileges is not None:
        privileges = {p: s for p, s in privileges.items() if p in ask.only_privileges}
    requested = ask.privilege_expire
    if requested is None:
        return privileges
    if not isinstance(requested, Mapping):
        seconds = _privilege_seconds(agora, "privilege_expire", requested, token_expire)
        return dict.fromkeys(privileges, seconds)
    for name, seconds in requested.items():
        privilege = RTC_PRIVILEGES_BY_NAME.get(name)
        if privilege not in privileges:
            names = ", ".join(PRIVILEGE_NAMES[ServiceType.RTC][p] for p in sorted(privileges))
            raise ApiError.invalid_field(
                "privilege_expire",
                f"{name!r} is not a privilege of a {ROLE_NAMES[ask.role]} "
                f"(expected some of: {names})",
            )
        field = f"privilege_expire.{name}"
        privileges[privilege] = _privilege_seconds(agora, field, seconds, token_expire)
    return privileges


def _who(ask: RtcTokenRequest, own: int | str | None, caller: Caller) -> int | str:
    if ask.rtm_user is not None:
        # An RTM-style user id: the caller's login identity byte for byte, or left out
        # (""), as for RTM tokens; then the RTC side is that login's Agora identity.
        user = _bound_user(caller, ask.rtm_user or None, "uid")
        if own is not None:
            return own
        account: str = _rule("uid", check_account, user)
        return account
    if ask.uid is not None and ask.user_account is not None:
        raise ApiError.invalid_field("uid", "give exactly one of uid (a number) or user_account")
    if own is not None:
        given: int | str | None = ask.uid if ask.uid is not None else ask.user_account
        if given is not None and (type(given) is not type(own) or given != own):
            field = "uid" if ask.uid is not None else "user_account"
            kind = "uid" if isinstance(own, int) else "user_account"
            raise PolicyDenied(
                field,
                f"{field}: must be your own identity from your login ({kind} {own!r}), or left out",
            )
        return own
    if ask.uid is not None:
        uid: int = _rule("uid", check_uid, ask.uid)
        return uid
    if ask.user_account is not None:
        named: str = _rule("user_account", check_account, ask.user_account)
        return named
    raise ApiError.invalid_field("uid", "give exactly one of uid (a number) or user_account")


def _check_channel(agora: AgoraSettings, policy: AgoraPolicy, channel: str, caller: Caller) -> str:
    checked: str = _rule(
        "channel", check_channel, channel, allow_wildcard=agora.allow_wildcard_channel
    )
    if policy.channels is None:
        return checked
    if checked == WILDCARD_CHANNEL:
        # A wildcard token joins every channel: only a policy that allows every channel.
        if not policy.channels.allows_any:
            raise PolicyDenied(
                "channel", "the wildcard channel '*' reaches channels you may not join"
            )
        return checked
    policy.channels.check(checked, caller.claims, field="channel", noun="channel")
    return checked


AGENT_NAMES = {ServiceType.CONVOAI.value: "convoai", ServiceType.STT.value: "stt"}


def _rtm_login(
    agora: AgoraSettings,
    caller: Caller,
    policy: AgoraPolicy,
    ask: RtcTokenRequest,
    who: int | str,
) -> tuple[str | None, int | None]:
    """The RTM login an RTC token also grants, if asked (with_rtm, rtm_user_id or
    rtm_expire) or needed (an agent's token always has one): its user and lifetime."""
    asked = ask.rtm_user_id is not None or ask.rtm_expire is not None
    if not (ask.with_rtm or asked or ask.agent is not None):
        return None, None
    field = "rtm_user_id" if asked else "with_rtm"
    if agora.token_version == accesstoken006.VERSION:
        raise ApiError.invalid_field(
            field, "RTC and RTM in one token needs AGORA_TOKEN_VERSION=007"
        )
    if not policy.rtm:
        raise PolicyDenied(field, "RTM tokens are not allowed for you")
    if ask.rtm_user_id is not None:
        user = _bound_user(caller, ask.rtm_user_id, "rtm_user_id")
    else:
        user = account_for_uid(who)
        if not user:
            raise ApiError.invalid_field(
                field, "RTM needs a user: use a non-zero uid, a user_account or rtm_user_id"
            )
    expire = None
    if ask.rtm_expire is not None:
        expire = _lifetime(agora, policy, ask.rtm_expire, "rtm_expire")
    return user, expire


def admit_rtc(
    agora: AgoraSettings, caller: Caller, policy: AgoraPolicy, ask: RtcTokenRequest
) -> Admitted[RtcGrant]:
    channel = _check_channel(agora, policy, ask.channel, caller)
    who = _who(ask, _own_identity(caller), caller)
    token_expire = _lifetime(agora, policy, ask.expire, "expire")
    privileges = _privileges(agora, ask, token_expire)
    # The role as Agora reads the token: any publish privilege makes a publisher.
    role = Role.PUBLISHER if set(privileges) - {_JOIN} else Role.SUBSCRIBER
    if policy.roles is not None and ROLE_NAMES[role] not in policy.roles:
        raise PolicyDenied("role", f"role {ROLE_NAMES[role]!r} is not allowed for you")
    rtm_user_id, rtm_expire = _rtm_login(agora, caller, policy, ask, who)
    if ask.agent is not None:
        name = AGENT_NAMES[ask.agent]
        if not getattr(policy, name):
            raise PolicyDenied(None, f"{name} tokens are not allowed for you")
    grant = RtcGrant(
        channel, who, role, privileges, token_expire, rtm_user_id, rtm_expire, ask.agent
    )
    return admitted(grant)


def admit_rtm(
    agora: AgoraSettings, caller: Caller, policy: AgoraPolicy, ask: RtmTokenRequest
) -> Admitted[RtmGrant]:
    if not policy.rtm:
        raise PolicyDenied(None, "RTM tokens are not allowed for you")
    user_id = _bound_user(caller, ask.user_id, "user_id")
    expire = _lifetime(agora, policy, ask.expire, "expire")
    permissions = None
    if ask.permissions is not None:
        permissions = _rtm_permissions(agora, caller, policy, ask.permissions)
    return admitted(RtmGrant(user_id, expire, permissions))


# RTM resources that are channels: judged by the policy's channel patterns.
_RTM_CHANNEL_RESOURCES = frozenset({"message_channels", "stream_channels", "group_channels"})
MAX_RTM_RESOURCE_LENGTH = 128


def _rtm_permissions(
    agora: AgoraSettings, caller: Caller, policy: AgoraPolicy, asked: Mapping[str, Any]
) -> Rtm2Permissions:
    if agora.token_version == accesstoken006.VERSION:
        raise ApiError.invalid_field("permissions", "RTM permissions need AGORA_TOKEN_VERSION=007")
    if not policy.rtm_permissions:
        raise PolicyDenied("permissions", "RTM resource permissions are not allowed for you")
    permissions: dict[int, dict[int, tuple[str, ...]]] = {}
    for resource, by_permission in asked.items():
        where = f"permissions.{resource}"
        if resource not in RTM2_RESOURCES:
            names = ", ".join(RTM2_RESOURCES)
            raise ApiError.invalid_field(where, f"is not an RTM resource (expected: {names})")
        if not isinstance(by_permission, Mapping):
            kind = json_type(by_permission)
            raise ApiError.invalid_field(where, f"must be an object, got {kind}")
        granted: dict[int, tuple[str, ...]] = {}
        for permission, names in by_permission.items():
            at = f"{where}.{permission}"
            if permission not in RTM2_PERMISSIONS:
                raise ApiError.invalid_field(at, "must be read or write")
            if not isinstance(names, list) or not all(
                isinstance(n, str) and 0 < len(n) <= MAX_RTM_RESOURCE_LENGTH for n in names
            ):
                raise ApiError.invalid_field(
                    at, f"must be a list of names of 1 to {MAX_RTM_RESOURCE_LENGTH} characters"
                )
            for name in names:
                _check_rtm_resource(policy, caller, resource, name, at)
            granted[RTM2_PERMISSIONS[permission]] = tuple(names)
        permissions[RTM2_RESOURCES[resource]] = granted
    return permissions


def _check_rtm_resource(
    policy: AgoraPolicy, caller: Caller, resource: str, name: str, field: str
) -> None:
    """A permission reaches what its name reaches: a channel is judged by the policy's
    channel patterns, "*" only where every channel is allowed; users and server groups
    only where the policy does not limit channels."""
    if policy.channels is None:
        return
    if resource not in _RTM_CHANNEL_RESOURCES:
        raise PolicyDenied(field, f"{resource} permissions are not allowed for you")
    if "*" in name:
        if not policy.channels.allows_any:
            raise PolicyDenied(field, f"{name!r} reaches channels you may not join")
        return
    policy.channels.check(name, caller.claims, field=field, noun="channel")


def admit_apaas(
    agora: AgoraSettings, caller: Caller, policy: AgoraPolicy, ask: ApaasTokenRequest
) -> Admitted[ApaasGrant]:
    """APaaS (Flexible Classroom) tokens: a user in a room, a user, or the whole app (an
    admin-class token: it needs AGORA_ALLOW_APAAS_APP_TOKENS and the policy)."""
    if ask.kind not in APAAS_KINDS:
        raise ApiError.invalid_field("kind", f"must be one of {', '.join(APAAS_KINDS)}")
    if agora.token_version == accesstoken006.VERSION:
        raise ApiError.invalid_field("kind", "APaaS tokens need AGORA_TOKEN_VERSION=007")
    if not policy.apaas:
        raise PolicyDenied("kind", "APaaS tokens are not allowed for you")
    expire = _lifetime(agora, policy, ask.expire, "expire")
    if ask.kind == "app":
        if ask.user_uuid is not None or ask.room_uuid is not None or ask.role is not None:
            raise ApiError.invalid_field("kind", "an app token names no room, user or role")
        if not agora.allow_apaas_app_tokens:
            raise PolicyDenied(
                "kind",
                "APaaS app tokens administer the whole app and are off by default; set "
                "AGORA_ALLOW_APAAS_APP_TOKENS=true to issue them",
            )
        if not policy.apaas_app:
            raise PolicyDenied("kind", "APaaS app tokens are not allowed for you")
        return admitted(ApaasGrant("app", "", "", -1, expire))
    user = _bound_user(caller, ask.user_uuid, "user_uuid")
    if ask.kind == "user":
        if ask.room_uuid is not None or ask.role is not None:
            raise ApiError.invalid_field("kind", "a user token names no room or role")
        return admitted(ApaasGrant("user", "", user, -1, expire))
    if not ask.room_uuid:
        raise ApiError.invalid_field("room_uuid", "is required for a room_user token")
    # A room user's token also logs in RTM and Chat: both must be allowed.
    if not policy.rtm or not policy.chat:
        raise PolicyDenied("kind", "a room_user token logs in RTM and Chat, not allowed for you")
    if len(ask.room_uuid) > MAX_RTM_RESOURCE_LENGTH:
        raise ApiError.invalid_field(
            "room_uuid", f"must be at most {MAX_RTM_RESOURCE_LENGTH} characters"
        )
    if policy.channels is not None:
        policy.channels.check(ask.room_uuid, caller.claims, field="room_uuid", noun="room")
    role = 0 if ask.role is None else ask.role
    if not 0 <= role <= 32_767:
        raise ApiError.invalid_field("role", "must be a whole number from 0 to 32767")
    return admitted(ApaasGrant("room_user", ask.room_uuid, user, role, expire))


def admit_fpa(agora: AgoraSettings, policy: AgoraPolicy) -> Admitted[FpaGrant]:
    if agora.token_version == accesstoken006.VERSION:
        raise ApiError(400, ErrorCode.INVALID_FIELD, "FPA tokens need AGORA_TOKEN_VERSION=007")
    if not policy.fpa:
        raise PolicyDenied(None, "FPA tokens are not allowed for you")
    # The official builder fixes an FPA token's life at 24 hours: a shorter maximum, in
    # the configuration or the policy, rules them out.
    longest = min(agora.max_token_expire, policy.max_expire or FPA_TOKEN_EXPIRE)
    if longest < FPA_TOKEN_EXPIRE:
        raise PolicyDenied(
            None, f"FPA tokens last {FPA_TOKEN_EXPIRE} seconds; you may have at most {longest}"
        )
    return admitted(FpaGrant())


def admit_chat(
    agora: AgoraSettings, caller: Caller, policy: AgoraPolicy, ask: ChatTokenRequest
) -> Admitted[ChatGrant]:
    if ask.kind not in ("user", "app"):
        raise ApiError.invalid_field("kind", "must be 'user' or 'app'")
    if not policy.chat:
        raise PolicyDenied("kind", "Chat tokens are not allowed for you")
    if ask.kind == "app":
        if ask.user_id is not None:
            raise ApiError.invalid_field("user_id", "must not be given for an app token")
        if not agora.allow_chat_app_tokens:
            raise PolicyDenied(
                "kind",
                "Chat app tokens administer the whole Chat app and are off by default; "
                "set AGORA_ALLOW_CHAT_APP_TOKENS=true to issue them",
            )
        if not policy.chat_app:
            raise PolicyDenied("kind", "Chat app tokens are not allowed for you")
        return admitted(ChatGrant("app", None, _lifetime(agora, policy, ask.expire, "expire")))
    user_id = _bound_user(caller, ask.user_id, "user_id")
    return admitted(ChatGrant("user", user_id, _lifetime(agora, policy, ask.expire, "expire")))
