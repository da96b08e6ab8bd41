"""VideoSDK's one admission step: the exact token claims, and the meeting calls made to
VideoSDK's REST API on a caller's behalf, judged before anything is signed or sent.

VideoSDK reads a token without `roles` as holding every role, `crawler` (the server REST
API) included, so every token admitted here carries explicit roles: `rtc` unless the
request names others. Admin-class capabilities (`allow_mod`, the `crawler` role) need
their configuration switch and, with a policy section, the policy's say-so. Meeting calls
are judged on their room before VideoSDK is called. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.access.admission import Admitted, admitted
from service.access.callers import Caller
from service.access.policy import VideoSdkPolicy, lifetime
from service.errors import ApiError, PolicyDenied
from service.videosdk.settings import MIN_TTL_SECONDS, VideoSdkSettings
from service.videosdk.tokens import (
    TokenGrant,
    TokenRuleError,
    check_grant,
    check_meeting_id,
    check_participant_id,
    server_grant,
)

PARTICIPANT_ROLES = ("rtc",)


@dataclass(frozen=True)
class VideoSdkGrant:
    """Exactly what a VideoSDK token will say (roles always explicit), and how long."""

    grant: TokenGrant
    ttl: int


@dataclass(frozen=True)
class MeetingCall:
    """A REST call about one room (None: VideoSDK picks one), admitted."""

    room_id: str | None
    body: Mapping[str, Any] = field(default_factory=dict)


def _rule(error: TokenRuleError) -> ApiError:
    return ApiError.invalid_field(error.field, error.message)


def _check_room(policy: VideoSdkPolicy, caller: Caller, room_id: str | None, field: str) -> None:
    if policy.rooms is None:
        return
    if room_id is None:
        raise PolicyDenied(field, f"name the room ({field}): you are limited to some rooms")
    policy.rooms.check(room_id, caller.claims, field=field, noun="room")


def may_moderate(videosdk: VideoSdkSettings, policy: VideoSdkPolicy) -> bool:
    """Whether allow_mod may be issued at all: the switch, and the policy if it speaks."""
    return videosdk.allow_mod_tokens and (
        policy.permissions is None or "allow_mod" in policy.permissions
    )


def _check_admin(videosdk: VideoSdkSettings, grant: TokenGrant, roles: Sequence[str]) -> None:
    if "allow_mod" in grant.permissions and not videosdk.allow_mod_tokens:
        raise PolicyDenied(
            "permissions",
            "allow_mod lets its holder control other participants and is off by default; "
            "set VIDEOSDK_ALLOW_MOD_TOKENS=true to issue it",
        )
    if "crawler" in roles and not videosdk.allow_crawler_tokens:
        raise PolicyDenied(
            "roles",
            "the crawler role calls VideoSDK's server API and is off by default; "
            "set VIDEOSDK_ALLOW_CRAWLER_TOKENS=true to issue it",
        )


def admit_token(
    videosdk: VideoSdkSettings,
    caller: Caller,
    policy: VideoSdkPolicy,
    asked: TokenGrant,
    *,
    ttl: int | None,
) -> Admitted[VideoSdkGrant]:
    participant = asked.participant_id
    own = caller.identity
    if own is not None:
        if participant not in (None, own):
            raise PolicyDenied(
                "participantId",
                f"participantId: must be your own identity from your login ({own!r}), or left out",
            )
        try:
            participant = check_participant_id(own)
        except TokenRuleError:
            raise PolicyDenied(
                "participantId", "your login identity cannot be a VideoSDK participantId"
            ) from None
    roles = tuple(asked.roles) if asked.roles is not None else PARTICIPANT_ROLES
    grant = TokenGrant(asked.permissions, asked.room_id, participant, roles)
    try:
        check_grant(grant)
    except TokenRuleError as error:
        raise _rule(error) from None
    _check_admin(videosdk, grant, roles)
    _check_room(policy, caller, grant.room_id, "roomId")
    for permission in grant.permissions:
        if policy.permissions is not None and permission not in policy.permissions:
            raise PolicyDenied("permissions", f"permission {permission!r} is not allowed for you")
    for role in roles:
        if policy.roles is not None and role not in policy.roles:
            raise PolicyDenied("roles", f"role {role!r} is not allowed for you")
    seconds = lifetime(policy.max_ttl, ttl, videosdk.token_ttl, field="ttl")
    if not MIN_TTL_SECONDS <= seconds <= videosdk.max_token_ttl:
        raise ApiError.invalid_field(
            "ttl", f"must be from {MIN_TTL_SECONDS} to {videosdk.max_token_ttl} seconds"
        )
    return admitted(VideoSdkGrant(grant, seconds))


def admit_meeting(
    caller: Caller,
    policy: VideoSdkPolicy,
    *,
    room_id: str | None,
    field: str,
    body: Mapping[str, Any] | None = None,
) -> Admitted[MeetingCall]:
    """A create or validate call for `room_id` (None: VideoSDK picks one), before any call
    to VideoSDK. A webhook in the body needs the policy's meeting_webhooks."""
    if room_id is not None:
        try:
            check_meeting_id(room_id, field)
        except TokenRuleError as error:
            raise _rule(error) from None
    if not policy.meetings:
        raise PolicyDenied(None, "creating and validating meetings is not allowed for you")
    _check_room(policy, caller, room_id, field)
    body = dict(body or {})
    if "webhook" in body and not policy.meeting_webhooks:
        raise PolicyDenied("webhook", "meeting webhooks are not allowed for you")
    return admitted(MeetingCall(room_id, body))


def admit_server_call(videosdk: VideoSdkSettings) -> Admitted[VideoSdkGrant]:
    """The crawler token the service mints for its own REST calls. Never handed to a
    client: it is sent only to VideoSDK, for a call that was itself admitted."""
    return admitted(VideoSdkGrant(server_grant(), videosdk.server_token_ttl))
