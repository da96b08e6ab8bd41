"""LiveKit access tokens: HS256 JWTs whose claims follow livekit/protocol's ClaimGrants.

Pure: the issue time is an argument and nothing is read from the environment. The grant
checks mirror what LiveKit server enforces when a client connects (identity, room and
size limits), so a token we mint is never one the server will refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.jws import sign_hs256

# LiveKit server's default limits, in bytes (pkg/config/config.go).
MAX_IDENTITY_BYTES = 256
MAX_NAME_BYTES = 256
MAX_ROOM_BYTES = 256
MAX_METADATA_BYTES = 512 * 1024
MAX_ATTRIBUTES_BYTES = 64 * 1024

# The video grant, by JSON name: what type each field takes.
VIDEO_GRANT_TYPES: dict[str, type] = {
    "roomCreate": bool,
    "roomList": bool,
    "roomRecord": bool,
    "roomAdmin": bool,
    "roomJoin": bool,
    "room": str,
    "canPublish": bool,
    "canSubscribe": bool,
    "canPublishData": bool,
    "canPublishSources": list,
    "canUpdateOwnMetadata": bool,
    "ingressAdmin": bool,
    "hidden": bool,
    "recorder": bool,
    "agent": bool,
    "canSubscribeMetrics": bool,
    "canManageAgentSession": bool,
    "destinationRoom": str,
}
# Grants for servers and operators, not for participants' own clients.
ADMIN_VIDEO_GRANTS = frozenset(
    {
        "roomCreate",
        "roomList",
        "roomRecord",
        "roomAdmin",
        "ingressAdmin",
        "hidden",
        "recorder",
        "agent",
        "canManageAgentSession",
        "destinationRoom",
    }
)
TRACK_SOURCES = frozenset({"camera", "microphone", "screen_share", "screen_share_audio"})
PARTICIPANT_KINDS = frozenset(
    {"standard", "ingress", "egress", "sip", "agent", "connector", "bridge"}
)

# RoomConfiguration (protojson names) as a token's roomConfig may carry it. Egress is left
# out on purpose: it holds storage credentials that must never sit in a client's token.
ROOM_CONFIG_TYPES: dict[str, type] = {
    "name": str,
    "emptyTimeout": int,
    "departureTimeout": int,
    "maxParticipants": int,
    "metadata": str,
    "minPlayoutDelay": int,
    "maxPlayoutDelay": int,
    "syncStreams": bool,
    "agents": list,
    "tags": dict,
}
AGENT_DISPATCH_TYPES: dict[str, type] = {
    "agentName": str,
    "metadata": str,
    "deployment": str,
    "attributes": dict,
}


# The claim groups beside the video grant (livekit-api 1.2.2's Claims), by JSON name: each
# field's type. Every one is for servers and operators (SIP trunks and calls, inference,
# observability, agent administration, agent endpoints and threads): server-class.
CLAIM_GROUP_TYPES: dict[str, dict[str, type]] = {
    "sip": {"admin": bool, "call": bool},
    "inference": {"perform": bool},
    "observability": {"write": bool},
    "agent": {
        "admin": bool,
        "simulationAdmin": bool,
        "databaseAdmin": bool,
        "dispatchAdmin": bool,
    },
    "agentEndpoint": {"call": bool, "agentName": str, "deployment": str},
    "agentThread": {
        "all": bool,
        "scope": str,
        "threadIds": list,
        "list": bool,
        "create": bool,
        "write": bool,
        "read": bool,
        "delete": bool,
    },
}
# Every claim-group field as the policy names it: "<group>.<field>".
CLAIM_GROUP_GRANTS = frozenset(
    f"{group}.{name}" for group, fields in CLAIM_GROUP_TYPES.items() for name in fields
)
MAX_ROOM_PRESET_BYTES = 256


class GrantError(ValueError):
    """A claim LiveKit would refuse, or we will not put in a token; `field` names it.
    `forbidden` marks a server-only grant that configuration has not allowed."""

    def __init__(self, field: str, message: str, *, forbidden: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.forbidden = forbidden


@dataclass(frozen=True)
class ParticipantGrant:
    """What a token says about its holder. Empty values are left out of the token."""

    identity: str
    video: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    metadata: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    kind: str = ""
    room_config: Mapping[str, Any] = field(default_factory=dict)
    # Claim groups beside the video grant (CLAIM_GROUP_TYPES), by JSON name.
    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    room_preset: str = ""


def _size(value: str) -> int:
    return len(value.encode("utf-8"))


UINT32_MAX = 2**32 - 1  # RoomConfiguration's numbers are uint32 in LiveKit's protobuf


def _check_type(field_name: str, value: Any, expected: type) -> None:
    if expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT32_MAX
    else:
        ok = isinstance(value, expected)
    if not ok:
        kinds = {
            bool: "true or false",
            str: "a string",
            int: f"a whole number from 0 to {UINT32_MAX}",
            list: "a list",
        }
        raise GrantError(field_name, f"must be {kinds.get(expected, 'an object')}")


def _check_string_map(field_name: str, values: Any) -> None:
    if not isinstance(values, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    ):
        raise GrantError(field_name, "must be an object of string values")


def check_video_grant(video: Mapping[str, Any], *, allow_admin: bool) -> None:
    for name, value in video.items():
        if name not in VIDEO_GRANT_TYPES:
            raise GrantError(f"video.{name}", "is not a LiveKit video grant")
        _check_type(f"video.{name}", value, VIDEO_GRANT_TYPES[name])
        if name in ADMIN_VIDEO_GRANTS and value and not allow_admin:
            raise GrantError(
                f"video.{name}",
                "is a server grant; set LIVEKIT_ALLOW_ADMIN_GRANTS=true to issue it",
                forbidden=True,
            )
    sources = video.get("canPublishSources", [])
    for source in sources:
        if not isinstance(source, str) or source not in TRACK_SOURCES:
            raise GrantError(
                "video.canPublishSources",
                f"{source!r} is not one of {', '.join(sorted(TRACK_SOURCES))}",
            )
    for name in ("room", "destinationRoom"):
        if _size(video.get(name, "")) > MAX_ROOM_BYTES:
            raise GrantError(f"video.{name}", f"must be at most {MAX_ROOM_BYTES} bytes")


def check_room_config(config: Mapping[str, Any]) -> None:
    for name, value in config.items():
        if name == "egress":
            raise GrantError(
                "roomConfig.egress",
                "is not allowed: egress settings carry storage credentials, which must "
                "never travel in a participant's token",
            )
        if name not in ROOM_CONFIG_TYPES:
            raise GrantError(f"roomConfig.{name}", "is not a RoomConfiguration field")
        _check_type(f"roomConfig.{name}", value, ROOM_CONFIG_TYPES[name])
    if "tags" in config:
        _check_string_map("roomConfig.tags", config["tags"])
    for index, agent in enumerate(config.get("agents", [])):
        where = f"roomConfig.agents[{index}]"
        if not isinstance(agent, Mapping):
            raise GrantError(where, "must be an object")
        for name, value in agent.items():
            if name not in AGENT_DISPATCH_TYPES:
                raise GrantError(f"{where}.{name}", "is not an agent dispatch field")
            _check_type(f"{where}.{name}", value, AGENT_DISPATCH_TYPES[name])
        if "attributes" in agent:
            _check_string_map(f"{where}.attributes", agent["attributes"])


def granted_group_fields(groups: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The claim-group fields a token would hold: "<group>.<field>" for every true flag
    or non-empty value."""
    return [
        f"{group}.{name}"
        for group, fields in groups.items()
        for name, value in fields.items()
        if value not in (False, "", [], None)
    ]


def check_claim_groups(groups: Mapping[str, Any], *, allow_admin: bool) -> None:
    if not groups:
        return  # most tokens: a participant's, with no claim group beside the video grant
    for group, fields in groups.items():
        if group not in CLAIM_GROUP_TYPES:
            raise GrantError(group, "is not a LiveKit claim group")
        if not isinstance(fields, Mapping):
            raise GrantError(group, "must be an object")
        for name, value in fields.items():
            where = f"{group}.{name}"
            if name not in CLAIM_GROUP_TYPES[group]:
                raise GrantError(where, f"is not a field of LiveKit's {group} grant")
            _check_type(where, value, CLAIM_GROUP_TYPES[group][name])
            if isinstance(value, list) and not all(isinstance(v, str) and v for v in value):
                raise GrantError(where, "must be a list of non-empty strings")
            if isinstance(value, str) and _size(value) > MAX_ROOM_BYTES:
                raise GrantError(where, f"must be at most {MAX_ROOM_BYTES} bytes")
    granted = granted_group_fields(groups)
    if granted and not allow_admin:
        raise GrantError(
            granted[0],
            "is a server grant; set LIVEKIT_ALLOW_ADMIN_GRANTS=true to issue it",
            forbidden=True,
        )


def check_participant(grant: ParticipantGrant, *, allow_admin: bool) -> None:
    """LiveKit's own rules for a participant token, checked before it is signed."""
    if not grant.identity:
        raise GrantError("identity", "must not be empty")
    if _size(grant.identity) > MAX_IDENTITY_BYTES:
        raise GrantError("identity", f"must be at most {MAX_IDENTITY_BYTES} bytes")
    if _size(grant.name) > MAX_NAME_BYTES:
        raise GrantError("name", f"must be at most {MAX_NAME_BYTES} bytes")
    if _size(grant.metadata) > MAX_METADATA_BYTES:
        raise GrantError("metadata", f"must be at most {MAX_METADATA_BYTES} bytes")
    _check_string_map("attributes", grant.attributes)
    attributes_size = sum(_size(k) + _size(v) for k, v in grant.attributes.items())
    if attributes_size > MAX_ATTRIBUTES_BYTES:
        raise GrantError("attributes", f"must be at most {MAX_ATTRIBUTES_BYTES} bytes in all")
    if grant.kind and grant.kind not in PARTICIPANT_KINDS:
        raise GrantError("kind", f"must be one of {', '.join(sorted(PARTICIPANT_KINDS))}")
    if grant.kind not in ("", "standard") and not allow_admin:
        raise GrantError(
            "kind",
            "is a server participant kind; set LIVEKIT_ALLOW_ADMIN_GRANTS=true",
            forbidden=True,
        )
    check_video_grant(grant.video, allow_admin=allow_admin)
    if grant.video.get("roomJoin") and not grant.video.get("room"):
        # With an empty room, LiveKit lets the URL pick any room.
        raise GrantError("room", "is required for a token that joins a room")
    check_room_config(grant.room_config)
    check_claim_groups(grant.groups, allow_admin=allow_admin)
    if _size(grant.room_preset) > MAX_ROOM_PRESET_BYTES:
        raise GrantError("roomPreset", f"must be at most {MAX_ROOM_PRESET_BYTES} bytes")


def participant_claims(grant: ParticipantGrant) -> dict[str, Any]:
    """The LiveKit claims of a token (everything but iss, sub, nbf, exp)."""
    claims: dict[str, Any] = {}
    if grant.name:
        claims["name"] = grant.name
    if grant.kind:
        claims["kind"] = grant.kind
    if grant.video:
        claims["video"] = dict(grant.video)
    if grant.metadata:
        claims["metadata"] = grant.metadata
    if grant.attributes:
        claims["attributes"] = dict(grant.attributes)
    if grant.room_config:
        claims["roomConfig"] = dict(grant.room_config)
    for group, fields in grant.groups.items():
        kept = {name: value for name, value in fields.items() if value not in ("", None)}
        if kept:
            claims[group] = kept
    if grant.room_preset:
        claims["roomPreset"] = grant.room_preset
    return claims


def build_token(
    api_key: str,
    api_secret: str,
    *,
    claims: Mapping[str, Any],
    issued_at: int,
    ttl: int,
    identity: str = "",
) -> str:
    """Sign claims as LiveKit's SDKs do: iss = API key, sub = identity, nbf = now (LiveKit
    Cloud revokes by nbf), exp = now + ttl."""
    payload: dict[str, Any] = {"iss": api_key}
    if identity:
        payload["sub"] = identity
    payload.update({"nbf": issued_at, "exp": issued_at + ttl, **claims})
    return sign_hs256(payload, api_secret)
