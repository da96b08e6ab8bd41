"""The JSON bodies and answers of Agora's routes."""

# Evaluated annotations: TypedDict reads Required[...] from them (not from strings).
from typing import Any, Literal, Required, TypedDict


class RtcTokenBody(TypedDict, total=False):
    channel: Required[str]
    uid: int
    user_account: str
    role: Required[Literal["publisher", "subscriber"]]
    expire: int
    privilege_expire: int | dict[str, Any]
    with_rtm: bool
    # RTM login in the same token for another user, with its own lifetime.
    rtm_user_id: str
    rtm_expire: int


class AgentTokenBody(TypedDict, total=False):
    """An AI agent's (ConvoAI) or speech-to-text bot's (STT) token: RTC in the channel
    plus RTM login for rtm_user_id (default: the RTC account)."""

    channel: Required[str]
    uid: int
    user_account: str
    role: Required[Literal["publisher", "subscriber"]]
    expire: int
    privilege_expire: int | dict[str, Any]
    rtm_user_id: str
    rtm_expire: int


class RtmTokenBody(TypedDict, total=False):
    user_id: Required[str]
    expire: int
    # Resource permissions, as buildTokenWithPermissions takes them: resource
    # (message_channels, stream_channels, group_channels, server_groups, users) ->
    # permission (read, write) -> names.
    permissions: dict[str, dict[str, list[str]]]


class ApaasTokenBody(TypedDict, total=False):
    """APaaS (Flexible Classroom), as ApaasTokenBuilder: a user in a room, a user, or the
    app (admin-class)."""

    kind: Required[Literal["room_user", "user", "app"]]
    room_uuid: str
    user_uuid: str
    role: int
    expire: int


class FpaTokenBody(TypedDict, total=False):
    """FPA tokens take nothing: FpaTokenBuilder makes one 24-hour token per app."""


class ChatTokenBody(TypedDict, total=False):
    kind: Required[Literal["user", "app"]]
    user_id: str
    expire: int


class AgoraTokenAnswer(TypedDict):
    token: str
    version: str
    app_id: str
    grants: dict[str, Any]
    issued_at: int
    expires_at: int
    privileges_expire_at: int
    # When the SDK fires tokenPrivilegeWillExpire: fetch a new token then.
    renew_at: int
    expires_in: int


class SampleBody(TypedDict, total=False):
    """Agora's Go token-server sample (names matched case-insensitively, as Go does)."""

    uid: int
    channelName: str
    role: int


class SampleAnswer(TypedDict):
    """The sample's answer, and its errors: the message goes in `token`."""

    code: str
    token: str


class CommunityError(TypedDict, total=False):
    """The community servers' errors: Node reads `error`, Go reads `message`."""

    error: str
    message: str
    status: int


class CommunityTokenBody(TypedDict, total=False):
    """agora-token-service's POST /getToken."""

    tokenType: str
    channel: str
    role: str
    uid: str
    expire: int


class RtcAnswer(TypedDict):
    rtcToken: str


class RtmAnswer(TypedDict):
    rtmToken: str


class RteAnswer(TypedDict):
    rtcToken: str
    rtmToken: str


class ChatAnswer(TypedDict):
    chatToken: str


class PingAnswer(TypedDict):
    message: str
