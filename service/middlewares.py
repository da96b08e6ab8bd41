"""The one request middleware: requests in flight, a request id, the real client address,
one access-log line and its metrics per request, and JSON errors in the default shape.

Errors: an ApiError becomes its JSON shape; aiohttp's own HTTP errors (404, 405, 413, a
refused CORS preflight) become the same shape; anything else is a 500 that names the
request id and is logged with its traceback, never shown to the client. What a route
declares (a caller, a signed body, its own error shape) its wrappers do: service/guards.py.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from service.context import APP, CLIENT_ADDRESS, HEAD_DEADLINES, LIFECYCLE, REQUEST_ID, SETTINGS
from service.guards import default_error_response, error_for, route_name
from service.logs import CURRENT_REQUEST_ID, get_logger, log_request
from service.metrics import request_answered
from service.proxy import (
    canonical,
    client_address,
    forwarded_chain,
    is_trusted,
    x_forwarded_for_chain,
)
from service.responses import SERVER_NAME
from service.validation import check_headers

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# W3C Trace Context, version 00: version, trace id, parent (span) id, flags.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE_ID, _ZERO_SPAN_ID = "0" * 32, "0" * 16

log = get_logger("service.access")


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


def trace_id(traceparent: str | None) -> str | None:
    """The access line's trace_id, from a valid W3C `traceparent` header (version 00, a
    trace id and span id of lowercase hex, neither all zeros); None for an absent or
    malformed one, which is never echoed."""
    if traceparent is None:
        return None
    found = _TRACEPARENT.fullmatch(traceparent)
    if found is None or found[1] == _ZERO_TRACE_ID or found[2] == _ZERO_SPAN_ID:
        return None
    return found[1]


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
    """The handler's response, or the JSON error in the default shape (a route with its
    own shape answers its errors itself: service/guards.py)."""
    try:
        check_headers(request.headers)
        return await handler(request)
    except Exception as exc:
        error = error_for(request, exc)
        if error is None:
            raise
        return default_error_response(request, error)


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything every request gets, in one layer (each layer costs on the hot path):
    counted in flight, so shutdown can wait for it (aiohttp's own graceful shutdown stops
    reading bodies still being uploaded); a request id; the real client address; what
    the route declared; JSON errors; one access-log line (with the trace id of a valid
    incoming `traceparent`) and its metrics. Spans, when exported, are made by the
    middleware of service/tracing.py, outside this one."""
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
        return response
    finally:
        elapsed, route = time.perf_counter() - started, route_name(request)
        chosen = request.get(APP)
        app = chosen.name if chosen is not None else "-"
        log_request(
            trace_id(request.headers.get("traceparent")),
            request_id=request_id,
            method=request.method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            client=request[CLIENT_ADDRESS],
            app=app,
        )
        request_answered(request.method, route, status, elapsed, app)
        CURRENT_REQUEST_ID.reset(current)
        deadlines.request_finished(request.transport)
        lifecycle.request_finished()
