"""Builds the aiohttp application from a Settings object: routes, middlewares, CORS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import aiohttp_cors
from aiohttp import hdrs, web

from service import metrics, openapi
from service.access.callers import JwksCache, jwks_document, max_age_of
from service.access.gate import Gate
from service.access.ratelimit import Buckets, MemoryBuckets, RedisBuckets
from service.agora.salts import random_salt
from service.apps import AppRegistry
from service.config import Settings
from service.context import (
    APPS,
    CLOCK,
    EVENT_STORE,
    FORWARDER,
    GATE,
    HEAD_DEADLINES,
    LIFECYCLE,
    SALT,
    SETTINGS,
    TOKEN_IDS,
    HeadDeadlines,
    Lifecycle,
)
from service.errors import ApiError, ErrorCode
from service.forwarder import Forwarder, Retries
from service.logs import get_logger
from service.middlewares import REQUEST_ID_HEADER, request_middleware
from service.pages import OPENAPI_DOCUMENT, STATIC
from service.platforms import PLATFORMS
from service.routes import ALL_ROUTES
from service.routing import APP_PREFIX
from service.store.base import EventStore
from service.store.redis import RedisEventStore
from service.store.sqlite import SqliteEventStore
from service.validation import BODY_LIMIT, BODY_TIMEOUT

if TYPE_CHECKING:
    from service.tracing import Tracing

log = get_logger("service.app")
TRACING_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

# Routes that answer CORS themselves, byte for byte as the sample their clients expect.
SELF_CORS_PATHS = frozenset({"/fetch_rtc_token"})


def _add_cors(app: web.Application, settings: Settings) -> None:
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=False,
        allow_headers="*",
        expose_headers=(REQUEST_ID_HEADER,),
        max_age=600,
    )
    cors = aiohttp_cors.setup(
        app, defaults={origin: options for origin in settings.cors_allow_origins}
    )
    cors_response_headers = app.on_response_prepare[-1]

    async def cors_if_origin(request: web.Request, response: web.StreamResponse) -> None:
        # aiohttp-cors looks up the route's CORS configuration before it checks for an
        # Origin header; most token requests (mobile apps, servers) send none.
        if hdrs.ORIGIN in request.headers:
            await cors_response_headers(request, response)

    app.on_response_prepare[-1] = cors_if_origin
    for route in list(app.router.routes()):
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("path") or info.get("formatter") or "")
        if path.removeprefix(APP_PREFIX) not in SELF_CORS_PATHS:
            cors.add(route)


async def _event_store(app: web.Application) -> AsyncIterator[None]:
    """The durable event store, and the forwarders to each app's URL (for the apps that
    have one: the env-only app's is WEBHOOK_FORWARD_URL), following the app set as it is
    reloaded."""
    settings = app[SETTINGS].events
    store: EventStore
    if settings.redis_url:
        redis_store = RedisEventStore(settings.redis_url)
        await redis_store.open()
        store = redis_store
    else:
        sqlite_store = SqliteEventStore(settings.db_path)
        await sqlite_store.open()
        store = sqlite_store
    app[EVENT_STORE] = store
    registry = app[APPS]
    try:
        forwarder = Forwarder(
            store,
            lambda: registry.current,
            Retries(
                max_attempts=settings.forward_max_attempts,
                timeout=settings.forward_timeout,
                backoff=settings.forward_backoff,
            ),
            clock=app[CLOCK],
        )
        app[FORWARDER] = forwarder
        task = asyncio.create_task(forwarder.run(), name="forwarders")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await store.close()


async def _gate(app: web.Application) -> AsyncIterator[None]:
    """Caller authentication and rate limits; a JWKS is fetched with a pooled session."""
    settings = app[SETTINGS]
    buckets: Buckets = (
        RedisBuckets(settings.events.redis_url) if settings.events.redis_url else MemoryBuckets()
    )
    async with aiohttp.ClientSession() as session:

        def jwks_for(jwks_url: str) -> JwksCache:
            async def fetch_jwks() -> tuple[Mapping[str, Any], float | None]:
                timeout = aiohttp.ClientTimeout(total=5)
                try:
                    async with session.get(jwks_url, timeout=timeout) as response:
                        response.raise_for_status()
                        document = jwks_document(await response.read())
                        return document, max_age_of(response.headers.get("Cache-Control"))
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    raise ApiError(
                        503,
                        ErrorCode.AUTH_UNAVAILABLE,
                        "the login token issuer's keys are unavailable",
                    ) from exc

            return JwksCache(fetch_jwks)

        app[GATE] = Gate(settings.access, buckets, jwks_for, app[APPS])
        try:
            yield
        finally:
            await buckets.close()


async def _mark_ready(app: web.Application) -> None:
    app[LIFECYCLE].ready = True


async def _mark_draining(app: web.Application) -> None:
    app[LIFECYCLE].ready = False


def _tracing(environ: Mapping[str, str]) -> Tracing | None:
    """Spans to a collector when an OTLP endpoint is set (and the SDK is not disabled);
    the OpenTelemetry SDK is imported only then (service/tracing.py)."""
    if not any(environ.get(name) for name in TRACING_ENDPOINTS):
        return None
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    try:
        from service.tracing import Tracing  # only with a collector
    except ImportError as missing:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'rtc-token-service[otel]'): no spans are exported",
            missing=missing.name,
        )
        return None
    return Tracing()


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    salt: Callable[[], int] = random_salt,
    token_ids: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> web.Application:
    tracing = _tracing(os.environ)
    app = web.Application(
        # Tracing outside the request middleware: its span covers the whole request.
        middlewares=[request_middleware]
        if tracing is None
        else [tracing.middleware, request_middleware],
        # The largest any route takes; read_body holds each route to its own limit.
        client_max_size=max(settings.max_body_bytes, settings.events.webhook_max_body_bytes),
    )
    app[SETTINGS] = settings
    app[APPS] = AppRegistry(settings.apps(), settings.apps_reader)
    app[CLOCK] = clock
    app[SALT] = salt
    app[TOKEN_IDS] = token_ids
    app[LIFECYCLE] = Lifecycle()
    app[HEAD_DEADLINES] = HeadDeadlines(settings.head_timeout, settings.keepalive_timeout)
    app[BODY_LIMIT] = settings.max_body_bytes
    app[BODY_TIMEOUT] = settings.body_timeout
    app[OPENAPI_DOCUMENT] = openapi.DOCUMENT
    for table in ALL_ROUTES:
        app.router.add_routes(table.table)
    app.router.add_static("/static/", STATIC, append_version=False)
    for platform in PLATFORMS:
        if platform.setup is not None:
            platform.setup(app)
    _add_cors(app, settings)

    app.cleanup_ctx.append(_event_store)
    app.cleanup_ctx.append(_gate)
    app.cleanup_ctx.append(metrics.flush_every_second)
    if tracing is not None:
        app.cleanup_ctx.append(tracing.exported_at_exit)
    app.on_startup.append(_mark_ready)
    app.on_shutdown.append(_mark_draining)
    return app
