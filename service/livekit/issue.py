"""From a validated participant grant to a signed LiveKit token and the facts about it.

Pure: the issue time is an argument. Shared by every LiveKit token route.
"""

from __future__ import annotations

from typing import Any

from service.config import LiveKitSettings
from service.errors import ApiError
from service.livekit.tokens import (
    GrantError,
    ParticipantGrant,
    build_token,
    check_participant,
    participant_claims,
)

# LiveKit's client SDKs treat a cached token as expired 60 s before its exp.
MIN_TTL_SECONDS = 61


def signing_key_of(livekit: LiveKitSettings) -> tuple[str, str]:
    if livekit.signing_key is None:
        raise ApiError(
            503,
            "platform_disabled",
            "LiveKit is not configured: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET "
            "(or LIVEKIT_KEYS / LIVEKIT_KEY_FILE)",
        )
    return livekit.signing_key, livekit.keys[livekit.signing_key]


def _ttl(livekit: LiveKitSettings, ttl: int | None) -> int:
    if ttl is None:
        return livekit.token_ttl
    if not MIN_TTL_SECONDS <= ttl <= livekit.max_token_ttl:
        raise ApiError.invalid_field(
            "ttl",
            f"must be from {MIN_TTL_SECONDS} to {livekit.max_token_ttl} seconds "
            "(LiveKit clients renew a token 60 s before it expires)",
        )
    return ttl


def issue_participant_token(
    livekit: LiveKitSettings, grant: ParticipantGrant, *, ttl: int | None, issued_at: int
) -> dict[str, Any]:
    api_key, api_secret = signing_key_of(livekit)
    try:
        check_participant(grant, allow_admin=livekit.allow_admin_grants)
    except GrantError as error:
        if error.forbidden:
            raise ApiError(403, "forbidden", str(error), field=error.field) from None
        raise ApiError.invalid_field(error.field, error.message) from None
    lifetime = _ttl(livekit, ttl)
    claims = participant_claims(grant)
    token = build_token(
        api_key,
        api_secret,
        claims=claims,
        issued_at=issued_at,
        ttl=lifetime,
        identity=grant.identity,
    )
    return {
        "token": token,
        "server_url": livekit.url,
        "identity": grant.identity,
        "room": grant.video.get("room"),
        "claims": claims,
        "issued_at": issued_at,
        "expires_at": issued_at + lifetime,
        "expires_in": lifetime,
    }
