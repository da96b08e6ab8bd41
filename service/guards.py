"""What a route declares about itself, as wrappers around its handler:

- `caller_required`: a token route. The caller is authenticated and rate limited before
  the handler runs, and the answer is never cached.
- `signed_body(provider, verify)`: a webhook route. The raw body is verified before
  anything parses it, and the handler receives what `verify` returned.
- `error_shape(render)`: a compatibility route whose clients expect their own error JSON.
- `no_store`: an answer with events or admin data, never cached.

Each wrapper does its own work; nothing is left on the function for a middleware to
find. `answer_for` turns any exception into the error answer, in the default shape
(the middleware) or in a route's own (error_shape).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from service.access.callers import Caller
from service.access.gate import CALLER
from service.access.ratelimit import address_key
from service.context import CLIENT_ADDRESS, GATE, REQUEST_ID, SETTINGS
from service.errors import ApiError, ErrorCode
from service.logs import get_logger
from service.metrics import WEBHOOK_REJECTIONS, auth_failed, rate_limited
from service.responses import json_response
from service.routing import Handler
from service.selection import choose_app
from service.signatures import WebhookRejected
from service.validation import read_body

Verified = TypeVar("Verified")
ErrorRenderer = Callable[[web.Request, ApiError], web.Response]

log = get_logger("service.access")

NO_STORE = "no-store"
_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.BODY_TIMEOUT,
    413: ErrorCode.BODY_TOO_LARGE,
}


def default_error_response(request: web.Request, error: ApiError) -> web.Response:
    """The documented error shape of the versioned API (ErrorAnswer)."""
    body = {
        "error": error.code,
        "message": error.message,
        "field": error.field,
        "request_id": request.get(REQUEST_ID, ""),
    }
    return json_response(body, status=error.status, headers=error.headers)


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
    code = _HTTP_CODES.get(exc.status, ErrorCode.HTTP_ERROR)
    return ApiError(exc.status, code, message, headers=headers)


def route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def error_for(request: web.Request, exc: Exception) -> ApiError | None:
    """The ApiError to answer `exc` with; None for an HTTPException below 400 (a redirect,
    which aiohttp answers itself). Anything unexpected is logged with its traceback and
    answered 500 naming the request id, never with the traceback."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, web.HTTPException):
        return _from_http_exception(exc) if exc.status >= 400 else None
    log.exception("unhandled error", route=route_name(request), method=request.method)
    request_id = request.get(REQUEST_ID, "")
    message = f"internal error; quote request id {request_id} to support"
    return ApiError(500, ErrorCode.INTERNAL_ERROR, message)


def error_shape(render: ErrorRenderer) -> Callable[[Handler], Handler]:
    """Answer the handler's errors (and those of the wrappers inside this one) in the
    shape `render` gives: compatibility routes keep their clients' error JSON."""

    def wrap(handler: Handler) -> Handler:
        async def shaped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except Exception as exc:
                error = error_for(request, exc)
                if error is None:
                    raise
                return render(request, error)

        return shaped

    return wrap


def no_store(handler: Handler) -> Handler:
    """The answer, errors included, is never cached by a browser or a proxy."""

    async def uncached(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ApiError as error:
            error.headers.setdefault("Cache-Control", NO_STORE)
            raise
        response.headers.setdefault("Cache-Control", NO_STORE)
        return response

    return uncached


# An authentication failure's reason for rtc_auth_failures_total, by the words of its
# message (service/access/callers.py); any other 401 is "invalid".
_AUTH_FAILURE_WORDS = (
    ("send your", "missing"),
    ("has expired", "expired"),
    ("from another issuer", "wrong_issuer"),
    ("for another audience", "wrong_audience"),
    ("key (kid)", "unknown_key"),
    ("must be signed with", "wrong_algorithm"),
    ("algorithm does not match", "wrong_algorithm"),
)


def auth_failure_reason(refused: ApiError) -> str | None:
    """The rtc_auth_failures_total reason of a refusal by authentication; None for one
    that is not an authentication failure."""
    if refused.code == ErrorCode.AUTH_UNAVAILABLE:
        return "jwks_unavailable"
    if refused.status == 403:
        return "unknown_app"  # a login token whose app claim names no app here
    if refused.status != 401:
        return None
    for words, reason in _AUTH_FAILURE_WORDS:
        if words in refused.message:
            return reason
    return "invalid"


async def admit_caller(request: web.Request) -> Caller:
    """Authenticate, choose the request's app, then charge the right buckets (that app's
    limits, counted per app). A failed authentication is charged to its address's failure
    bucket, so a flood of bad credentials from a shared address never costs a signed-in
    caller anything. Refusals are counted: rtc_auth_failures_total by reason,
    rtc_rate_limited_total by app and bucket."""
    gate = request.app[GATE]
    try:
        caller, selected = await gate.authenticate(request)
    except ApiError as refused:
        reason = auth_failure_reason(refused)
        if reason is not None:
            auth_failed(gate.settings.mode, reason)
        if refused.status == 401:
            address = address_key(request.get(CLIENT_ADDRESS))
            try:
                await gate.limit(f"failed:{address}", gate.settings.address_limit)
            except ApiError:
                rate_limited("-", "failed")
                raise
        raise
    app = choose_app(request, selected)
    scope = app.name
    bucket = "caller"
    try:
        if caller.kind == "jwt":
            await gate.limit(f"{scope}:caller:{caller.subject}", app.caller_limit)
            return caller
        if caller.kind == "api-key":
            bucket = "api_key"
            await gate.limit(f"{scope}:caller:{caller.subject}", app.api_key_limit)
        if app.address_limit is not None:
            bucket = "address"
            address = address_key(request.get(CLIENT_ADDRESS))
            family = "key-address" if caller.kind == "api-key" else "address"
            await gate.limit(f"{scope}:{family}:{address}", app.address_limit)
    except ApiError as refused:
        if refused.status == 429:
            rate_limited(scope, bucket)
        raise
    return caller


def caller_required(handler: Handler) -> Handler:
    """A token route: the caller is admitted (request[CALLER]) before the handler runs;
    a preflight carries no credentials and is not. Token answers are never cached."""

    async def admitted(request: web.Request) -> web.StreamResponse:
        if request.method != "OPTIONS":
            request[CALLER] = await admit_caller(request)
        return await handler(request)

    return no_store(admitted)


def signed_body(
    provider: str, verify: Callable[[web.Request, bytes], Awaitable[Verified]]
) -> Callable[[Callable[[web.Request, Verified], Awaitable[web.StreamResponse]]], Handler]:
    """A webhook route: `verify` gets the raw body (bounded by WEBHOOK_MAX_BODY_BYTES)
    before anything parses it and returns what the handler may trust, or raises
    WebhookRejected (or an ApiError, such as 503 when the platform is not configured).
    Refusals are counted per provider and reason."""

    def wrap(
        handler: Callable[[web.Request, Verified], Awaitable[web.StreamResponse]],
    ) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            limit = request.app[SETTINGS].events.webhook_max_body_bytes
            body = await read_body(request, limit)
            try:
                verified = await verify(request, body)
            except WebhookRejected as rejected:
                refusal = rejected.as_api_error()
                WEBHOOK_REJECTIONS.labels(provider=provider, reason=refusal.code).inc()
                raise refusal from None
            except ApiError as refusal:
                WEBHOOK_REJECTIONS.labels(provider=provider, reason=refusal.code).inc()
                raise
            return await handler(request, verified)

        return checked

    return wrap
