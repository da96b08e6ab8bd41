"""What every event store promises, checked against SQLite and a real Redis server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.store.base import EventStore, NewEvent, StoreUnavailable
from service.store.redis import RedisEventStore
from service.store.sqlite import SqliteEventStore


# The Redis store needs a real redis-server: a slow test.
@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.slow)])
async def store(request: Any, tmp_path: Path) -> AsyncIterator[EventStore]:
    opened: SqliteEventStore | RedisEventStore
    if request.param == "sqlite":
        opened = SqliteEventStore(str(tmp_path / "events.sqlite3"))
    else:
        redis_url = request.getfixturevalue("redis_url")
        opened = RedisEventStore(redis_url)
    await opened.open()
    if isinstance(opened, RedisEventStore):
        assert opened._client is not None
        await opened._client.flushdb()
    yield opened
    await opened.close()


def _event(event_id: str, key: str = "room:a", provider: str = "livekit") -> NewEvent:
    body = f'{{"event":"room_started","id":"{event_id}"}}'.encode()
    return NewEvent(
        provider=provider, event_id=event_id, ordering_key=key, received_at=1.5, body=body
    )


async def test_an_event_is_stored_once_and_read_back_exactly(store: EventStore) -> None:
    assert await store.add(_event("EV_1")) is True
    assert await store.add(_event("EV_1")) is False
    (stored,) = await store.list_events(after=None, provider=None, state=None, limit=10)
    assert (stored.provider, stored.event_id, stored.ordering_key) == ("livekit", "EV_1", "room:a")
    assert stored.body == b'{"event":"room_started","id":"EV_1"}'
    assert (stored.state, stored.attempts, stored.received_at) == ("pending", 0, 1.5)


async def test_the_same_id_from_two_providers_is_two_events(store: EventStore) -> None:
    assert await store.add(_event("X", provider="livekit"))
    assert await store.add(_event("X", provider="agora"))


async def test_concurrent_copies_of_one_event_are_stored_once(store: EventStore) -> None:
    results = await asyncio.gather(*(store.add(_event("EV_dup")) for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]
    assert len(await store.list_events(after=None, provider=None, state=None, limit=100)) == 1


async def test_listing_pages_by_cursor_in_arrival_order(store: EventStore) -> None:
    for i in range(5):
        await store.add(_event(f"EV_{i}"))
    first = await store.list_events(after=None, provider=None, state=None, limit=2)
    rest = await store.list_events(after=first[-1].cursor, provider=None, state=None, limit=10)
    assert [e.event_id for e in first + rest] == [f"EV_{i}" for i in range(5)]


async def test_listing_filters_by_provider_and_state(store: EventStore) -> None:
    await store.add(_event("A", provider="agora"))
    await store.add(_event("L1"))
    await store.add(_event("L2"))
    delivered = (await store.pending(10))[1]
    await store.mark_delivered(delivered.cursor)
    livekit = await store.list_events(after=None, provider="livekit", state=None, limit=10)
    assert [e.event_id for e in livekit] == ["L1", "L2"]
    done = await store.list_events(after=None, provider=None, state="delivered", limit=10)
    assert [(e.event_id, e.attempts) for e in done] == [("L1", 1)]


async def test_pending_is_oldest_first_and_forgets_delivered_and_dead(store: EventStore) -> None:
    for i in range(4):
        await store.add(_event(f"EV_{i}"))
    pending = await store.pending(10)
    assert [e.event_id for e in pending] == ["EV_0", "EV_1", "EV_2", "EV_3"]
    await store.mark_delivered(pending[0].cursor)
    await store.mark_failed(pending[1].cursor, error="500", next_attempt_at=99.0, dead=False)
    await store.mark_failed(pending[2].cursor, error="gone", next_attempt_at=99.0, dead=True)
    left = await store.pending(10)
    assert [(e.event_id, e.attempts, e.next_attempt_at, e.last_error) for e in left] == [
        ("EV_1", 1, 99.0, "500"),
        ("EV_3", 0, 0.0, None),
    ]
    (dead,) = await store.list_events(after=None, provider=None, state="dead", limit=10)
    assert (dead.event_id, dead.last_error) == ("EV_2", "gone")


async def test_one_forwarding_lease_at_a_time(store: EventStore) -> None:
    one, two = uuid.uuid4().hex, uuid.uuid4().hex
    assert await store.acquire_forwarding_lease(one, 30)
    assert not await store.acquire_forwarding_lease(two, 30)
    assert await store.acquire_forwarding_lease(one, 30)  # renewal


async def test_an_expired_lease_passes_to_another_forwarder(store: EventStore) -> None:
    assert await store.acquire_forwarding_lease("one", 0.05)
    await asyncio.sleep(0.2)
    assert await store.acquire_forwarding_lease("two", 30)


async def test_sqlite_events_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "events.sqlite3")
    first = SqliteEventStore(path)
    await first.open()
    await first.add(_event("EV_kept"))
    await first.close()
    again = SqliteEventStore(path)
    await again.open()
    assert [e.event_id for e in await again.pending(10)] == ["EV_kept"]
    assert await again.add(_event("EV_kept")) is False
    await again.close()


async def test_sqlite_uses_write_ahead_logging(tmp_path: Path) -> None:
    import sqlite3

    store = SqliteEventStore(str(tmp_path / "events.sqlite3"))
    await store.open()
    await store.add(_event("EV_1"))
    mode = sqlite3.connect(tmp_path / "events.sqlite3").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)
    await store.close()


async def test_an_unreachable_redis_is_store_unavailable() -> None:
    store = RedisEventStore("redis://127.0.0.1:9/0")
    with pytest.raises(StoreUnavailable):
        await store.open()
    await store.close()


async def test_an_unwritable_sqlite_path_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable):
        await SqliteEventStore(str(blocker / "events.sqlite3")).open()
