"""LiveKit's one admission step: from what a caller asked for to the exact claims that will
be signed, judged as LiveKit reads them.

Every LiveKit token on every route (versioned, OpenVidu's /token, connection-details)
comes through here. LiveKit's defaults are made explicit before the policy judges them: an
absent `canPublish` or `canSubscribe` means true, an absent `canPublishData` follows
`canPublish`, an empty `canPublishSources` means every source. A capability the policy does
not allow is written into the token as false (or as the allowed sources), so the token
states the restriction instead of relying on a default. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from service.access.admission import Admitted, admitted
from service.access.callers import Caller
from service.access.policy import LiveKitPolicy, glob_matches, lifetime
from service.errors import ApiError, PolicyDenied
from service.livekit.settings import MIN_TTL_SECONDS, LiveKitSettings
from service.livekit.tokens import (
    GrantError,
    ParticipantGrant,
    check_participant,
    granted_group_fields,
    participant_claims,
)

# LiveKit's client SDKs treat a cached token as expired 60 s before its exp.
RESERVED_ATTRIBUTE_PREFIX = "lk."  # LiveKit's own attributes (agents, SIP, publishing)
# Capabilities a participant holds by LiveKit's defaults, in the order they depend.
_DEFAULT_TRUE = ("canPublish", "canSubscribe")


@dataclass(frozen=True)
class LiveKitGrant:
    """Exactly what a LiveKit token will say: its subject, claims and lifetime."""

    identity: str
    claims: dict[str, Any]  # everything but iss, sub, nbf and exp
    ttl: int
    room: str | None


def _identity(caller: Caller, asked: str, field: str) -> str:
    own = caller.identity
    if own is None:
        return asked
    if asked not in ("", own):
        raise PolicyDenied(
            field, f"{field}: must be your own identity from your login ({own!r}), or left out"
        )
    return own


def _ttl(livekit: LiveKitSettings, policy: LiveKitPolicy, asked: int | None) -> int:
    seconds = lifetime(policy.max_ttl, asked, livekit.token_ttl, field="ttl")
    if not MIN_TTL_SECONDS <= seconds <= livekit.max_token_ttl:
        raise ApiError.invalid_field(
            "ttl",
            f"must be from {MIN_TTL_SECONDS} to {livekit.max_token_ttl} seconds "
            "(LiveKit clients renew a token 60 s before it expires)",
        )
    return seconds


def effective_video(video: Mapping[str, Any], policy: LiveKitPolicy) -> dict[str, Any]:
    """The video grant as LiveKit will read it, with the policy's restrictions written in.
    Raises PolicyDenied for a capability the request names explicitly but may not have."""
    allowed = policy.grants
    effective = dict(video)
    for name, value in video.items():
        if name in ("room", "roomJoin", "canPublishSources", *_DEFAULT_TRUE, "canPublishData"):
            continue
        if value is True and allowed is not None and name not in allowed:
            raise PolicyDenied(f"video.{name}", f"grant {name!r} is not allowed for you")
    if not video:
        return effective
    # Also for a token that does not join: it states nothing a verifier could read as more.
    may_publish = allowed is None or "canPublish" in allowed
    if policy.sources is not None and not policy.sources:
        may_publish = False  # no source allowed: LiveKit reads an empty list as every source
    for name in _DEFAULT_TRUE:
        may = may_publish if name == "canPublish" else (allowed is None or name in allowed)
        asked = video.get(name)
        if asked is True and not may:
            raise PolicyDenied(f"video.{name}", f"grant {name!r} is not allowed for you")
        effective[name] = may if asked is None else asked
    data = video.get("canPublishData")
    may_data = allowed is None or "canPublishData" in allowed
    if data is True and not may_data:
        raise PolicyDenied("video.canPublishData", "grant 'canPublishData' is not allowed for you")
    effective["canPublishData"] = (effective["canPublish"] and may_data) if data is None else data
    if effective["canPublish"] and policy.sources is not None:
        sources = list(video.get("canPublishSources") or [])
        for source in sources:
            if source not in policy.sources:
                raise PolicyDenied(
                    "video.canPublishSources", f"source {source!r} is not allowed for you"
                )
        effective["canPublishSources"] = sources or sorted(policy.sources)
    return effective


def _check_rooms(video: Mapping[str, Any], policy: LiveKitPolicy, caller: Caller) -> None:
    if policy.rooms is None:
        return
    room = video.get("room")
    if not room:
        raise PolicyDenied("room", "name the room: your tokens are limited to some rooms")
    policy.rooms.check(room, caller.claims, field="room", noun="room")
    destination = video.get("destinationRoom")
    if destination:
        policy.rooms.check(destination, caller.claims, field="video.destinationRoom", noun="room")


def _check_participant_data(grant: ParticipantGrant, policy: LiveKitPolicy, admin: bool) -> None:
    if not (grant.kind or grant.metadata or grant.attributes) and policy.kinds is None:
        return  # a plain participant: nothing here to judge
    kind = grant.kind or "standard"
    if policy.kinds is not None and kind not in policy.kinds:
        raise PolicyDenied("kind", f"participant kind {kind!r} is not allowed for you")
    if grant.metadata:
        if not policy.metadata:
            raise PolicyDenied("metadata", "participant metadata is not allowed for you")
        limit = policy.max_metadata_bytes
        if limit is not None and len(grant.metadata.encode("utf-8")) > limit:
            raise PolicyDenied("metadata", f"metadata may be at most {limit} bytes")
    total = 0
    for key, value in grant.attributes.items():
        reserved = key.startswith(RESERVED_ATTRIBUTE_PREFIX)
        if reserved and not admin:
            raise GrantError(
                f"attributes.{key}",
                f"'{RESERVED_ATTRIBUTE_PREFIX}' attributes are LiveKit's own; set "
                "LIVEKIT_ALLOW_ADMIN_GRANTS=true to issue them",
                forbidden=True,
            )
        if policy.attributes is not None:
            # A reserved key needs a pattern that names the prefix itself: "*" is not enough.
            globs = [
                p for p in policy.attributes if p.startswith(RESERVED_ATTRIBUTE_PREFIX) == reserved
            ]
            if not glob_matches(globs, key):
                raise PolicyDenied(f"attributes.{key}", f"attribute {key!r} is not allowed for you")
        total += len(key.encode("utf-8")) + len(value.encode("utf-8"))
    limit = policy.max_attributes_bytes
    if limit is not None and total > limit:
        raise PolicyDenied("attributes", f"attributes may be at most {limit} bytes in all")


def _check_claim_groups(grant: ParticipantGrant, policy: LiveKitPolicy) -> None:
    """Every claim-group field a token would hold must be named in the policy's grants,
    and a room preset must match its room_presets."""
    if grant.groups and policy.grants is not None:
        for name in granted_group_fields(grant.groups):
            if name not in policy.grants:
                raise PolicyDenied(name, f"grant {name!r} is not allowed for you")
    preset = grant.room_preset
    if preset and policy.room_presets is not None and not glob_matches(policy.room_presets, preset):
        raise PolicyDenied("roomPreset", f"room preset {preset!r} is not allowed for you")


def _check_room_config(config: Mapping[str, Any], policy: LiveKitPolicy) -> None:
    if not config:
        return
    for name in config:
        if policy.room_config is not None and name not in policy.room_config:
            raise PolicyDenied(f"roomConfig.{name}", f"roomConfig.{name} is not allowed for you")
    if policy.agents is not None:
        for index, agent in enumerate(config.get("agents", [])):
            name = agent.get("agentName", "")
            if not glob_matches(policy.agents, name):
                raise PolicyDenied(
                    f"roomConfig.agents[{index}].agentName",
                    f"agent {name!r} may not be dispatched by you",
                )
    if "maxParticipants" in config:
        count = config["maxParticipants"]
        low, high = policy.min_participants, policy.max_participants
        # 0 is LiveKit's "no limit".
        if high is not None and (count == 0 or count > high):
            raise PolicyDenied(
                "roomConfig.maxParticipants", f"maxParticipants may be at most {high}"
            )
        if low is not None and count != 0 and count < low:
            raise PolicyDenied(
                "roomConfig.maxParticipants", f"maxParticipants must be at least {low}"
            )
    for name, limit in (
        ("emptyTimeout", policy.max_empty_timeout),
        ("departureTimeout", policy.max_departure_timeout),
    ):
        if limit is not None and config.get(name, 0) > limit:
            raise PolicyDenied(f"roomConfig.{name}", f"{name} may be at most {limit} seconds")


def admit_participant(
    livekit: LiveKitSettings,
    caller: Caller,
    policy: LiveKitPolicy,
    asked: ParticipantGrant,
    *,
    ttl: int | None,
    identity_field: str = "identity",
) -> Admitted[LiveKitGrant]:
    """The whole grant, judged: LiveKit's own rules, the configuration's switches, then the
    caller's policy over the effective grant."""
    identity = _identity(caller, asked.identity, identity_field)
    grant = asked if identity == asked.identity else replace(asked, identity=identity)
    admin = livekit.allow_admin_grants
    try:
        check_participant(grant, allow_admin=admin)
        _check_participant_data(grant, policy, admin)
        _check_rooms(grant.video, policy, caller)
        video = effective_video(grant.video, policy)
        _check_room_config(grant.room_config, policy)
        _check_claim_groups(grant, policy)
    except GrantError as error:
        if error.forbidden:
            raise PolicyDenied(error.field, str(error)) from None
        raise ApiError.invalid_field(error.field, error.message) from None
    seconds = _ttl(livekit, policy, ttl)
    claims = participant_claims(grant)
    if video:
        claims["video"] = video
    room = video.get("room")
    return admitted(LiveKitGrant(identity, claims, seconds, room if room else None))
