"""The JSON bodies and answers of VideoSDK's routes."""

# Evaluated annotations: TypedDict reads Required[...] from them (not from strings).
from typing import Any, TypedDict


class VideoSdkTokenBody(TypedDict, total=False):
    permissions: list[str]
    roomId: str
    participantId: str
    roles: list[str]
    ttl: int


class VideoSdkTokenAnswer(TypedDict):
    token: str
    issued_at: int
    expires_at: int
    expires_in: int


class CreateMeetingBody(TypedDict, total=False):
    """As the example servers take it; `token` and `region` are accepted and not used."""

    token: str
    customRoomId: str
    webhook: dict[str, Any]
    autoCloseConfig: dict[str, Any]
    region: str


class ValidateMeetingBody(TypedDict, total=False):
    token: str


class MeetingAnswer(TypedDict, total=False):
    """VideoSDK's room, as it answered, plus the examples' meetingId."""

    roomId: Any
    meetingId: Any
