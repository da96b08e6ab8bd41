"""Request middlewares: requests in flight, a request id and one access-log line per
request, JSON errors, and verification of signed bodies (webhooks) before any parsing.

Errors: an ApiError becomes its JSON shape; aiohttp's own HTTP errors (404, 405, 413, a
refused CORS preflight) become the same shape; anything else is a 500 that names the
request id and is logged with its traceback, never shown to the client.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from service.access.callers import Caller
from service.access.gate import CALLER
from service.access.ratelimit import address_key
from service.context import GATE, HEAD_DEADLINES, LIFECYCLE, SETTINGS
from service.errors import ApiError, ErrorCode
from service.logs import CURRENT_REQUEST_ID, get_logger, log_request
from service.metrics import WEBHOOK_REJECTIONS, request_answered
from service.proxy import (
    canonical,
    client_address,
    forwarded_chain,
    is_trusted,
    x_forwarded_for_chain,
)
from service.responses import json_response
from service.signatures import WebhookRejected
from service.validation import check_headers, read_body

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
REQUEST_ID_HEADER = "X-Request-ID"
SERVER_NAME = "rtc-token-service"
# Answers that carry events or admin data: never cached either.
_PRIVATE_PATHS = ("/v1/events", "/metrics", "/playground")


def route_is_private(request: web.Request) -> bool:
    return request.path.startswith(_PRIVATE_PATHS)


CLIENT_ADDRESS: web.RequestKey[str | None] = web.RequestKey("client_address")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

ErrorResponder = Callable[[web.Request, ApiError], web.Response]


@dataclass(frozen=True)
class SignedBodyScheme:
    """How to check one platform's signed requests: `verify` gets the raw body before
    anything parses it and returns what the handler may trust, or raises WebhookRejected
    (or an ApiError, such as 503 when the platform is not configured)."""

    verify: Callable[[web.Request, bytes], Awaitable[Any]]
    max_body_bytes: int


SIGNED_BODY_SCHEMES: web.AppKey[dict[str, SignedBodyScheme]] = web.AppKey("signed_body_schemes")
# What the scheme's verify returned, for the handler.
VERIFIED_BODY: web.RequestKey[Any] = web.RequestKey("verified_body")

log = get_logger("service.access")

_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.BODY_TIMEOUT,
    413: ErrorCode.BODY_TOO_LARGE,
}


def default_error_response(request: web.Request, error: ApiError) -> web.Response:
    """The documented error shape of the versioned API."""
    body = {
        "error": error.code,
        "message": error.message,
        "field": error.field,
        "request_id": request.get(REQUEST_ID, ""),
    }
    return json_response(body, status=error.status, headers=error.headers)


def error_shape(
    responder: ErrorResponder,
) -> Callable[[Callable[..., Awaitable[web.StreamResponse]]], Any]:
    """Give a handler its own error shape (compatibility routes keep their clients')."""

    def mark(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
        handler.__error_responder__ = responder  # type: ignore[attr-defined]
        return handler

    return mark


def takes_signed_body(
    scheme: str,
) -> Callable[[Callable[..., Awaitable[web.StreamResponse]]], Any]:
    """Declare that a route only takes bodies signed under `scheme` (e.g. "livekit"):
    signed_body_middleware verifies the raw bytes before the handler runs."""

    def mark(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
        handler.__signed_body_scheme__ = scheme  # type: ignore[attr-defined]
        return handler

    return mark


def needs_caller(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
    """Declare a token route: the caller is authenticated and rate limited first."""
    handler.__needs_caller__ = True  # type: ignore[attr-defined]
    return handler


def _responder_for(request: web.Request) -> ErrorResponder:
    handler = getattr(request.match_info, "handler", None)
    responder: ErrorResponder = getattr(handler, "__error_responder__", default_error_response)
    return responder


def _from_http_exception(exc: web.HTTPException) -> ApiError:
    if exc.status == 404:
        message = "no such route"
    elif exc.status == 405:
        message = "method not allowed on this route"
    elif exc.status == 413:
        message = "request body is too large"
    else:
        message = exc.text or exc.reason
        # aiohttp prefixes plain-text bodies with the status line; keep only the reason.
        message = message.removeprefix(f"{exc.status}: ")
    headers = {}
    if exc.status == 405 and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return ApiError(
        exc.status, _HTTP_CODES.get(exc.status, ErrorCode.HTTP_ERROR), message, headers=headers
    )


class RequestIds:
    """Unique request ids without a system call each: a random 64-bit prefix per process
    (drawn again in a forked child) and a counter, 32 hex characters like a uuid4's."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count):016x}"


new_request_id = RequestIds()
os.register_at_fork(after_in_child=new_request_id.reset)


def _request_id(request: web.Request) -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER)
    if supplied is not None and _SAFE_REQUEST_ID.fullmatch(supplied):
        return supplied
    return new_request_id()


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


class _OnceWarning:
    """A warning logged once per process: loud enough to be seen, never a flood."""

    def __init__(self) -> None:
        self.given = False

    def __call__(self, message: str, **fields: Any) -> None:
        if not self.given:
            self.given = True
            log.warning(message, **fields)


warn_untrusted_forwarding = _OnceWarning()


def _client_address(request: web.Request) -> str | None:
    """The real client behind trusted proxies (service/proxy.py has the rule); everyone
    else's forwarding headers are ignored, with one warning: behind a proxy that is not
    trusted, every client shares the proxy's address and its rate limit."""
    settings = request.app[SETTINGS]
    headers = request.headers
    if "X-Forwarded-For" not in headers and "Forwarded" not in headers:
        return canonical(request.remote)
    if not is_trusted(request.remote, settings.trusted_proxies):
        warn_untrusted_forwarding(
            "SECURITY: requests carry X-Forwarded-For/Forwarded from a peer not in "
            "TRUSTED_PROXIES; they are ignored, so every client behind that proxy shares "
            "its address and rate limit. Set TRUSTED_PROXIES to your proxies' addresses",
            peer=request.remote,
        )
        return canonical(request.remote)
    if settings.trusted_proxy_header == "forwarded":
        chain = forwarded_chain(headers.getall("Forwarded", []))
    else:
        chain = x_forwarded_for_chain(headers.getall("X-Forwarded-For", []))
    return client_address(request.remote, chain, settings.trusted_proxies)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What the route declared (a caller for token routes, a signature for webhooks),
    then the handler's response; or the JSON error in the route's shape."""
    try:
        check_headers(request.headers)
        declared = request.match_info.handler
        # Preflights carry no credentials.
        if getattr(declared, "__needs_caller__", False) and request.method != "OPTIONS":
            request[CALLER] = await _admit_caller(request)
        scheme_name = getattr(declared, "__signed_body_scheme__", None)
        if scheme_name is not None:
            request[VERIFIED_BODY] = await _verified_body(request, scheme_name)
        return await handler(request)
    except ApiError as error:
        return _responder_for(request)(request, error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _responder_for(request)(request, _from_http_exception(exc))
    except Exception:
        log.exception("unhandled error", route=_route_name(request), method=request.method)
        request_id = request.get(REQUEST_ID, "")
        internal = ApiError(
            500,
            ErrorCode.INTERNAL_ERROR,
            f"internal error; quote request id {request_id} to support",
        )
        return _responder_for(request)(request, internal)


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything every request gets, in one layer (each layer costs on the hot path):
    counted in flight, so shutdown can wait for it (aiohttp's own graceful shutdown stops
    reading bodies still being uploaded); a request id; the real client address; what
    the route declared; JSON errors; one access-log line and its metrics."""
    lifecycle = request.app[LIFECYCLE]
    lifecycle.request_started()
    deadlines = request.app[HEAD_DEADLINES]
    deadlines.request_started(request.transport)
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    request[CLIENT_ADDRESS] = _client_address(request)
    started = time.perf_counter()
    # Only a cancelled request (the client went away) ends without a response; log it
    # the way nginx does.
    status = 499
    # For any other line logged while handling this request.
    current = CURRENT_REQUEST_ID.set(request_id)
    try:
        response = await _answer(request, handler)
        status = response.status
        headers = response.headers
        headers[REQUEST_ID_HEADER] = request_id
        # No version banner (aiohttp's default names Python's and its own).
        headers["Server"] = SERVER_NAME
        if getattr(request.match_info.handler, "__needs_caller__", False) or route_is_private(
            request
        ):
            # Token answers must never sit in a shared or browser cache.
            headers.setdefault("Cache-Control", "no-store")
        return response
    finally:
        elapsed, route = time.perf_counter() - started, _route_name(request)
        log_request(
            request_id=request_id,
            method=request.method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            client=request[CLIENT_ADDRESS],
        )
        request_answered(request.method, route, status, elapsed)
        CURRENT_REQUEST_ID.reset(current)
        deadlines.request_finished(request.transport)
        lifecycle.request_finished()


async def _verified_body(request: web.Request, scheme_name: str) -> Any:
    scheme = request.app[SIGNED_BODY_SCHEMES][scheme_name]
    body = await read_body(request, scheme.max_body_bytes)
    try:
        return await scheme.verify(request, body)
    except WebhookRejected as rejected:
        refusal = rejected.as_api_error()
        WEBHOOK_REJECTIONS.labels(provider=scheme_name, reason=refusal.code).inc()
        raise refusal from None
    except ApiError as refusal:
        WEBHOOK_REJECTIONS.labels(provider=scheme_name, reason=refusal.code).inc()
        raise


async def _admit_caller(request: web.Request) -> Caller:
    """Authenticate, then charge the right bucket. A failed authentication is charged to
    its address's failure bucket, so a flood of bad credentials from a shared address never
    costs a signed-in caller anything."""
    gate = request.app[GATE]
    limits = gate.settings
    try:
        caller = await gate.authenticate(request)
    except ApiError as refused:
        if refused.status == 401:
            address = address_key(request.get(CLIENT_ADDRESS))
            await gate.limit(f"failed:{address}", limits.address_limit)
        raise
    if caller.kind == "jwt":
        await gate.limit(f"caller:{caller.subject}", limits.caller_limit)
        return caller
    if caller.kind == "api-key":
        await gate.limit(f"caller:{caller.subject}", limits.api_key_limit)
    if limits.address_limit is not None:
        address = address_key(request.get(CLIENT_ADDRESS))
        family = "key-address" if caller.kind == "api-key" else "address"
        await gate.limit(f"{family}:{address}", limits.address_limit)
    return caller
