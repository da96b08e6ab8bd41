"""The operator's routes: liveness, readiness, and Prometheus metrics."""

from __future__ import annotations

import os
from typing import TypedDict

from aiohttp import web

from service import metrics
from service.context import APPS, LIFECYCLE
from service.guards import no_store
from service.platforms import PLATFORMS
from service.responses import json_response
from service.routing import Routes


class HealthAnswer(TypedDict):
    status: str
    worker: int  # the worker's pid tells workers apart behind one port


class ReadyAnswer(TypedDict, total=False):
    status: str
    platforms: dict[str, str]  # name -> "enabled" or "disabled"


async def healthz(request: web.Request) -> web.Response:
    return json_response(HealthAnswer(status="ok", worker=os.getpid()))


async def readyz(request: web.Request) -> web.Response:
    if not request.app[LIFECYCLE].ready:
        return json_response(ReadyAnswer(status="not ready"), status=503)
    apps = request.app[APPS].current
    platforms = {
        platform.name: "enabled" if platform.enabled(apps) else "disabled" for platform in PLATFORMS
    }
    return json_response(ReadyAnswer(status="ready", platforms=platforms))


routes = Routes("Operations")
routes.get("/healthz", operation_id="healthz", summary="The process is alive", answer=HealthAnswer)(
    healthz
)
routes.get(
    "/readyz",
    operation_id="readyz",
    summary="Ready to serve (503 while starting or draining)",
    answer=ReadyAnswer,
    errors=ReadyAnswer,
)(readyz)
routes.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics, summed over every worker",
    answer={"type": "string"},
    media_type="text/plain",
)(no_store(metrics.metrics))
