"""What every event store promises, checked against SQLite and a real Redis server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.store.base import DEFAULT_APP, EventStore, NewEvent, StoreUnavailable, lease_name
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


def _event(
    event_id: str, key: str = "room:a", provider: str = "livekit", app: str = "default"
) -> NewEvent:
    body = f'{{"event":"room_started","id":"{event_id}"}}'.encode()
    return NewEvent(
        app=app, provider=provider, event_id=event_id, ordering_key=key, received_at=1.5, body=body
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


# --- apps: every event is one app's -------------------------------------------------------


async def test_an_event_carries_its_app(store: EventStore) -> None:
    assert await store.add(_event("EV_a", app="alpha"))
    (stored,) = await store.list_events(after=None, provider=None, state=None, limit=10)
    assert stored.app == "alpha"
    assert stored.to_api()["app"] == "alpha"


async def test_the_same_event_id_in_two_apps_is_two_events(store: EventStore) -> None:
    assert await store.add(_event("X", app="alpha"))
    assert await store.add(_event("X", app="beta"))
    assert not await store.add(_event("X", app="alpha"))
    assert not await store.add(_event("X", app="beta"))
    stored = await store.list_events(after=None, provider=None, state=None, limit=10)
    assert [(e.app, e.event_id) for e in stored] == [("alpha", "X"), ("beta", "X")]


async def test_concurrent_copies_in_two_apps_are_stored_once_each(store: EventStore) -> None:
    copies = [_event("EV_dup", app=app) for app in ("alpha", "beta") for _ in range(10)]
    results = await asyncio.gather(*(store.add(event) for event in copies))
    assert results.count(True) == 2
    stored = await store.list_events(after=None, provider=None, state=None, limit=100)
    assert sorted(e.app for e in stored) == ["alpha", "beta"]


async def test_listing_filters_by_app(store: EventStore) -> None:
    await store.add(_event("A1", app="alpha"))
    await store.add(_event("B1", app="beta"))
    await store.add(_event("A2", app="alpha", provider="agora"))
    alpha = await store.list_events(after=None, provider=None, state=None, limit=10, app="alpha")
    assert [e.event_id for e in alpha] == ["A1", "A2"]
    agora = await store.list_events(after=None, provider="agora", state=None, limit=10, app="alpha")
    assert [e.event_id for e in agora] == ["A2"]
    assert await store.list_events(after=None, provider=None, state=None, limit=10, app="x") == []


async def test_pending_is_per_app_and_one_apps_backlog_hides_no_other(store: EventStore) -> None:
    for i in range(5):
        await store.add(_event(f"A{i}", app="alpha"))
    await store.add(_event("B0", app="beta"))
    await store.add(_event("D0"))
    assert [e.event_id for e in await store.pending(2, app="beta")] == ["B0"]
    assert [e.event_id for e in await store.pending(2, app="alpha")] == ["A0", "A1"]
    assert [e.event_id for e in await store.pending(10)] == ["D0"]  # the default app's
    (beta,) = await store.pending(10, app="beta")
    await store.mark_delivered(beta.cursor)
    assert await store.pending(10, app="beta") == []
    alpha = await store.pending(10, app="alpha")
    await store.mark_failed(alpha[0].cursor, error="gone", next_attempt_at=9.0, dead=True)
    await store.mark_failed(alpha[1].cursor, error="503", next_attempt_at=9.0, dead=False)
    left = await store.pending(10, app="alpha")
    assert [(e.event_id, e.attempts) for e in left] == [("A1", 1), ("A2", 0), ("A3", 0), ("A4", 0)]
    assert [e.event_id for e in await store.pending(10)] == ["D0"]


async def test_each_app_has_its_own_forwarding_lease(store: EventStore) -> None:
    one, two = uuid.uuid4().hex, uuid.uuid4().hex
    assert await store.acquire_forwarding_lease(one, 30, name=lease_name("alpha"))
    assert await store.acquire_forwarding_lease(two, 30, name=lease_name("beta"))
    assert await store.acquire_forwarding_lease(two, 30, name=lease_name(DEFAULT_APP))
    assert not await store.acquire_forwarding_lease(two, 30, name=lease_name("alpha"))
    # The default app's lease is the one there was before apps: an old process holding it
    # and a new one never forward the default app's events at once.
    assert not await store.acquire_forwarding_lease(one, 30)


def test_the_stores_default_app_is_the_services() -> None:
    from service import apps

    assert DEFAULT_APP == apps.DEFAULT_APP
    assert apps.APP_NAME.fullmatch(DEFAULT_APP)
    assert lease_name(DEFAULT_APP) == "forwarder"
    assert lease_name("alpha") == "forwarder:alpha"


# --- upgrading a store written before apps --------------------------------------------------

_BEFORE_APPS = """
CREATE TABLE events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    received_at REAL NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (provider, event_id)
);
CREATE INDEX events_pending ON events (state, cursor);
CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL);
"""


def _database_before_apps(path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript(_BEFORE_APPS)
    insert = (
        "INSERT INTO events (provider, event_id, ordering_key, received_at, body, state) "
        "VALUES (?, ?, 'room:a', 1.5, ?, ?)"
    )
    db.execute(insert, ("livekit", "EV_old1", b'{"n":1}', "delivered"))
    db.execute(insert, ("livekit", "EV_old2", b'{"n":2}', "pending"))
    db.execute(insert, ("agora", "EV_old3", b'{"n":3}', "pending"))
    db.execute("DELETE FROM events WHERE event_id = 'EV_old3'")  # its cursor is never reused
    db.execute("INSERT INTO leases VALUES ('forwarder', 'old-process', 1e12)")
    db.commit()
    db.close()


async def test_a_database_from_before_apps_is_migrated_keeping_every_event(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "events.sqlite3"
    _database_before_apps(path)
    for opening in range(2):  # opening it again finds it migrated and changes nothing
        store = SqliteEventStore(str(path))
        await store.open()
        stored = await store.list_events(
            after=None, provider=None, state=None, limit=10, app="default"
        )
        assert [(e.cursor, e.app, e.event_id, e.state, e.body) for e in stored] == [
            ("1", "default", "EV_old1", "delivered", b'{"n":1}'),
            ("2", "default", "EV_old2", "pending", b'{"n":2}'),
        ]
        assert [e.event_id for e in await store.pending(10)] == ["EV_old2"]
        # Dedupe is kept for the old rows, and is now per app.
        assert not await store.add(_event("EV_old2"))
        assert await store.add(_event("EV_old2", app="alpha")) is (opening == 0)
        # The old process still holds the default app's lease.
        assert not await store.acquire_forwarding_lease("new-process", 30)
        await store.close()
    db = sqlite3.connect(path)
    (cursor,) = db.execute("SELECT cursor FROM events WHERE app = 'alpha'").fetchone()
    assert cursor > 3  # after the deleted row's 3: no cursor given out is reused
    indexes = {row[1]: row[2] for row in db.execute("PRAGMA index_list(events)")}
    unique = [n for n, u in indexes.items() if u]
    assert [[c[2] for c in db.execute(f"PRAGMA index_info({name!r})")] for name in unique] == [
        ["app", "provider", "event_id"]
    ]
    assert {"events_pending", "events_app_pending"} <= set(indexes)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute(
        "SELECT count(*) FROM sqlite_master WHERE name LIKE '%migrating%'"
    ).fetchone() == (0,)


async def test_two_stores_opening_an_old_database_at_once_migrate_it_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    _database_before_apps(path)
    stores = [SqliteEventStore(str(path)) for _ in range(4)]
    await asyncio.gather(*(store.open() for store in stores))
    for store in stores:
        stored = await store.list_events(after=None, provider=None, state=None, limit=10)
        assert [e.event_id for e in stored] == ["EV_old1", "EV_old2"]
        await store.close()


async def test_every_worker_opening_an_old_database_together_opens_it(tmp_path: Path) -> None:
    # Switching an old file to WAL needs an exclusive lock, which SQLite refuses at once
    # (no busy wait) to all but one of the connections asking together; workers starting
    # at the same moment must all open the store anyway.
    for trial in range(20):
        path = tmp_path / f"events-{trial}.sqlite3"
        _database_before_apps(path)
        stores = [SqliteEventStore(str(path)) for _ in range(8)]
        await asyncio.gather(*(store.open() for store in stores))
        for store in stores:
            assert (
                len(await store.list_events(after=None, provider=None, state=None, limit=10)) == 2
            )
            await store.close()


@pytest.mark.slow
async def test_redis_entries_from_before_apps_are_the_default_apps(redis_url: str) -> None:
    from service.store.redis import PENDING, STREAM

    store = RedisEventStore(redis_url)
    await store.open()
    client = store._client
    assert client is not None
    await client.flushdb()
    # As the store wrote them before apps: no app field, the old marker and pending set.
    fields: dict[Any, Any] = {
        "provider": "livekit",
        "event_id": "EV_old",
        "key": "room:a",
        "received_at": "1.5",
        "body": b"{}",
    }
    entry: Any = await client.xadd(STREAM, fields)
    await client.zadd(PENDING, {entry: 1})
    await client.set("rts:seen:livekit:EV_old", "1")
    (old,) = await store.pending(10)
    assert (old.app, old.event_id) == ("default", "EV_old")
    assert not await store.add(_event("EV_old"))  # its marker still counts
    assert await store.add(_event("EV_old", app="alpha"))
    await store.mark_delivered(old.cursor)
    assert await store.pending(10) == []
    assert [e.event_id for e in await store.pending(10, app="alpha")] == ["EV_old"]
    await store.close()
