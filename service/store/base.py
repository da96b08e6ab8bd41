"""The event store's interface: what webhook handlers, the forwarder and the events API
need, and nothing more, so a new backend is one new module.

Guarantees every backend gives: `add` returns only once the event is durable (the
webhook is answered 2xx after that, never before); one event id per provider and app is
stored once, also when copies arrive at the same moment, in one process or several (two
apps never shadow each other's events: VideoSDK ids are body digests, and two apps may
well receive the same body); cursors grow in arrival order.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

DeliveryState = Literal["pending", "delivered", "dead"]

# The app of events stored before there were several apps, and of the environment's one
# app: service.apps.DEFAULT_APP (a test keeps the two equal; the store imports no config).
DEFAULT_APP = "default"
# The forwarding lease of the default app keeps the name it had when there was one
# forwarder, so an old and a new process never forward the same events at once during a
# rolling upgrade.
DEFAULT_LEASE = "forwarder"


def lease_name(app: str) -> str:
    """The forwarding lease of an app's forwarder: one active forwarder per app."""
    return DEFAULT_LEASE if app == DEFAULT_APP else f"forwarder:{app}"


class StoreUnavailable(Exception):
    """The store cannot take or give events right now; callers answer 503."""


@dataclass(frozen=True)
class NewEvent:
    app: str  # the app it was received for: its events API filter and forwarding target
    provider: str  # "livekit", "agora", "videosdk"
    event_id: str  # the platform's id for the event: duplicates share it
    ordering_key: str  # events with one key (a room, a channel) are forwarded in order
    received_at: float
    body: bytes  # the platform's raw JSON, exactly as verified


@dataclass(frozen=True)
class StoredEvent:
    cursor: str
    app: str
    provider: str
    event_id: str
    ordering_key: str
    received_at: float
    body: bytes
    state: DeliveryState = "pending"
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "app": self.app,
            "provider": self.provider,
            "id": self.event_id,
            "key": self.ordering_key,
            "received_at": self.received_at,
            "delivery": {
                "state": self.state,
                "attempts": self.attempts,
                "last_error": self.last_error,
            },
            "event": json.loads(self.body),
        }


class EventStore(Protocol):
    async def add(self, event: NewEvent) -> bool:
        """Store durably; False if this app's event id of this provider is already stored."""
        ...

    async def list_events(
        self,
        *,
        after: str | None,
        provider: str | None,
        state: DeliveryState | None,
        limit: int,
        app: str | None = None,
    ) -> list[StoredEvent]:
        """Events in cursor order, after the given cursor; of one app if `app` is given."""
        ...

    async def pending(self, limit: int, *, app: str = DEFAULT_APP) -> list[StoredEvent]:
        """One app's undelivered, not dead events, oldest first: each app's forwarder scans
        its own, so a long backlog of one app never hides another's events."""
        ...

    async def backlog(self, app: str) -> tuple[int, float | None]:
        """Read only: how many of one app's events are pending (not dead), and the
        received_at of the oldest of them (None with none). For the metrics."""
        ...

    async def mark_delivered(self, cursor: str) -> None: ...

    async def mark_failed(
        self, cursor: str, *, error: str, next_attempt_at: float, dead: bool
    ) -> None: ...

    async def acquire_forwarding_lease(
        self, owner: str, seconds: float, *, name: str = DEFAULT_LEASE
    ) -> bool:
        """One forwarder per lease name (per app: `lease_name`) at a time across processes:
        True while `owner` holds the lease `name`."""
        ...

    async def close(self) -> None: ...


MAX_NAME_LENGTH = 256
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def safe_name(value: object) -> str | None:
    """An event id or ordering key as the store, the logs and the forwarder's headers can
    carry it: a string of printable, valid Unicode, at most 256 characters, as it is; any
    other string by its digest (so a redelivery still has the same name); None for no
    string. The platform signed the event, so it is kept, never refused for its id."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) <= MAX_NAME_LENGTH and _UNSAFE.search(value) is None:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
