"""The gate in front of every token route: who is calling, how often, and on whose behalf.

Handlers wrapped in guards.caller_required get request[CALLER]. What the caller may then
hold is each platform's admission step (service/<platform>/admission.py).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from service.access.callers import (
    ANONYMOUS,
    Caller,
    JwksCache,
    JwtRules,
    Unauthenticated,
    authenticate_jwt,
    key_fingerprint,
    unverified_claim,
)
from service.access.ratelimit import Buckets, Limit, retry_after
from service.access.settings import AccessSettings
from service.apps import App, AppRegistry
from service.errors import ApiError, ErrorCode, PolicyDenied

CALLER: web.RequestKey[Caller] = web.RequestKey("caller")


class Gate:
    def __init__(
        self,
        settings: AccessSettings,
        buckets: Buckets,
        jwks_for: Callable[[str], JwksCache] | None,
        apps: AppRegistry,
    ) -> None:
        self.settings = settings
        self.buckets = buckets
        self._jwks_for = jwks_for
        self._jwks: dict[str, JwksCache] = {}  # one cache per issuer's JWKS URL
        self._apps = apps

    async def authenticate(self, request: web.Request) -> tuple[Caller, App | None]:
        """The caller, and the app its credential belongs to (None when it names none)."""
        settings = self.settings
        try:
            if settings.mode == "api-key":
                return self._api_key(request.headers.get("X-API-Key"))
            if settings.mode == "jwt" and settings.jwt is not None:
                return await self._login(request, settings.jwt)
        except Unauthenticated as refused:
            challenge = "Bearer" if settings.mode == "jwt" else 'ApiKey header="X-API-Key"'
            raise ApiError(
                401,
                ErrorCode.UNAUTHORIZED,
                refused.message,
                headers={"WWW-Authenticate": challenge},
            ) from None
        return ANONYMOUS, None

    async def _login(self, request: web.Request, rules: JwtRules) -> tuple[Caller, App | None]:
        """A login token, checked against the rules of the app it is for (its own issuer,
        audience and keys, where the app has them), else the service's."""
        authorization = request.headers.get("Authorization")
        own_rules = None
        if rules.app_claim is not None:
            # The claim only picks which rules check the token: a token whose claim names
            # an app it was not issued for fails that app's signature or issuer check.
            named = unverified_claim(authorization, rules.app_claim)
            claimed = self._apps.current.get(named) if isinstance(named, str) else None
            own_rules = claimed.jwt if claimed is not None else None
        else:
            own_rules = self._apps.current.requested(request.match_info.get("app")).jwt
        checked_with = own_rules or rules
        jwks = self._jwks_cache(checked_with.jwks_url)
        caller = await authenticate_jwt(authorization, checked_with, jwks)
        return caller, self._claimed_app(caller, rules.app_claim)

    def _jwks_cache(self, url: str | None) -> JwksCache | None:
        if url is None or self._jwks_for is None:
            return None
        cache = self._jwks.get(url)
        if cache is None:
            cache = self._jwks[url] = self._jwks_for(url)
        return cache

    def _api_key(self, presented: str | None) -> tuple[Caller, App]:
        if not presented:
            raise Unauthenticated("send your API key in the X-API-Key header")
        found = self._apps.current.for_api_key(presented)
        if found is None:
            raise Unauthenticated("the API key is not valid")
        app, key = found
        return Caller(kind="api-key", subject=key_fingerprint(key)), app

    def _claimed_app(self, caller: Caller, claim: str | None) -> App | None:
        if claim is None:
            return None
        name = caller.claims.get(claim)
        app = self._apps.current.get(name) if isinstance(name, str) else None
        if app is None:
            raise PolicyDenied("app", f"your login token's {claim!r} claim names no app here")
        return app

    async def limit(self, key: str, limit: Limit | None) -> None:
        if limit is None:
            return
        wait = await self.buckets.take(key, limit)
        if wait > 0:
            raise ApiError(
                429,
                ErrorCode.RATE_LIMITED,
                "too many token requests; retry after the time in Retry-After",
                headers={"Retry-After": retry_after(wait)},
            )


def caller_of(request: web.Request) -> Caller:
    caller: Caller = request.get(CALLER, ANONYMOUS)
    return caller
