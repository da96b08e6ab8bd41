"""VideoSDK tokens: HS256 JWTs signed with the project secret.

Claims as VideoSDK documents them: `apikey` and `permissions` always; `version: 2` whenever
`roomId`, `participantId` or `roles` restrict the token; `iat`, `exp` and `jti`. Pure: the
issue time and the token id are arguments. The checks refuse what VideoSDK would refuse
only when the client joins (INVALID_PERMISSIONS, INVALID_PARTICIPANT_ID, UNAUTHORIZED_ROLE).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.jws import sign_hs256

PERMISSIONS = ("allow_join", "ask_join", "allow_mod")
ROLES = ("rtc", "crawler")
_WHITESPACE = re.compile(r"\s")


class TokenRuleError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TokenGrant:
    permissions: Sequence[str]
    room_id: str | None = None
    participant_id: str | None = None
    roles: Sequence[str] | None = None


def _distinct_known(field: str, values: Sequence[str], known: Sequence[str]) -> None:
    if not values:
        raise TokenRuleError(field, f"must name at least one of {', '.join(known)}")
    for value in values:
        if value not in known:
            raise TokenRuleError(field, f"{value!r} is not one of {', '.join(known)}")
    if len(set(values)) != len(values):
        raise TokenRuleError(field, "must not repeat a value")


MAX_ROOM_ID_LENGTH = 256


def check_participant_id(participant_id: str) -> str:
    if not participant_id or _WHITESPACE.search(participant_id):
        # INVALID_PARTICIPANT_ID (4004) at join.
        raise TokenRuleError("participantId", "must be non-empty, without whitespace")
    return participant_id


def check_room_id(room_id: str, field: str = "roomId") -> str:
    """A room id that names one room: not blank, at most 256 characters, and never a dot
    segment (a URL path would resolve "." or ".." to another resource)."""
    if not room_id.strip() or len(room_id) > MAX_ROOM_ID_LENGTH:
        raise TokenRuleError(
            field, f"must not be empty or blank, and at most {MAX_ROOM_ID_LENGTH} characters"
        )
    if room_id in (".", ".."):
        raise TokenRuleError(field, "must not be '.' or '..'")
    return room_id


# A meeting id that goes into an upstream URL path: characters that stand for themselves
# in a path segment (RFC 3986 pchar, without "%"), so the path VideoSDK receives is exactly
# /v2/rooms/validate/<id>, whatever decoding a proxy or client library applies.
_MEETING_ID = re.compile(r"[A-Za-z0-9._~:@!$&'()*+,;=-]{1,256}")


def check_meeting_id(meeting_id: str, field: str = "meetingId") -> str:
    if _MEETING_ID.fullmatch(meeting_id) is None or meeting_id in (".", ".."):
        raise TokenRuleError(
            field,
            "must be 1 to 256 of A-Z a-z 0-9 and . _ ~ : @ ! $ & ' ( ) * + , ; = - "
            "(no '/', '%', spaces or control characters), and not '.' or '..'",
        )
    return meeting_id


def check_grant(grant: TokenGrant) -> None:
    _distinct_known("permissions", grant.permissions, PERMISSIONS)
    if "ask_join" in grant.permissions and len(grant.permissions) > 1:
        # The client SDKs refuse this at join: INVALID_PERMISSIONS (4008).
        raise TokenRuleError(
            "permissions", "ask_join must not be combined with allow_join or allow_mod"
        )
    if grant.room_id is not None:
        check_room_id(grant.room_id)
    if grant.participant_id is not None:
        check_participant_id(grant.participant_id)
    if grant.roles is not None:
        _distinct_known("roles", grant.roles, ROLES)


def token_claims(api_key: str, grant: TokenGrant) -> dict[str, Any]:
    claims: dict[str, Any] = {"apikey": api_key, "permissions": list(grant.permissions)}
    restricted = False
    if grant.room_id is not None:
        claims["roomId"] = grant.room_id
        restricted = True
    if grant.participant_id is not None:
        claims["participantId"] = grant.participant_id
        restricted = True
    if grant.roles is not None:
        claims["roles"] = list(grant.roles)
        restricted = True
    if restricted:
        claims["version"] = 2  # required with roomId, participantId or roles; a number
    return claims


def build_token(
    api_key: str, secret: str, grant: TokenGrant, *, issued_at: int, ttl: int, token_id: str
) -> str:
    check_grant(grant)
    payload = {
        **token_claims(api_key, grant),
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": token_id,
    }
    return sign_hs256(payload, secret)


def server_grant() -> TokenGrant:
    """What the server uses for its own REST calls: the REST API only, never a meeting."""
    return TokenGrant(permissions=("allow_join",), roles=("crawler",))
