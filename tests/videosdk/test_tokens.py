"""VideoSDK tokens, decoded with PyJWT and checked claim by claim against VideoSDK's docs."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from service.videosdk.tokens import TokenGrant, TokenRuleError, build_token, server_grant
from tests.helpers import NOW, VIDEOSDK_KEY, VIDEOSDK_SECRET


def _decoded(grant: TokenGrant, ttl: int = 600) -> dict[str, Any]:
    token = build_token(
        VIDEOSDK_KEY, VIDEOSDK_SECRET, grant, issued_at=NOW, ttl=ttl, token_id="t-1"
    )
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, Any] = jwt.decode(
        token, VIDEOSDK_SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    return claims


def test_an_unrestricted_token_has_apikey_permissions_iat_exp_jti_and_no_version() -> None:
    assert _decoded(TokenGrant(permissions=("allow_join", "allow_mod"))) == {
        "apikey": VIDEOSDK_KEY,
        "permissions": ["allow_join", "allow_mod"],
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "t-1",
    }


def test_a_room_and_participant_restricted_token_carries_version_2_as_a_number() -> None:
    claims = _decoded(
        TokenGrant(
            permissions=("allow_join",),
            room_id="abc-xyzw-lmno",
            participant_id="alice",
            roles=("rtc",),
        )
    )
    assert claims["version"] == 2
    assert (claims["roomId"], claims["participantId"], claims["roles"]) == (
        "abc-xyzw-lmno",
        "alice",
        ["rtc"],
    )


@pytest.mark.parametrize(
    "grant",
    [
        TokenGrant(permissions=("allow_join",), room_id="r"),
        TokenGrant(permissions=("allow_join",), participant_id="p"),
        TokenGrant(permissions=("allow_join",), roles=("crawler",)),
    ],
)
def test_each_restriction_alone_sets_version_2(grant: TokenGrant) -> None:
    assert _decoded(grant)["version"] == 2


def test_the_server_token_is_for_the_rest_api_only() -> None:
    claims = _decoded(server_grant(), ttl=120)
    assert (claims["roles"], claims["version"], claims["exp"] - claims["iat"]) == (
        ["crawler"],
        2,
        120,
    )


@pytest.mark.parametrize(
    ("grant", "field", "words"),
    [
        (TokenGrant(permissions=()), "permissions", "at least one"),
        (TokenGrant(permissions=("allow_everything",)), "permissions", "not one of"),
        (TokenGrant(permissions=("allow_join", "allow_join")), "permissions", "repeat"),
        (TokenGrant(permissions=("ask_join", "allow_join")), "permissions", "ask_join"),
        (TokenGrant(permissions=("ask_join", "allow_mod")), "permissions", "ask_join"),
        (
            TokenGrant(permissions=("allow_join",), participant_id="alice smith"),
            "participantId",
            "whitespace",
        ),
        (TokenGrant(permissions=("allow_join",), participant_id=""), "participantId", "non-empty"),
        (TokenGrant(permissions=("allow_join",), room_id=" "), "roomId", "empty"),
        (TokenGrant(permissions=("allow_join",), roles=()), "roles", "at least one"),
        (TokenGrant(permissions=("allow_join",), roles=("admin",)), "roles", "not one of"),
        (TokenGrant(permissions=("allow_join",), roles=("rtc", "rtc")), "roles", "repeat"),
    ],
)
def test_combinations_videosdk_refuses_at_join_are_refused(
    grant: TokenGrant, field: str, words: str
) -> None:
    with pytest.raises(TokenRuleError) as raised:
        _decoded(grant)
    assert raised.value.field == field
    assert words in raised.value.message


def test_ask_join_alone_is_accepted() -> None:
    assert _decoded(TokenGrant(permissions=("ask_join",)))["permissions"] == ["ask_join"]
