"""From an admitted grant to a signed LiveKit token and the facts about it.

Only grants that passed admission (service/livekit/admission.py) are signed. Pure: the
issue time is an argument. Shared by every LiveKit token route.
"""

from __future__ import annotations

from service.access.admission import Admitted, require_admitted
from service.errors import ApiError
from service.livekit.admission import LiveKitGrant
from service.livekit.settings import LiveKitSettings
from service.livekit.shapes import LiveKitTokenAnswer
from service.livekit.tokens import build_token


def signing_key_of(livekit: LiveKitSettings) -> tuple[str, str]:
    if livekit.signing_key is None:
        raise ApiError.not_configured(
            "LiveKit",
            "set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or LIVEKIT_KEYS / LIVEKIT_KEY_FILE)",
        )
    return livekit.signing_key, livekit.keys[livekit.signing_key]


def issue_participant_token(
    livekit: LiveKitSettings, admitted: Admitted[LiveKitGrant], *, issued_at: int
) -> LiveKitTokenAnswer:
    require_admitted(admitted)
    api_key, api_secret = signing_key_of(livekit)
    grant = admitted.value
    token = build_token(
        api_key,
        api_secret,
        claims=grant.claims,
        issued_at=issued_at,
        ttl=grant.ttl,
        identity=grant.identity,
    )
    return LiveKitTokenAnswer(
        token=token,
        server_url=livekit.url,
        identity=grant.identity,
        room=grant.room,
        claims=grant.claims,
        issued_at=issued_at,
        expires_at=issued_at + grant.ttl,
        expires_in=grant.ttl,
    )
