"""The JSON bodies and answers of LiveKit's routes."""

# Evaluated annotations: TypedDict reads Required[...] from them (not from strings).
from typing import Any, TypedDict


class LiveKitTokenBody(TypedDict, total=False):
    """`room` is the short way to say video = {"roomJoin": true, "room": room}."""

    room: str
    identity: str
    name: str
    metadata: str
    attributes: dict[str, Any]
    ttl: int
    kind: str
    video: dict[str, Any]
    roomConfig: dict[str, Any]
    # Server-class claim groups (LIVEKIT_ALLOW_ADMIN_GRANTS and the policy's grants).
    sip: dict[str, Any]
    inference: dict[str, Any]
    observability: dict[str, Any]
    agent: dict[str, Any]
    agentEndpoint: dict[str, Any]
    agentThread: dict[str, Any]
    roomPreset: str


class LiveKitTokenAnswer(TypedDict):
    token: str
    server_url: str | None
    identity: str
    room: str | None
    claims: dict[str, Any]
    issued_at: int
    expires_at: int
    expires_in: int


class ConnectionDetailsBody(TypedDict, total=False):
    """LiveKit's standard token endpoint: every field optional, room_config in protobuf
    field names."""

    room_name: str
    participant_name: str
    participant_identity: str
    participant_metadata: str
    participant_attributes: dict[str, Any]
    room_config: dict[str, Any]


class ConnectionDetailsAnswer(TypedDict):
    server_url: str
    participant_token: str
    participant_name: str
    room_name: str


class OpenViduBody(TypedDict, total=False):
    roomName: str
    participantName: str


class OpenViduError(TypedDict):
    errorMessage: str
