"""The gate in front of every token route: who is calling, how often, and on whose behalf.

Handlers wrapped in guards.caller_required get request[CALLER]. What the caller may then
hold is each platform's admission step (service/<platform>/admission.py).
"""

from __future__ import annotations

from aiohttp import web

from service.access.callers import (
    ANONYMOUS,
    Caller,
    JwksCache,
    Unauthenticated,
    authenticate_api_key,
    authenticate_jwt,
)
from service.access.ratelimit import Buckets, Limit, retry_after
from service.access.settings import AccessSettings
from service.errors import ApiError, ErrorCode

CALLER: web.RequestKey[Caller] = web.RequestKey("caller")


class Gate:
    def __init__(self, settings: AccessSettings, buckets: Buckets, jwks: JwksCache | None) -> None:
        self.settings = settings
        self.buckets = buckets
        self._jwks = jwks

    async def authenticate(self, request: web.Request) -> Caller:
        settings = self.settings
        try:
            if settings.mode == "api-key":
                return authenticate_api_key(request.headers.get("X-API-Key"), settings.api_keys)
            if settings.mode == "jwt" and settings.jwt is not None:
                return await authenticate_jwt(
                    request.headers.get("Authorization"), settings.jwt, self._jwks
                )
        except Unauthenticated as refused:
            challenge = "Bearer" if settings.mode == "jwt" else 'ApiKey header="X-API-Key"'
            raise ApiError(
                401,
                ErrorCode.UNAUTHORIZED,
                refused.message,
                headers={"WWW-Authenticate": challenge},
            ) from None
        return ANONYMOUS

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
