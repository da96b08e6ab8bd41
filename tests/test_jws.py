"""HS256 signing, checked by PyJWT (a verifier we did not write)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from service.jws import sign_hs256

SECRET = "a-secret-of-at-least-thirty-two-characters"


def _verified(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
    )
    return claims


def test_a_token_verifies_with_pyjwt_and_carries_the_claims() -> None:
    claims = {"iss": "key", "sub": "alice", "exp": 2_000_000_000, "video": {"roomJoin": True}}
    assert _verified(sign_hs256(claims, SECRET)) == claims


def test_the_bytes_are_pyjwts_for_the_same_claims() -> None:
    claims = {"iss": "key", "sub": "alice", "nbf": 1, "exp": 2, "video": {"room": "r"}}
    assert sign_hs256(claims, SECRET) == jwt.encode(claims, SECRET, algorithm="HS256")


def test_the_header_names_hs256_and_jwt() -> None:
    header = jwt.get_unverified_header(sign_hs256({"iss": "key"}, SECRET))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_non_ascii_claims_survive() -> None:
    claims = {"name": "Zoë 東京", "metadata": "ñ"}
    assert _verified(sign_hs256(claims, SECRET)) == claims


def test_integers_beyond_64_bits_are_written_too() -> None:
    claims = {"metadata": {"counter": 10**30}}
    assert _verified(sign_hs256(claims, SECRET)) == claims


def test_another_secret_does_not_verify() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(sign_hs256({"iss": "key"}, "another secret"), SECRET, algorithms=["HS256"])


def test_segments_are_unpadded_base64url() -> None:
    token = sign_hs256({"iss": "key", "data": "\xff" * 7}, SECRET)
    assert "=" not in token and "+" not in token and "/" not in token
    payload = token.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iss"] == "key"
