"""The shared event store for several replicas: Redis Streams (REDIS_URL).

An event is kept as one stream entry; its dedupe marker, the stream entry and its place in
the pending set are written by one Lua script, so they exist together or not at all, and
two replicas taking the same event at the same moment store it once. Durability is
Redis's: run it with appendonly yes (appendfsync always for no loss on power failure).

Apps: every entry carries its app (entries from before apps carry none: `default`); each
app has its own pending set and its own dedupe markers, so one app's backlog never hides
another's events and two apps never shadow each other's ids. The default app keeps the
keys there were before apps (markers, pending set, lease), so an upgrade loses no marker
and resumes every pending delivery.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from service.metrics import event_store_timer
from service.store.base import (
    DEFAULT_APP,
    DEFAULT_LEASE,
    DeliveryState,
    NewEvent,
    StoredEvent,
    StoreUnavailable,
)

PREFIX = "rts"
STREAM = f"{PREFIX}:events"
PENDING = f"{PREFIX}:pending"
SEQUENCE = f"{PREFIX}:sequence"
LEASE = f"{PREFIX}:forwarder"
SEEN_SECONDS = 30 * 86_400  # platforms redeliver within minutes; keep ids a month


# An app name has no ':' (service.apps.APP_NAME), so no app's keys are another's.
def _app_prefix(app: str) -> str:
    return PREFIX if app == DEFAULT_APP else f"{PREFIX}:app:{app}"


def _seen_key(event: NewEvent) -> str:
    return f"{_app_prefix(event.app)}:seen:{event.provider}:{event.event_id}"


def _pending_key(app: str) -> str:
    return f"{_app_prefix(app)}:pending"


def _lease_key(name: str) -> str:
    return LEASE if name == DEFAULT_LEASE else f"{PREFIX}:lease:{name}"


# KEYS: seen marker, stream, pending set, sequence. ARGV: ttl, then field/value pairs.
_ADD = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return false
end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), id)
return id
"""

# KEYS: lease. ARGV: owner, milliseconds.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class RedisEventStore:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client: redis_asyncio.Redis | None = None

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[redis_asyncio.Redis]:
        if self._client is None:
            raise StoreUnavailable("the event store is closed")
        try:
            yield self._client
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis error: {exc}") from exc

    async def open(self) -> None:
        self._client = redis_asyncio.Redis.from_url(self._url, socket_timeout=5.0)
        async with self._redis() as client:
            await client.ping()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def add(self, event: NewEvent) -> bool:
        with event_store_timer("add"):
            return await self._add(event)

    async def _add(self, event: NewEvent) -> bool:
        async with self._redis() as client:
            stored = await client.eval(
                _ADD,
                4,
                _seen_key(event),
                STREAM,
                _pending_key(event.app),
                SEQUENCE,
                SEEN_SECONDS,
                "app", event.app,
                "provider", event.provider,
                "event_id", event.event_id,
                "key", event.ordering_key,
                "received_at", repr(event.received_at),
                "body", event.body,
            )  # fmt: skip
        return stored is not None

    async def _event(self, client: redis_asyncio.Redis, entry_id: str, fields: Any) -> StoredEvent:
        state = {
            _text(k): _text(v)
            for k, v in (await client.hgetall(f"{PREFIX}:state:{entry_id}")).items()
        }
        values = {_text(k): v for k, v in fields.items()}
        return StoredEvent(
            cursor=entry_id,
            app=_text(values.get("app", DEFAULT_APP)),
            provider=_text(values["provider"]),
            event_id=_text(values["event_id"]),
            ordering_key=_text(values["key"]),
            received_at=float(_text(values["received_at"])),
            body=bytes(values["body"]),
            state=state.get("state", "pending"),  # type: ignore[arg-type]
            attempts=int(state.get("attempts", 0)),
            next_attempt_at=float(state.get("next_attempt_at", 0)),
            last_error=state.get("last_error") or None,
        )

    async def list_events(
        self,
        *,
        after: str | None,
        provider: str | None,
        state: DeliveryState | None,
        limit: int,
        app: str | None = None,
    ) -> list[StoredEvent]:
        with event_store_timer("list"):
            return await self._list_events(after, provider, state, limit, app)

    async def _list_events(
        self,
        after: str | None,
        provider: str | None,
        state: DeliveryState | None,
        limit: int,
        app: str | None,
    ) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        start = f"({after}" if after else "-"
        async with self._redis() as client:
            while len(found) < limit:
                entries = await client.xrange(STREAM, min=start, max="+", count=limit)
                if not entries:
                    break
                for entry_id, fields in entries:
                    event = await self._event(client, _text(entry_id), fields)
                    if (
                        (provider is None or event.provider == provider)
                        and (state is None or event.state == state)
                        and (app is None or event.app == app)
                    ):
                        found.append(event)
                start = f"({_text(entries[-1][0])}"
        return found[:limit]

    async def pending(self, limit: int, *, app: str = DEFAULT_APP) -> list[StoredEvent]:
        with event_store_timer("pending"):
            return await self._pending(limit, app)

    async def _pending(self, limit: int, app: str) -> list[StoredEvent]:
        events: list[StoredEvent] = []
        async with self._redis() as client:
            entry_id: Any
            for entry_id in await client.zrange(_pending_key(app), 0, limit - 1):
                entry = await client.xrange(STREAM, min=entry_id, max=entry_id)
                if entry:
                    events.append(await self._event(client, _text(entry_id), entry[0][1]))
        return events

    async def backlog(self, app: str) -> tuple[int, float | None]:
        with event_store_timer("backlog"):
            async with self._redis() as client:
                count = await client.zcard(_pending_key(app))
                oldest: float | None = None
                entry_id: Any
                for entry_id in await client.zrange(_pending_key(app), 0, 0):
                    entry = await client.xrange(STREAM, min=entry_id, max=entry_id)
                    if entry:
                        fields: Any = entry[0][1]
                        oldest = float(_text(fields[b"received_at"]))
        return int(count), oldest

    async def _pending_key_of(self, client: redis_asyncio.Redis, cursor: str) -> str:
        """The pending set an entry is in: its app's (an entry's app never changes)."""
        entry = await client.xrange(STREAM, min=cursor, max=cursor)
        fields = entry[0][1] if entry else None
        return _pending_key(_text(fields.get(b"app", DEFAULT_APP)) if fields else DEFAULT_APP)

    async def mark_delivered(self, cursor: str) -> None:
        async with self._redis() as client:
            pending = await self._pending_key_of(client, cursor)
            state_key = f"{PREFIX}:state:{cursor}"
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(state_key, mapping={"state": "delivered", "last_error": ""})
                pipe.hincrby(state_key, "attempts", 1)
                pipe.zrem(pending, cursor)
                await pipe.execute()

    async def mark_failed(
        self, cursor: str, *, error: str, next_attempt_at: float, dead: bool
    ) -> None:
        async with self._redis() as client:
            pending = await self._pending_key_of(client, cursor)
            state_key = f"{PREFIX}:state:{cursor}"
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(
                    state_key,
                    mapping={
                        "state": "dead" if dead else "pending",
                        "last_error": error,
                        "next_attempt_at": repr(next_attempt_at),
                    },
                )
                pipe.hincrby(state_key, "attempts", 1)
                if dead:
                    pipe.zrem(pending, cursor)
                await pipe.execute()

    async def acquire_forwarding_lease(
        self, owner: str, seconds: float, *, name: str = DEFAULT_LEASE
    ) -> bool:
        async with self._redis() as client:
            held = await client.eval(_LEASE, 1, _lease_key(name), owner, int(seconds * 1000))
        return bool(held)
