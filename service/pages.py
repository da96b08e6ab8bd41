"""The contract and the pages for people: /openapi.json, /docs (Swagger UI, offline) and
/playground (mint, decode and renew tokens in a browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from service.access.admin import require_admin_token
from service.context import SETTINGS
from service.guards import no_store
from service.responses import json_response
from service.routing import Routes

STATIC = Path(__file__).parent / "static"
# The OpenAPI document, built once by create_app (service/openapi.py).
OPENAPI_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document")


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_DOCUMENT])


async def playground(request: web.Request) -> web.FileResponse:
    """Open under --dev; otherwise for holders of the admin token (EVENTS_API_TOKEN)."""
    if not request.app[SETTINGS].dev:
        require_admin_token(
            request,
            "the playground is open under --dev; otherwise send Authorization: Bearer "
            "<EVENTS_API_TOKEN>",
        )
    return web.FileResponse(STATIC / "playground.html", headers={"Content-Type": "text/html"})


async def docs(request: web.Request) -> web.FileResponse:
    """The document rendered by Swagger UI, whose assets ship in the package (offline)."""
    return web.FileResponse(STATIC / "docs.html", headers={"Content-Type": "text/html"})


_PAGE = {"answer": {"type": "string"}, "media_type": "text/html"}
routes = Routes("Documentation")
routes.get(
    "/openapi.json",
    operation_id="openapi",
    summary="This document",
    answer={"type": "object"},
)(openapi)
routes.get("/docs", operation_id="docs", summary="This document, rendered", **_PAGE)(docs)
routes.get(
    "/playground",
    operation_id="playground",
    summary="Mint, decode and renew tokens in a browser",
    **_PAGE,
)(no_store(playground))
