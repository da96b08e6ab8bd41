"""Authenticating callers: none, shared API keys, or the app's own user JWTs.

Pure apart from fetching a JWKS, which goes through an injected async function.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from service.access.identity import IdentityError, login_identity
from service.logs import get_logger
from service.signatures import WebhookRejected

ASYMMETRIC = ("RS256", "ES256")
JWKS_MIN_REFRESH_SECONDS = 10.0  # at most one fetch this often, whatever its outcome
JWKS_DEFAULT_MAX_AGE = 300.0
JWKS_MIN_MAX_AGE, JWKS_MAX_MAX_AGE = 60.0, 86_400.0
LEEWAY_SECONDS = 30

log = get_logger("service.access")


class Unauthenticated(WebhookRejected):
    """No credentials (400 is never used here: always 401 with a reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(401, message)


@dataclass(frozen=True)
class Caller:
    kind: str  # "anonymous", "api-key", "jwt"
    subject: str  # what rate limits count by; never a secret
    identity: str | None = None  # jwt mode: the participant identity claims fix
    claims: Mapping[str, Any] = field(default_factory=dict)


ANONYMOUS = Caller(kind="anonymous", subject="anonymous")


def key_fingerprint(key: str) -> str:
    """A stable, non-secret name for an API key, for logs and rate limits."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def authenticate_api_key(presented: str | None, keys: Sequence[str]) -> Caller:
    if not presented:
        raise Unauthenticated("send your API key in the X-API-Key header")
    matched = None
    for key in keys:
        # Compare against every key, in constant time each, so timing tells nothing.
        if hmac.compare_digest(presented.encode(), key.encode()):
            matched = key
    if matched is None:
        raise Unauthenticated("the API key is not valid")
    return Caller(kind="api-key", subject=key_fingerprint(matched))


@dataclass(frozen=True)
class JwtRules:
    issuer: str
    audience: str
    identity_claim: str = "sub"
    secret: str | None = field(default=None, repr=False)  # HS256
    jwks_url: str | None = None  # RS256 / ES256
    app_claim: str | None = None  # the claim naming the caller's app, with several apps


class JwksCache:
    """An issuer's keys by kid.

    Fetched when a token names a kid we do not know, or once the set is older than its
    maximum age (the answer's Cache-Control max-age, from 1 minute to 1 day, else 5
    minutes), so a key the issuer withdrew stops working without a restart. At most one
    fetch per JWKS_MIN_REFRESH_SECONDS, failed or not, shared by every request waiting on
    it; while the issuer is down, the last good set keeps serving.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Mapping[str, Any] | tuple[Mapping[str, Any], float | None]]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._expires_at: float | None = None  # when the set must be fetched again
        self._attempted_at: float | None = None
        self._failure: Exception | None = None  # the last fetch's, while nothing is cached
        self._lock = asyncio.Lock()

    @property
    def _fetched_at(self) -> float | None:  # kept for callers that reset the guard
        return self._attempted_at

    @_fetched_at.setter
    def _fetched_at(self, value: float | None) -> None:
        self._attempted_at = value

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            answer = await self._fetch()
        except Exception as failure:
            log.warning("JWKS fetch failed; keeping the last good keys", keys=len(self._keys))
            self._failure = failure
            return
        document, max_age = answer if isinstance(answer, tuple) else (answer, None)
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("kid"), str):
                continue
            try:
                key = jwt.PyJWK(dict(entry))
            except jwt.PyJWTError:
                continue  # a key type we do not use
            keys[entry["kid"]] = key
        self._keys, self._failure = keys, None
        age = JWKS_DEFAULT_MAX_AGE if max_age is None else max_age
        self._expires_at = self._clock() + min(max(age, JWKS_MIN_MAX_AGE), JWKS_MAX_MAX_AGE)

    def _due(self, kid: str) -> bool:
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < JWKS_MIN_REFRESH_SECONDS:
            return False
        stale = self._expires_at is None or now >= self._expires_at
        return stale or kid not in self._keys

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if self._lock.locked():
            async with self._lock:
                pass  # a fetch is under way: its answer is this request's too
        if self._due(kid):
            attempted = self._attempted_at
            async with self._lock:
                if self._attempted_at == attempted:  # nobody fetched while we waited
                    await self._refresh()
        if not self._keys and self._failure is not None:
            raise self._failure
        return self._keys.get(kid)


def max_age_of(cache_control: str | None) -> float | None:
    """The max-age of a Cache-Control header, in seconds, if it has one."""
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit() and value.isascii():
            return float(value.strip())
    return None


def unverified_claim(authorization: str | None, name: str) -> Any:
    """One claim of a bearer token, read without checking it: only to choose which rules
    will check it. None when there is no readable token or claim."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(
            authorization[len("Bearer ") :].strip(), options={"verify_signature": False}
        )
    except jwt.PyJWTError:
        return None
    return claims.get(name) if isinstance(claims, dict) else None


async def authenticate_jwt(
    authorization: str | None, rules: JwtRules, jwks: JwksCache | None
) -> Caller:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("send your login token as Authorization: Bearer <token>")
    token = authorization[len("Bearer ") :].strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("the login token is not a JWT") from None
    algorithm = header.get("alg")
    key: Any
    if rules.secret is not None:
        if algorithm != "HS256":
            raise Unauthenticated("login tokens must be signed with HS256")
        key, algorithms = rules.secret, ["HS256"]
    else:
        # Only asymmetric algorithms: an HS256 token "signed" with the public key fails.
        if algorithm not in ASYMMETRIC:
            raise Unauthenticated(f"login tokens must be signed with {' or '.join(ASYMMETRIC)}")
        kid = header.get("kid")
        found = await jwks.key(kid) if jwks is not None and isinstance(kid, str) else None
        if found is None:
            raise Unauthenticated("the login token's key (kid) is not one the issuer publishes")
        if found.algorithm_name != algorithm:
            raise Unauthenticated("the login token's algorithm does not match its key")
        key, algorithms = found.key, [algorithm]
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=rules.issuer,
            audience=rules.audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"], "verify_iat": False},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the login token has expired") from None
    except jwt.InvalidIssuerError:
        raise Unauthenticated("the login token is from another issuer") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated("the login token is for another audience") from None
    except jwt.PyJWTError:
        raise Unauthenticated("the login token does not verify") from None
    if rules.identity_claim not in claims:
        raise Unauthenticated(f"the login token has no {rules.identity_claim} claim")
    try:
        identity = login_identity(claims[rules.identity_claim])
    except IdentityError as error:
        raise Unauthenticated(f"the login token's {rules.identity_claim} claim {error}") from None
    subject = "user-" + hashlib.sha256(f"{rules.issuer}\0{identity}".encode()).hexdigest()[:12]
    return Caller(kind="jwt", subject=subject, identity=identity, claims=claims)


def jwks_document(raw: bytes) -> Mapping[str, Any]:
    document = json.loads(raw)
    if not isinstance(document, Mapping):
        raise ValueError("a JWKS is a JSON object")
    return document
