"""The shared event store for several replicas: Redis Streams (REDIS_URL).

An event is kept as one stream entry; its dedupe marker, the stream entry and its place in
the pending set are written by one Lua script, so they exist together or not at all, and
two replicas taking the same event at the same moment store it once. Durability is
Redis's: run it with appendonly yes (appendfsync always for no loss on power failure).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from service.store.base import DeliveryState, NewEvent, StoredEvent, StoreUnavailable

PREFIX = "rts"
STREAM = f"{PREFIX}:events"
PENDING = f"{PREFIX}:pending"
SEQUENCE = f"{PREFIX}:sequence"
LEASE = f"{PREFIX}:forwarder"
SEEN_SECONDS = 30 * 86_400  # platforms redeliver within minutes; keep ids a month

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
        async with self._redis() as client:
            stored = await client.eval(
                _ADD,
                4,
                f"{PREFIX}:seen:{event.provider}:{event.event_id}",
                STREAM,
                PENDING,
                SEQUENCE,
                SEEN_SECONDS,
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
                    if (provider is None or event.provider == provider) and (
                        state is None or event.state == state
                    ):
                        found.append(event)
                start = f"({_text(entries[-1][0])}"
        return found[:limit]

    async def pending(self, limit: int) -> list[StoredEvent]:
        events: list[StoredEvent] = []
        async with self._redis() as client:
            entry_id: Any
            for entry_id in await client.zrange(PENDING, 0, limit - 1):
                entry = await client.xrange(STREAM, min=entry_id, max=entry_id)
                if entry:
                    events.append(await self._event(client, _text(entry_id), entry[0][1]))
        return events

    async def mark_delivered(self, cursor: str) -> None:
        async with self._redis() as client:
            state_key = f"{PREFIX}:state:{cursor}"
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(state_key, mapping={"state": "delivered", "last_error": ""})
                pipe.hincrby(state_key, "attempts", 1)
                pipe.zrem(PENDING, cursor)
                await pipe.execute()

    async def mark_failed(
        self, cursor: str, *, error: str, next_attempt_at: float, dead: bool
    ) -> None:
        async with self._redis() as client:
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
                    pipe.zrem(PENDING, cursor)
                await pipe.execute()

    async def acquire_forwarding_lease(self, owner: str, seconds: float) -> bool:
        async with self._redis() as client:
            held = await client.eval(_LEASE, 1, LEASE, owner, int(seconds * 1000))
        return bool(held)
