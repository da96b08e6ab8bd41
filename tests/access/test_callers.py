"""Authenticating callers with real tokens: API keys, HS256, and a JWKS served locally."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from service.access.callers import (
    JwksCache,
    JwtRules,
    Unauthenticated,
    authenticate_api_key,
    authenticate_jwt,
    jwks_document,
    max_age_of,
)
from service.errors import ApiError, ErrorCode
from tests.access.issuer import AUDIENCE, HS_SECRET, ISSUER, Issuer, hs_token

KEYS = ("first-api-key-0123456789", "rotated-api-key-0123456789")
NO_KEY: Any = None  # alg "none" takes no key


def test_any_configured_api_key_is_accepted_and_named_without_the_key() -> None:
    first, second = (authenticate_api_key(key, KEYS) for key in KEYS)
    assert first.subject != second.subject
    assert KEYS[0] not in first.subject and first.subject.startswith("key-")


@pytest.mark.parametrize(
    "presented", [None, "", "wrong-key-0123456789", KEYS[0] + "x", KEYS[0][:-1]]
)
def test_anything_else_is_refused(presented: str | None) -> None:
    with pytest.raises(Unauthenticated):
        authenticate_api_key(presented, KEYS)


HS_RULES = JwtRules(issuer=ISSUER, audience=AUDIENCE, secret=HS_SECRET)


async def test_an_hs256_login_token_gives_the_callers_identity() -> None:
    caller = await authenticate_jwt(f"Bearer {hs_token(org='acme')}", HS_RULES, None)
    assert (caller.kind, caller.identity, caller.claims["org"]) == ("jwt", "alice", "acme")
    assert "alice" not in caller.subject


@pytest.mark.parametrize(
    ("token", "words"),
    [
        (hs_token(exp=int(time.time()) - 120), "expired"),
        (hs_token(iss="https://evil.example/"), "another issuer"),
        (hs_token(aud="someone-else"), "another audience"),
        (hs_token(exp=None), "does not verify"),
        (hs_token(sub=None), "no sub claim"),
        (
            jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "exp": 2**40},
                "wrong-secret-0123456789abcdefghij",
                algorithm="HS256",
            ),
            "does not verify",
        ),
        (
            jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "exp": 2**40}, NO_KEY, algorithm="none"
            ),
            "HS256",
        ),
        (
            jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "exp": 2**40},
                HS_SECRET,
                algorithm="HS512",
            ),
            "HS256",
        ),
        ("not-a-jwt", "not a JWT"),
    ],
)
async def test_bad_hs256_login_tokens_are_refused_with_the_reason(token: str, words: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await authenticate_jwt(f"Bearer {token}", HS_RULES, None)
    assert words in refused.value.message


@pytest.mark.parametrize("header", [None, "", "Token abc", "bearer abc"])
async def test_a_missing_or_non_bearer_header_is_refused(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        await authenticate_jwt(header, HS_RULES, None)


@pytest.fixture
async def issuer(aiohttp_server: Any) -> tuple[Issuer, JwksCache, JwtRules]:
    from aiohttp import ClientSession

    keys = Issuer()
    keys.add_rsa("rsa-1")
    keys.add_ec("ec-1")
    server = await aiohttp_server(keys.app(), host="127.0.0.1")
    url = str(server.make_url("/.well-known/jwks.json"))

    async def fetch() -> Any:
        async with ClientSession() as session, session.get(url) as response:
            return jwks_document(await response.read())

    return keys, JwksCache(fetch), JwtRules(issuer=ISSUER, audience=AUDIENCE, jwks_url=url)


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
async def test_rs256_and_es256_tokens_verify_against_the_issuers_jwks(
    issuer: Any, kid: str
) -> None:
    keys, cache, rules = issuer
    caller = await authenticate_jwt(f"Bearer {keys.token(kid)}", rules, cache)
    assert caller.identity == "alice"


async def test_keys_are_cached_and_refetched_for_a_rotated_kid(issuer: Any) -> None:
    keys, cache, rules = issuer
    await authenticate_jwt(f"Bearer {keys.token('rsa-1')}", rules, cache)
    await authenticate_jwt(f"Bearer {keys.token('ec-1')}", rules, cache)
    assert keys.fetches == 1
    keys.add_rsa("rsa-2")  # the issuer rotates its key
    cache._fetched_at = None  # as if the refresh guard had long passed
    assert (
        await authenticate_jwt(f"Bearer {keys.token('rsa-2')}", rules, cache)
    ).identity == "alice"
    assert keys.fetches == 2


async def test_an_unknown_kid_is_refused_and_refetches_at_most_once_per_interval(
    issuer: Any,
) -> None:
    keys, cache, rules = issuer
    keys.keys["stray"] = keys.keys["rsa-1"]  # signs, but is never published
    for _ in range(5):
        with pytest.raises(Unauthenticated, match="kid"):
            await authenticate_jwt(f"Bearer {keys.token('stray')}", rules, cache)
    assert keys.fetches == 1


async def test_hs256_signed_with_the_public_key_is_refused(issuer: Any) -> None:
    keys, cache, rules = issuer
    public_pem = (
        keys.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": 2**40}
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()).rstrip(
        b"="
    )
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(
        hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    ).rstrip(b"=")
    forged = (header + b"." + body + b"." + signature).decode()
    with pytest.raises(Unauthenticated, match="RS256 or ES256"):
        await authenticate_jwt(f"Bearer {forged}", rules, cache)


async def test_alg_none_is_refused_with_a_jwks(issuer: Any) -> None:
    _, cache, rules = issuer
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "m", "exp": 2**40},
        NO_KEY,
        algorithm="none",
        headers={"kid": "rsa-1"},
    )
    with pytest.raises(Unauthenticated):
        await authenticate_jwt(f"Bearer {unsigned}", rules, cache)


async def test_a_token_whose_alg_does_not_match_its_key_is_refused(issuer: Any) -> None:
    keys, cache, rules = issuer
    # Signed with the EC key but claiming the RSA key's kid.
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "m", "exp": 2**40},
        keys.keys["ec-1"],
        algorithm="ES256",
        headers={"kid": "rsa-1"},
    )
    with pytest.raises(Unauthenticated):
        await authenticate_jwt(f"Bearer {token}", rules, cache)


@pytest.mark.parametrize(
    "overrides",
    [{"exp": int(time.time()) - 120}, {"iss": "https://evil.example/"}, {"aud": "other"}],
    ids=["expired", "wrong-issuer", "wrong-audience"],
)
async def test_jwks_tokens_are_checked_for_expiry_issuer_and_audience(
    issuer: Any, overrides: dict[str, Any]
) -> None:
    keys, cache, rules = issuer
    with pytest.raises(Unauthenticated):
        await authenticate_jwt(f"Bearer {keys.token('rsa-1', **overrides)}", rules, cache)


class _Keys:
    """A JWKS endpoint under test's control: its answers, failures and fetch count."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.fetches = 0
        self.failing = False
        self.max_age: float | None = None

    async def fetch(self) -> Any:
        self.fetches += 1
        await asyncio.sleep(0)
        if self.failing:
            raise ApiError(
                503, ErrorCode.AUTH_UNAVAILABLE, "the login token issuer's keys are unavailable"
            )
        return self.issuer.jwks(), self.max_age


def _rules() -> JwtRules:
    return JwtRules(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://127.0.0.1:9/jwks")


async def test_while_the_issuer_fails_unknown_kids_cause_one_fetch_per_interval() -> None:
    issuer = Issuer()
    issuer.add_rsa("rsa-1")
    issuer.keys["stray"] = issuer.keys["rsa-1"]
    now = [1000.0]
    keys = _Keys(issuer)
    cache = JwksCache(keys.fetch, clock=lambda: now[0])
    await authenticate_jwt(f"Bearer {issuer.token('rsa-1')}", _rules(), cache)
    keys.failing = True
    now[0] += 11
    for _ in range(30):
        with pytest.raises(Unauthenticated):
            await authenticate_jwt(f"Bearer {issuer.token('stray')}", _rules(), cache)
    assert keys.fetches == 2
    # The last good keys still serve while the issuer is down.
    assert (await authenticate_jwt(f"Bearer {issuer.token('rsa-1')}", _rules(), cache)).identity


async def test_concurrent_requests_share_one_fetch() -> None:
    issuer = Issuer()
    issuer.add_rsa("rsa-1")
    keys = _Keys(issuer)
    cache = JwksCache(keys.fetch)
    token = f"Bearer {issuer.token('rsa-1')}"
    await asyncio.gather(*(authenticate_jwt(token, _rules(), cache) for _ in range(20)))
    assert keys.fetches == 1


async def test_a_withdrawn_key_stops_working_once_the_set_is_older_than_its_max_age() -> None:
    issuer = Issuer()
    issuer.add_rsa("rsa-1")
    issuer.add_rsa("rsa-2")
    now = [1000.0]
    keys = _Keys(issuer)
    keys.max_age = 120  # Cache-Control: max-age=120
    cache = JwksCache(keys.fetch, clock=lambda: now[0])
    token = f"Bearer {issuer.token('rsa-2')}"
    assert (await authenticate_jwt(token, _rules(), cache)).identity
    issuer.published.remove("rsa-2")  # the issuer withdraws it
    now[0] += 100
    assert (await authenticate_jwt(token, _rules(), cache)).identity  # still fresh
    now[0] += 30
    with pytest.raises(Unauthenticated, match="kid"):
        await authenticate_jwt(token, _rules(), cache)
    assert keys.fetches == 2


async def test_with_no_keys_yet_a_failing_issuer_is_503_and_asked_once_per_interval() -> None:
    issuer = Issuer()
    issuer.add_rsa("rsa-1")
    keys = _Keys(issuer)
    keys.failing = True
    cache = JwksCache(keys.fetch, clock=lambda: 1000.0)
    for _ in range(5):
        with pytest.raises(ApiError) as refused:
            await authenticate_jwt(f"Bearer {issuer.token('rsa-1')}", _rules(), cache)
        assert refused.value.status == 503
    assert keys.fetches == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=600", 600.0),
        ("max-age=60, must-revalidate", 60.0),
        ("no-cache", None),
        (None, None),
        ("max-age=abc", None),
    ],
)
def test_the_max_age_of_a_cache_control_header(header: str | None, seconds: float | None) -> None:
    assert max_age_of(header) == seconds
