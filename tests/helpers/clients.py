"""In-process HTTP clients of the app (pytest-aiohttp's TestClient) and what they send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]
# The `make_client` fixture: builds an app from settings and returns its client.
MakeClient = Callable[..., Awaitable[Client]]


async def preflight(
    client: Client, path: str, origin: str, *, request_headers: str = "content-type"
) -> ClientResponse:
    """What a browser sends before a cross-origin JSON POST."""
    return await client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": request_headers,
        },
    )
