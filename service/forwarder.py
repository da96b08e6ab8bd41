"""Forwarding stored events to each app's own URL, at least once, in order per key.

Every app with a forward URL has its own forwarder (AppForwarder): it scans only its app's
pending events, holds its own lease, has its own connections and signs with its app's
secret, so one app's dead or slow receiver never delays another app's events. Forwarder
runs them: it follows the app set (swapped whole on reload), starting a forwarder for an
app that gains a forward URL and stopping the one of an app that is removed or loses it.

An app without a forward URL gets no deliveries: its events stay stored in state
"pending" (for the events API, its pull), and no forwarder ever scans them, so they cost
no retries; should the app be given a forward URL later, its forwarder delivers that
backlog in order, as a single app's forwarder always has when WEBHOOK_FORWARD_URL was set
after events were stored.

An app's forwarder reads undelivered events from the store in cursor order and, for each
ordering key (a room, a channel), POSTs only the oldest: a later event of that room waits
until the earlier one is delivered or given up on. A failure is retried with doubling
backoff; after WEBHOOK_FORWARD_MAX_ATTEMPTS the event is dead-lettered (logged, and
visible in the events API with state "dead") so it cannot block its room forever. State
lives in the store, so pending deliveries resume after a restart; a lease in the store
keeps one forwarder per app active across processes.

Each request is signed as Standard Webhooks (standardwebhooks.com) has it, so the app can
check it came from us with any Standard Webhooks library: webhook-id (the same on every
attempt of an event), webhook-timestamp (this attempt's unix seconds) and
webhook-signature, "v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>." + body)>" for each
configured secret, space-separated, so a receiver holding any one of them (a secret being
rotated) accepts it. The deprecated X-RTC-Signature, t=<unix seconds>,v1=<hex
HMAC-SHA256(first secret, "<t>." + body)>, is still sent for this release, so receivers
that check it keep working until they move.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from service.logs import get_logger
from service.store.base import EventStore, StoredEvent, StoreUnavailable, lease_name, safe_name
from service.store.settings import forward_secrets, signing_key

if TYPE_CHECKING:
    from service.apps import Apps

log = get_logger("service.forwarder")

LEASE_SECONDS = 10.0
IDLE_POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
BATCH = 500
CONCURRENCY = 16
SYNC_SECONDS = 2.0  # how soon a changed app set is followed without a wake


def envelope(event: StoredEvent) -> bytes:
    """What the app receives: our facts about the event, and the platform's event as sent."""
    facts = json.dumps(
        {
            "cursor": event.cursor,
            "app": event.app,
            "provider": event.provider,
            "id": event.event_id,
            "key": event.ordering_key,
            "received_at": event.received_at,
        },
        separators=(",", ":"),
    )
    return facts[:-1].encode() + b',"event":' + event.body + b"}"


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The deprecated X-RTC-Signature (kept for one release): keyed with the secret's text."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def message_id(event: StoredEvent) -> str:
    """The event's webhook-id: the same on every attempt and after a restart, and derived
    from what the store deduplicates on (app, provider, platform event id) rather than the
    cursor, so a store started afresh never reuses one a receiver has already seen."""
    name = "\0".join((event.app, event.provider, event.event_id)).encode()
    return "evt_" + hashlib.sha256(name).hexdigest()[:32]


def standard_signature(keys: tuple[bytes, ...], msg_id: str, timestamp: int, body: bytes) -> str:
    """webhook-signature: one "v1,<base64 HMAC-SHA256>" per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


@dataclass(frozen=True)
class Target:
    """Where one app's events go, and the secrets they are signed with (as configured:
    one, or several separated by spaces or commas)."""

    app: str
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Retries:
    """How every app's deliveries are retried (WEBHOOK_FORWARD_*)."""

    max_attempts: int
    timeout: float
    backoff: float


class AppForwarder:
    """One app's forwarder: its pending events to its URL, signed with its secret."""

    def __init__(
        self,
        store: EventStore,
        session: aiohttp.ClientSession,
        target: Target,
        retries: Retries,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self._store = store
        self._session = session
        self._app = target.app
        self._lease = lease_name(target.app)
        self._url = target.url
        secrets = forward_secrets(target.secret)
        self._legacy_secret = secrets[0]
        self._keys = tuple(signing_key(secret) for secret in secrets)
        self._max_attempts = retries.max_attempts
        self._timeout = aiohttp.ClientTimeout(total=retries.timeout)
        self._backoff = retries.backoff
        self._clock = clock
        self._owner = owner
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
                log.warning("forwarding paused: store unavailable", app=self._app, reason=str(exc))
                pause = IDLE_POLL_SECONDS
            except Exception:
                log.exception("forwarding round failed; carrying on", app=self._app)
                pause = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)

    async def _round(self) -> float:
        """Deliver what is due; return how long to wait before the next round."""
        lease = self._lease
        if not await self._store.acquire_forwarding_lease(self._owner, LEASE_SECONDS, name=lease):
            return LEASE_SECONDS / 3  # another process forwards; look again later
        now = self._clock()
        heads: dict[str, StoredEvent] = {}
        for event in await self._store.pending(BATCH, app=self._app):
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
            log.exception(
                "forwarding attempt failed unexpectedly", app=self._app, cursor=event.cursor
            )
            error = f"unexpected {type(exc).__name__}"
        await self._settle(event, error)

    async def _attempt(self, event: StoredEvent) -> str | None:
        body = envelope(event)
        timestamp = int(self._clock())
        msg_id = message_id(event)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_signature(self._keys, msg_id, timestamp, body),
            "X-RTC-Event-Id": safe_name(event.event_id) or "",
            "X-RTC-App": event.app,
            "X-RTC-Provider": event.provider,
            "X-RTC-Delivery-Attempt": str(event.attempts + 1),
            "X-RTC-Signature": signature_header(self._legacy_secret, timestamp, body),
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
            log.info("event forwarded", app=self._app, cursor=event.cursor, event_id=event.event_id)
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
                app=self._app,
                cursor=event.cursor,
                event_id=event.event_id,
                attempts=attempts,
                error=error,
            )
        else:
            log.warning(
                "forwarding failed; will retry",
                app=self._app,
                cursor=event.cursor,
                event_id=event.event_id,
                attempts=attempts,
                retry_in=delay,
                error=error,
            )


def targets(apps: Apps) -> dict[str, Target]:
    """The apps that have a forward URL (and so a secret: the configuration requires it)."""
    return {
        app.name: Target(app.name, app.forward_url, app.forward_secret)
        for app in apps
        if app.forward_url is not None and app.forward_secret is not None
    }


class Forwarder:
    """Every app's forwarder, following the current app set: checked every SYNC_SECONDS
    and whenever woken without an app (after a reload), each app's forwarder is started,
    kept, restarted with its new URL or secret, or stopped."""

    def __init__(
        self,
        store: EventStore,
        apps: Callable[[], Apps],
        retries: Retries,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._apps = apps  # read at every check: a reload swaps the set whole
        self._retries = retries
        self._clock = clock
        # One owner for every lease this process holds: a forwarder restarted here (its
        # URL changed) takes its app's lease back at once, without waiting for it to lapse.
        self._owner = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._running: dict[str, tuple[AppForwarder, aiohttp.ClientSession, asyncio.Task[None]]]
        self._running = {}

    @property
    def running(self) -> dict[str, Target]:
        """The apps being forwarded now, and where to."""
        return {name: forwarder.target for name, (forwarder, _, _) in self._running.items()}

    def wake(self, app: str | None = None) -> None:
        """`app` stored a new event: its forwarder looks now rather than at its next poll.
        Without an app (or for an app that has no forwarder yet but should), the app set
        is checked now rather than at the next check."""
        if app is not None and (running := self._running.get(app)) is not None:
            running[0].wake()
            return
        if app is not None:
            configured = self._apps().get(app)
            if configured is None or configured.forward_url is None:
                return  # a pull-only app: nothing to wake
        self._wake.set()

    async def run(self) -> None:
        """Run every app's forwarder until cancelled; then stop them all."""
        try:
            while True:
                self._wake.clear()
                try:
                    await self._sync()
                except Exception:
                    log.exception("following the app set failed; carrying on")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=SYNC_SECONDS)
        finally:
            for name in list(self._running):
                await self._stop(name)

    async def _sync(self) -> None:
        wanted = targets(self._apps())
        for name, (forwarder, _, task) in list(self._running.items()):
            if wanted.get(name) != forwarder.target or task.done():
                await self._stop(name)
        for name, target in wanted.items():
            if name not in self._running:
                self._start(target)

    def _start(self, target: Target) -> None:
        # Its own connections: a receiver that holds them all slows its own app only.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))
        forwarder = AppForwarder(
            self._store, session, target, self._retries, owner=self._owner, clock=self._clock
        )
        task = asyncio.create_task(forwarder.run(), name=f"forwarder:{target.app}")
        self._running[target.app] = (forwarder, session, task)
        # The host only: a URL may carry credentials.
        log.info("forwarding started", app=target.app, host=urlsplit(target.url).hostname)

    async def _stop(self, name: str) -> None:
        """Stopped, and finished, before another forwarder of the app may start here: an
        attempt cut short leaves its event pending, delivered again (at least once)."""
        _, session, task = self._running[name]
        task.cancel()
        # wait(), not `await task`: the forwarder's CancelledError is not raised here, so
        # this supervisor's own cancellation (shutdown) is never swallowed.
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.error("a forwarder ended with an error", app=name, error=repr(task.exception()))
        await session.close()
        del self._running[name]
        log.info("forwarding stopped", app=name)
