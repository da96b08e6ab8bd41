"""Taking a verified webhook event: store it durably, then say so; one log line each.

The one place webhook handlers hand events to: the store (SQLite or Redis) keeps them,
the forwarder pushes them to the app, the events API lets the app pull them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypedDict

from aiohttp import web

from service.access.admin import require_admin_token
from service.apps import APP_NAME
from service.context import CLOCK, EVENT_STORE, FORWARDER, SETTINGS
from service.errors import ApiError, ErrorCode
from service.guards import no_store
from service.logs import get_logger
from service.responses import json_response
from service.routing import Routes
from service.selection import app_of
from service.shapes import WebhookAnswer
from service.store.base import NewEvent, StoreUnavailable

log = get_logger("service.events")


FUTURE_SKEW_SECONDS = 300.0  # clocks differ; an event from further ahead is not genuine


def check_fresh(request: web.Request, stamped_at: float | None) -> None:
    """Refuse (400 stale_event, not stored) an event whose own time stamp is older than
    WEBHOOK_MAX_AGE or further ahead than FUTURE_SKEW_SECONDS: a replay of a captured
    event. Dedupe markers are kept far longer than the window, so within it a replay is a
    duplicate, and after it, refused. None: the event carries no time to judge."""
    if stamped_at is None:
        return
    now = request.app[CLOCK]()
    max_age = request.app[SETTINGS].events.webhook_max_age
    if stamped_at < now - max_age or stamped_at > now + FUTURE_SKEW_SECONDS:
        raise ApiError(
            400,
            ErrorCode.STALE_EVENT,
            f"the event is stamped {int(now - stamped_at)} s ago; events older than "
            f"{int(max_age)} s (WEBHOOK_MAX_AGE) or from the future are refused as replays",
        )


def epoch_seconds(value: object) -> float | None:
    """A platform's time stamp as unix seconds: milliseconds or seconds since the epoch
    (told apart by size), or an ISO 8601 text; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value == value and abs(value) < 1e15:
        return value / 1000 if abs(value) > 1e11 else float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return epoch_seconds(int(value))  # protojson writes 64-bit numbers as text
    if isinstance(value, str) and 0 < len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


async def take_event(
    request: web.Request,
    *,
    provider: str,
    event_id: str,
    ordering_key: str,
    body: bytes,
    summary: dict[str, Any],
) -> web.Response:
    """The 200 receipt, once the event is stored: "received", or "duplicate" for a
    redelivery. Raises a 503 ApiError when the store cannot take it, so the platform
    delivers it again later: never a 2xx for an event that is not stored.

    The event is the request's app's (chosen before the handler ran): stored, deduplicated
    and forwarded as that app's."""
    app = app_of(request).name
    event = NewEvent(
        app=app,
        provider=provider,
        event_id=event_id,
        ordering_key=ordering_key,
        received_at=request.app[CLOCK](),
        body=body,
    )
    try:
        is_new = await request.app[EVENT_STORE].add(event)
    except StoreUnavailable as exc:
        log.error(
            "event not stored", app=app, provider=provider, event_id=event_id, reason=str(exc)
        )
        raise ApiError(
            503,
            ErrorCode.STORE_UNAVAILABLE,
            "the event could not be stored; deliver it again later",
        ) from None
    facts = {"app": app, "provider": provider, "event_id": event_id, "key": ordering_key}
    log.info("webhook event", **{**summary, **facts, "duplicate": not is_new})
    forwarder = request.app.get(FORWARDER)
    if is_new and forwarder is not None:
        forwarder.wake(app)
    # A JSON body on every 200: Agora NCS requires one.
    return json_response(WebhookAnswer(status="received" if is_new else "duplicate", id=event_id))


# --- GET /v1/events: the stored events, for apps that pull ---

_CURSOR = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")
PROVIDERS = ("livekit", "agora", "videosdk")
STATES = ("pending", "delivered", "dead")
QUERY = ("after", "provider", "state", "limit", "app")


def _authorize(request: web.Request) -> None:
    if request.app[SETTINGS].events.api_token is None:
        raise ApiError.not_configured("the events API", "set EVENTS_API_TOKEN to turn it on")
    require_admin_token(request, "send Authorization: Bearer <EVENTS_API_TOKEN>")


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> Any:
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise ApiError.invalid_field(name, f"must be one of {', '.join(choices)}")
    return value


async def list_events(request: web.Request) -> web.Response:
    _authorize(request)
    unknown = sorted(set(request.query) - set(QUERY))
    if unknown:
        raise ApiError.invalid_field(unknown[0], "unknown query parameter")
    after = request.query.get("after") or None
    if after is not None and (
        _CURSOR.fullmatch(after) is None or any(int(part) >= 2**63 for part in after.split("-"))
    ):
        raise ApiError.invalid_field("after", "is not a cursor this API gave out")
    raw_limit = request.query.get("limit", "100")
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= 500:
        raise ApiError.invalid_field("limit", "must be a whole number from 1 to 500")
    app = request.query.get("app")
    if app is not None and APP_NAME.fullmatch(app) is None:
        raise ApiError.invalid_field(
            "app", "must be an app name: 1-63 of a-z, 0-9, '_' and '-', starting with a-z or 0-9"
        )
    try:
        events = await request.app[EVENT_STORE].list_events(
            after=after,
            provider=_choice(request, "provider", PROVIDERS),
            state=_choice(request, "state", STATES),
            limit=int(raw_limit),
            app=app,
        )
    except ValueError:
        raise ApiError.invalid_field("after", "is not a cursor this API gave out") from None
    except StoreUnavailable:
        raise ApiError(503, ErrorCode.STORE_UNAVAILABLE, "the event store is unavailable") from None
    answer = EventsAnswer(
        events=[event.to_api() for event in events],
        next_cursor=events[-1].cursor if events else after,
    )
    return json_response(answer)


class EventsAnswer(TypedDict):
    events: list[dict[str, Any]]
    next_cursor: str | None


routes = Routes("Events")
routes.get(
    "/v1/events",
    operation_id="listEvents",
    summary="Stored webhook events, oldest first (admin token)",
    answer=EventsAnswer,
    query=QUERY,
)(no_store(list_events))
