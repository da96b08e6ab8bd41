"""LiveKit token claims and LiveKit's rules, judged by the official livekit-api package."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from livekit.api import TokenVerifier

from service.livekit.tokens import (
    GrantError,
    ParticipantGrant,
    build_token,
    check_participant,
    participant_claims,
)
from tests.helpers import LIVEKIT_KEY, LIVEKIT_SECRET, NOW


def _token(grant: ParticipantGrant, ttl: int = 600) -> str:
    return build_token(
        LIVEKIT_KEY,
        LIVEKIT_SECRET,
        claims=participant_claims(grant),
        issued_at=NOW,
        ttl=ttl,
        identity=grant.identity,
    )


def _raw(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def test_a_join_token_carries_exactly_the_claims_asked_for() -> None:
    grant = ParticipantGrant(
        identity="alice",
        name="Alice",
        metadata='{"color":"blue"}',
        attributes={"team": "red"},
        video={"roomJoin": True, "room": "room1", "canPublishSources": ["camera", "microphone"]},
        room_config={"agents": [{"agentName": "helper", "metadata": "m"}]},
    )
    assert _raw(_token(grant)) == {
        "iss": LIVEKIT_KEY,
        "sub": "alice",
        "nbf": NOW,
        "exp": NOW + 600,
        "name": "Alice",
        "video": {"roomJoin": True, "room": "room1", "canPublishSources": ["camera", "microphone"]},
        "metadata": '{"color":"blue"}',
        "attributes": {"team": "red"},
        "roomConfig": {"agents": [{"agentName": "helper", "metadata": "m"}]},
    }
    assert jwt.get_unverified_header(_token(grant))["alg"] == "HS256"


def test_livekits_token_verifier_accepts_the_token_and_reads_the_grants() -> None:
    grant = ParticipantGrant(
        identity="alice",
        name="Alice",
        kind="standard",
        video={
            "roomJoin": True,
            "room": "room1",
            "canPublish": False,
            "canUpdateOwnMetadata": True,
        },
        room_config={"emptyTimeout": 30, "agents": [{"agentName": "helper"}]},
    )
    verifier = TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET)
    # The verifier checks exp against its own clock: mint with a far ttl.
    claims = verifier.verify(
        build_token(
            LIVEKIT_KEY,
            LIVEKIT_SECRET,
            claims=participant_claims(grant),
            issued_at=NOW,
            ttl=10**9,
            identity="alice",
        )
    )
    assert (claims.identity, claims.name, claims.kind) == ("alice", "Alice", "standard")
    assert claims.video is not None
    assert (claims.video.room_join, claims.video.room) == (True, "room1")
    assert (claims.video.can_publish, claims.video.can_update_own_metadata) == (False, True)
    assert claims.room_config is not None
    assert claims.room_config.empty_timeout == 30
    assert claims.room_config.agents[0].agent_name == "helper"


def test_the_verifier_refuses_our_token_under_another_secret() -> None:
    token = _token(ParticipantGrant(identity="a", video={"roomJoin": True, "room": "r"}), ttl=10**9)
    with pytest.raises(jwt.InvalidSignatureError):
        TokenVerifier(LIVEKIT_KEY, "another-secret-0123456789abcdefghij").verify(token)


def _refused(grant: ParticipantGrant, *, allow_admin: bool = False) -> GrantError:
    with pytest.raises(GrantError) as raised:
        check_participant(grant, allow_admin=allow_admin)
    return raised.value


JOIN = {"roomJoin": True, "room": "room1"}


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        (ParticipantGrant(identity="", video=JOIN), "identity"),
        (ParticipantGrant(identity="é" * 129, video=JOIN), "identity"),
        (ParticipantGrant(identity="a", name="n" * 257, video=JOIN), "name"),
        (ParticipantGrant(identity="a", metadata="m" * (512 * 1024 + 1), video=JOIN), "metadata"),
        (ParticipantGrant(identity="a", attributes={"k": "v" * 65536}, video=JOIN), "attributes"),
        (ParticipantGrant(identity="a", attributes={"k": 1}, video=JOIN), "attributes"),  # type: ignore[dict-item]
        (ParticipantGrant(identity="a", kind="robot", video=JOIN), "kind"),
        (ParticipantGrant(identity="a", video={"roomJoin": True}), "room"),
        (ParticipantGrant(identity="a", video={"roomJoin": True, "room": ""}), "room"),
        (ParticipantGrant(identity="a", video={**JOIN, "room": "r" * 257}), "video.room"),
        (ParticipantGrant(identity="a", video={**JOIN, "canFly": True}), "video.canFly"),
        (ParticipantGrant(identity="a", video={**JOIN, "canPublish": "yes"}), "video.canPublish"),
        (
            ParticipantGrant(identity="a", video={**JOIN, "canPublishSources": ["webcam"]}),
            "video.canPublishSources",
        ),
        (
            ParticipantGrant(identity="a", video=JOIN, room_config={"egress": {}}),
            "roomConfig.egress",
        ),
        (
            ParticipantGrant(identity="a", video=JOIN, room_config={"colour": 1}),
            "roomConfig.colour",
        ),
        (
            ParticipantGrant(identity="a", video=JOIN, room_config={"emptyTimeout": -1}),
            "roomConfig.emptyTimeout",
        ),
        (
            ParticipantGrant(identity="a", video=JOIN, room_config={"agents": [{"name": "x"}]}),
            "roomConfig.agents[0].name",
        ),
        (
            ParticipantGrant(identity="a", video=JOIN, room_config={"agents": ["x"]}),
            "roomConfig.agents[0]",
        ),
    ],
)
def test_claims_livekit_would_refuse_are_refused_naming_the_field(
    grant: ParticipantGrant, field: str
) -> None:
    refused = _refused(grant)
    assert refused.field == field
    assert not refused.forbidden


@pytest.mark.parametrize(
    "name",
    [
        "roomAdmin",
        "roomCreate",
        "roomList",
        "roomRecord",
        "ingressAdmin",
        "hidden",
        "recorder",
        "agent",
    ],
)
def test_server_grants_need_configuration(name: str) -> None:
    grant = ParticipantGrant(identity="a", video={**JOIN, name: True})
    refused = _refused(grant)
    assert refused.forbidden and "LIVEKIT_ALLOW_ADMIN_GRANTS" in refused.message
    check_participant(grant, allow_admin=True)


def test_a_server_grant_set_to_false_needs_nothing() -> None:
    check_participant(
        ParticipantGrant(identity="a", video={**JOIN, "roomAdmin": False}), allow_admin=False
    )


def test_server_participant_kinds_need_configuration() -> None:
    assert _refused(ParticipantGrant(identity="a", kind="agent", video=JOIN)).forbidden
    check_participant(ParticipantGrant(identity="a", kind="agent", video=JOIN), allow_admin=True)
