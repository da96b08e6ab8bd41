"""The admin token (EVENTS_API_TOKEN): one check for every route that needs it."""

from __future__ import annotations

import hmac

from aiohttp import web

from service.context import SETTINGS
from service.errors import ApiError, ErrorCode


def holds_admin_token(request: web.Request) -> bool:
    """Whether the request sends `Authorization: Bearer <EVENTS_API_TOKEN>`, compared in
    constant time; never when no admin token is configured."""
    token = request.app[SETTINGS].events.api_token
    if token is None:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def require_admin_token(request: web.Request, how: str) -> None:
    """401 with a Bearer challenge unless the request holds the admin token; `how` tells
    the client what to send."""
    if not holds_admin_token(request):
        raise ApiError(401, ErrorCode.UNAUTHORIZED, how, headers={"WWW-Authenticate": "Bearer"})
