"""Agora tokens as applications ask for them: RTC with a role, RTM, Chat, RTC+RTM.

Pure functions over credentials, inputs, issue time and salt, mapping Agora's builder
semantics (the official RtcTokenBuilder2 / RtmTokenBuilder2 / ChatTokenBuilder) onto the
007 and 006 wire formats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from service.agora import accesstoken006, accesstoken2
from service.agora.accesstoken2 import ChatPrivilege, RtcPrivilege


class Role(IntEnum):
    PUBLISHER = 1
    SUBSCRIBER = 2


@dataclass(frozen=True)
class AgoraCredentials:
    app_id: str
    certificate: str = field(repr=False)


def account_for_uid(uid: int | str) -> str:
    """Agora signs the user as a string: numeric 0 is the any-uid wildcard "", other
    numbers their decimal form, and a user account (even "0") exactly as given."""
    if isinstance(uid, int):
        return "" if uid == 0 else str(uid)
    return uid


# Join for everyone; publishing audio, video and data for publishers only. Plain ints,
# worked out once: reading an enum member's value costs a descriptor call each time.
_ROLE_PRIVILEGES: dict[Role, tuple[int, ...]] = {
    Role.SUBSCRIBER: (RtcPrivilege.JOIN_CHANNEL.value,),
    Role.PUBLISHER: tuple(privilege.value for privilege in RtcPrivilege),
}


def rtc_privileges(role: Role, expire: int) -> dict[int, int]:
    """The role's RTC privileges, each lasting `expire` seconds."""
    return dict.fromkeys(_ROLE_PRIVILEGES[role], expire)


def _build_007(
    credentials: AgoraCredentials,
    services: list[accesstoken2.Service],
    *,
    expire: int,
    issue_ts: int,
    salt: int,
) -> str:
    return accesstoken2.build_token(
        credentials.app_id,
        credentials.certificate,
        issue_ts=issue_ts,
        expire=expire,
        salt=salt,
        services=services,
    )


# The services that make an RTC token an AI agent's (ConvoAI) or a speech-to-text bot's.
AGENT_SERVICES = frozenset({accesstoken2.ServiceType.CONVOAI, accesstoken2.ServiceType.STT})


def _absolute(issue_ts: int, seconds: int) -> int:
    # 006 privileges are unix times, with 0 kept as "never".
    return issue_ts + seconds if seconds else 0


def build_rtc_token(
    credentials: AgoraCredentials,
    channel: str,
    uid: int | str,
    privileges: Mapping[int, int],
    *,
    token_expire: int,
    issue_ts: int,
    salt: int,
    version: str = accesstoken2.VERSION,
    rtm_user_id: str | None = None,
    rtm_expire: int | None = None,
    agent: int | None = None,
) -> str:
    """An RTC token granting `privileges` (RtcPrivilege -> seconds from issue_ts; see
    rtc_privileges for the role-based sets). With rtm_user_id it also grants RTM login
    (007 only), lasting rtm_expire, else token_expire, as the official buildTokenWithRtm2
    (and buildTokenWithRtm) do. `agent`: ServiceType.CONVOAI or STT adds that service,
    as ConvoAITokenBuilder and SttTokenBuilder do."""
    account = account_for_uid(uid)
    if version == accesstoken006.VERSION:
        if rtm_user_id is not None or agent is not None:
            raise ValueError("RTC with RTM or an agent service needs AccessToken2 (007)")
        return accesstoken006.build_token(
            credentials.app_id,
            credentials.certificate,
            channel=channel,
            uid=account,
            salt=salt,
            ts=issue_ts + accesstoken006.TOKEN_LIFETIME,
            privileges={pid: _absolute(issue_ts, seconds) for pid, seconds in privileges.items()},
        )
    services = [accesstoken2.rtc_service(channel, account, privileges)]
    if rtm_user_id is not None:
        login = token_expire if rtm_expire is None else rtm_expire
        services.append(accesstoken2.rtm_service(rtm_user_id, login))
    if agent is not None:
        if agent not in AGENT_SERVICES:
            raise ValueError(f"not an agent service: {agent}")
        services.append(accesstoken2.Service(agent, {}))
    return _build_007(credentials, services, expire=token_expire, issue_ts=issue_ts, salt=salt)


def build_rtm_token(
    credentials: AgoraCredentials,
    user_id: str,
    *,
    expire: int,
    issue_ts: int,
    salt: int,
    version: str = accesstoken2.VERSION,
) -> str:
    if version == accesstoken006.VERSION:
        # 006 RTM tokens carry the user id in the channel slot and an empty uid.
        return accesstoken006.build_token(
            credentials.app_id,
            credentials.certificate,
            channel=user_id,
            uid="",
            salt=salt,
            ts=issue_ts + accesstoken006.TOKEN_LIFETIME,
            privileges={accesstoken006.Privilege006.RTM_LOGIN.value: _absolute(issue_ts, expire)},
        )
    services = [accesstoken2.rtm_service(user_id, expire)]
    return _build_007(credentials, services, expire=expire, issue_ts=issue_ts, salt=salt)


def build_chat_user_token(
    credentials: AgoraCredentials, user_id: str, *, expire: int, issue_ts: int, salt: int
) -> str:
    services = [accesstoken2.chat_service(user_id, {ChatPrivilege.USER.value: expire})]
    return _build_007(credentials, services, expire=expire, issue_ts=issue_ts, salt=salt)


def build_chat_app_token(
    credentials: AgoraCredentials, *, expire: int, issue_ts: int, salt: int
) -> str:
    services = [accesstoken2.chat_service("", {ChatPrivilege.APP.value: expire})]
    return _build_007(credentials, services, expire=expire, issue_ts=issue_ts, salt=salt)


# --- RTM with permissions (RtmTokenBuilder2.buildTokenWithPermissions) ---------------------

# RTM2 resource types and permission types, by the names the API takes.
RTM2_RESOURCES = {
    "message_channels": 0,
    "stream_channels": 1,
    "group_channels": 2,
    "server_groups": 3,
    "users": 4,
}
RTM2_PERMISSIONS = {"read": 0, "write": 1}


def build_rtm_token_with_permissions(
    credentials: AgoraCredentials,
    user_id: str,
    permissions: accesstoken2.Rtm2Permissions,
    *,
    expire: int,
    issue_ts: int,
    salt: int,
) -> str:
    """RTM login with resource permissions (resource type -> permission type -> names),
    as RtmTokenBuilder2.buildTokenWithPermissions makes it: one RTM2 service."""
    service = accesstoken2.Service(
        accesstoken2.ServiceType.RTM2,
        {accesstoken2.RtmPrivilege.LOGIN.value: expire},
        user_id=user_id,
        permissions=permissions,
    )
    return _build_007(credentials, [service], expire=expire, issue_ts=issue_ts, salt=salt)


# --- APaaS / Flexible Classroom (ApaasTokenBuilder, EducationTokenBuilder) ----------------

APAAS_KINDS = ("room_user", "user", "app")
_APAAS_PRIVILEGE = {"user": 2, "app": 3}


def apaas_chat_user(user_uuid: str) -> str:
    """The Chat user id an APaaS room-user token logs in: the md5 hex of the user uuid,
    as the official builder derives it (not a secret: an id)."""
    return hashlib.md5(user_uuid.encode(), usedforsecurity=False).hexdigest()


def build_apaas_token(
    credentials: AgoraCredentials,
    kind: str,
    *,
    room_uuid: str = "",
    user_uuid: str = "",
    role: int = 0,
    expire: int,
    issue_ts: int,
    salt: int,
) -> str:
    """As ApaasTokenBuilder: a room user (APaaS room and role, RTM login, Chat user), a
    user, or the whole app. The official builder stores a role of 0 (or none) as -1."""
    apaas_role = role or -1
    if kind == "room_user":
        services = [
            accesstoken2.Service(
                accesstoken2.ServiceType.APAAS,
                {},
                room_uuid=room_uuid,
                user_uuid=user_uuid,
                role=apaas_role,
            ),
            accesstoken2.rtm_service(user_uuid, expire),
            accesstoken2.chat_service(
                apaas_chat_user(user_uuid), {accesstoken2.ChatPrivilege.USER.value: expire}
            ),
        ]
    elif kind in _APAAS_PRIVILEGE:
        services = [
            accesstoken2.Service(
                accesstoken2.ServiceType.APAAS,
                {_APAAS_PRIVILEGE[kind]: expire},
                user_uuid=user_uuid if kind == "user" else "",
                role=-1,
            )
        ]
    else:
        raise ValueError(f"APaaS token kind must be one of {', '.join(APAAS_KINDS)}")
    return _build_007(credentials, services, expire=expire, issue_ts=issue_ts, salt=salt)


# --- FPA (FpaTokenBuilder) ----------------------------------------------------------------

FPA_TOKEN_EXPIRE = 24 * 3600  # fixed by the official builder


def build_fpa_token(credentials: AgoraCredentials, *, issue_ts: int, salt: int) -> str:
    """As FpaTokenBuilder: FPA login (privilege lasting 0: the token's own expiry rules),
    the token valid for 24 hours."""
    service = accesstoken2.Service(accesstoken2.ServiceType.FPA, {1: 0})
    return _build_007(credentials, [service], expire=FPA_TOKEN_EXPIRE, issue_ts=issue_ts, salt=salt)
