"""Forwarding stored events to the app's own URL, at least once, in order per key.

The forwarder reads undelivered events from the store in cursor order and, for each
ordering key (a room, a channel), POSTs only the oldest: a later event of that room waits
until the earlier one is delivered or given up on. A failure is retried with doubling
backoff; after WEBHOOK_FORWARD_MAX_ATTEMPTS the event is dead-lettered (logged, and
visible in the events API with state "dead") so it cannot block its room forever. State
lives in the store, so pending deliveries resume after a restart; a lease in the store
keeps one forwarder active across processes.

Each request is signed so the app can check it came from us:
X-RTC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable

import aiohttp

from service.logs import get_logger
from service.store.base import EventStore, StoredEvent, StoreUnavailable, safe_name

log = get_logger("service.forwarder")

LEASE_SECONDS = 10.0
IDLE_POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
BATCH = 500
CONCURRENCY = 16


def envelope(event: StoredEvent) -> bytes:
    """What the app receives: our facts about the event, and the platform's event as sent."""
    facts = json.dumps(
        {
            "cursor": event.cursor,
            "provider": event.provider,
            "id": event.event_id,
            "key": event.ordering_key,
            "received_at": event.received_at,
        },
        separators=(",", ":"),
    )
    return facts[:-1].encode() + b',"event":' + event.body + b"}"


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class Forwarder:
    def __init__(
        self,
        store: EventStore,
        session: aiohttp.ClientSession,
        *,
        url: str,
        secret: str,
        max_attempts: int,
        timeout: float,
        backoff: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._session = session
        self._url = url
        self._secret = secret
        self._max_attempts = max_attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._backoff = backoff
        self._clock = clock
        self._owner = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(CONCURRENCY)

    def wake(self) -> None:
        """A new event is stored: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Forward until cancelled. Supervised: nothing a round raises stops delivery."""
        while True:
            self._wake.clear()  # before the round, so a wake during it is not lost
            try:
                pause = await self._round()
            except StoreUnavailable as exc:
                log.warning("forwarding paused: store unavailable", reason=str(exc))
                pause = IDLE_POLL_SECONDS
            except Exception:
                log.exception("forwarding round failed; carrying on")
                pause = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)

    async def _round(self) -> float:
        """Deliver what is due; return how long to wait before the next round."""
        if not await self._store.acquire_forwarding_lease(self._owner, LEASE_SECONDS):
            return LEASE_SECONDS / 3  # another process forwards; look again later
        now = self._clock()
        heads: dict[str, StoredEvent] = {}
        for event in await self._store.pending(BATCH):
            heads.setdefault(event.ordering_key, event)
        due = [e for e in heads.values() if e.next_attempt_at <= now]
        if due:
            await asyncio.gather(*(self._deliver(event) for event in due))
            return 0.0
        waits = [e.next_attempt_at - now for e in heads.values()]
        return max(0.05, min([IDLE_POLL_SECONDS, *waits]))

    async def _deliver(self, event: StoredEvent) -> None:
        """One attempt; whatever goes wrong in it (the app's answer, the network, or an
        unexpected error of our own) counts as a failed attempt of this event only."""
        try:
            error = await self._attempt(event)
        except StoreUnavailable:
            raise
        except Exception as exc:
            log.exception("forwarding attempt failed unexpectedly", cursor=event.cursor)
            error = f"unexpected {type(exc).__name__}"
        await self._settle(event, error)

    async def _attempt(self, event: StoredEvent) -> str | None:
        body = envelope(event)
        headers = {
            "Content-Type": "application/json",
            "X-RTC-Event-Id": safe_name(event.event_id) or "",
            "X-RTC-Provider": event.provider,
            "X-RTC-Delivery-Attempt": str(event.attempts + 1),
            "X-RTC-Signature": signature_header(self._secret, int(self._clock()), body),
        }
        async with self._limit:
            try:
                async with self._session.post(
                    self._url, data=body, headers=headers, timeout=self._timeout
                ) as response:
                    status = response.status
                error = None if 200 <= status < 300 else f"the app answered {status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return error

    async def _settle(self, event: StoredEvent, error: str | None) -> None:
        if error is None:
            await self._store.mark_delivered(event.cursor)
            log.info("event forwarded", cursor=event.cursor, event_id=event.event_id)
            return
        attempts = event.attempts + 1
        dead = attempts >= self._max_attempts
        delay = min(MAX_BACKOFF_SECONDS, self._backoff * 2 ** (attempts - 1))
        await self._store.mark_failed(
            event.cursor, error=error, next_attempt_at=self._clock() + delay, dead=dead
        )
        if dead:
            log.error(
                "event dead-lettered",
                cursor=event.cursor,
                event_id=event.event_id,
                attempts=attempts,
                error=error,
            )
        else:
            log.warning(
                "forwarding failed; will retry",
                cursor=event.cursor,
                event_id=event.event_id,
                attempts=attempts,
                retry_in=delay,
                error=error,
            )
