"""Verifying LiveKit webhooks, as LiveKit server signs them.

The Authorization header is a bare HS256 JWT (no "Bearer "), signed with one of the API
keys (chosen by its iss), valid 5 minutes, whose sha256 claim is base64(sha256(body)) of
the exact bytes sent. Pure: the caller passes the raw body, the header and the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from service.signatures import WebhookRejected

ALGORITHM = "HS256"
LEEWAY_SECONDS = 60  # LiveKit's own verifiers allow one minute of clock skew


@dataclass(frozen=True)
class VerifiedWebhook:
    api_key: str
    body: bytes


def _reject(message: str) -> WebhookRejected:
    return WebhookRejected(401, message)


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _reject(f"token claim {name} is not a number")
    return float(value)


def verify_webhook(
    body: bytes, authorization: str | None, keys: Mapping[str, str], *, now: float
) -> VerifiedWebhook:
    if not authorization or not authorization.strip():
        raise WebhookRejected(400, "Authorization header is required")
    token = authorization.strip()
    if token.lower().startswith("bearer "):
        raise _reject("Authorization must be the bare JWT LiveKit sends, without 'Bearer '")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _reject("Authorization is not a JWT") from None
    if header.get("alg") != ALGORITHM:
        raise _reject("webhook tokens must be signed with HS256")
    api_key = unverified.get("iss")
    if not isinstance(api_key, str) or api_key not in keys:
        raise _reject("token issuer is not a configured LiveKit API key")
    try:
        # Times are checked below against the injected clock, not PyJWT's.
        claims = jwt.decode(
            token,
            keys[api_key],
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise _reject("token signature does not verify") from None
    expires = _number(claims, "exp")
    if expires is None:
        raise _reject("token has no exp")
    if now > expires + LEEWAY_SECONDS:
        raise _reject("token has expired")
    not_before = _number(claims, "nbf")
    if not_before is not None and now < not_before - LEEWAY_SECONDS:
        raise _reject("token is not valid yet")
    checksum = claims.get("sha256")
    if not isinstance(checksum, str) or not checksum or not checksum.isascii():
        # Without it any token signed with the secret (a participant's, say) would
        # vouch for any body.
        raise _reject("token has no sha256 claim: not a webhook token")
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    if not hmac.compare_digest(checksum.encode("utf-8"), expected.encode("ascii")):
        raise _reject("body does not match the token's sha256")
    return VerifiedWebhook(api_key=api_key, body=body)


def summarize_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The fields worth one log line: event type, id, room, participant identity, track.
    ("event" itself is the log line's own message in structlog.)"""

    def nested(name: str, key: str) -> Any:
        value = event.get(name)
        return value.get(key) if isinstance(value, Mapping) else None

    return {
        "event_type": event.get("event"),
        "event_id": event.get("id"),
        "room": nested("room", "name"),
        "participant": nested("participant", "identity"),
        "track": nested("track", "sid"),
    }
