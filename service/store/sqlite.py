"""The embedded event store: SQLite in WAL mode, no extra service to run.

Every call runs on one dedicated thread with its own connection, so the event loop never
blocks on disk. A transaction commits with synchronous=FULL before `add` returns: an
event answered 2xx survives the process being killed right after (and a power cut).
Several processes may share the file; SQLite's locking serialises their writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from service.store.base import DeliveryState, NewEvent, StoredEvent, StoreUnavailable

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
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
CREATE INDEX IF NOT EXISTS events_pending ON events (state, cursor);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

_COLUMNS = (
    "cursor, provider, event_id, ordering_key, received_at, body, state, attempts, "
    "next_attempt_at, last_error"
)


def _row(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(
        cursor=str(row[0]),
        provider=row[1],
        event_id=row[2],
        ordering_key=row[3],
        received_at=row[4],
        body=bytes(row[5]),
        state=row[6],
        attempts=row[7],
        next_attempt_at=row[8],
        last_error=row[9],
    )


class SqliteEventStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-store")
        self._connection: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def on_store_thread() -> T:
            if self._connection is None:
                raise StoreUnavailable("the event store is closed")
            return work(self._connection)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, on_store_thread)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"event store error: {exc}") from exc

    async def open(self) -> None:
        def connect() -> None:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self._path, isolation_level=None, timeout=10.0)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
            self._connection = connection

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open the event store at {self._path}: {exc}") from exc

    async def close(self) -> None:
        def disconnect() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    async def add(self, event: NewEvent) -> bool:
        def insert(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events "
                "(provider, event_id, ordering_key, received_at, body) VALUES (?, ?, ?, ?, ?)",
                (event.provider, event.event_id, event.ordering_key, event.received_at, event.body),
            )
            return cursor.rowcount == 1

        return await self._run(insert)

    async def list_events(
        self,
        *,
        after: str | None,
        provider: str | None,
        state: DeliveryState | None,
        limit: int,
    ) -> list[StoredEvent]:
        clauses, params = ["cursor > ?"], [int(after) if after else 0]
        if provider is not None:
            clauses.append("provider = ?")
            params.append(provider)  # type: ignore[arg-type]
        if state is not None:
            clauses.append("state = ?")
            params.append(state)  # type: ignore[arg-type]
        query = (
            f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(clauses)} "  # noqa: S608 - fixed clauses
            "ORDER BY cursor LIMIT ?"
        )
        params.append(limit)
        return await self._run(lambda db: [_row(r) for r in db.execute(query, params)])

    async def pending(self, limit: int) -> list[StoredEvent]:
        query = f"SELECT {_COLUMNS} FROM events WHERE state = 'pending' ORDER BY cursor LIMIT ?"  # noqa: S608
        return await self._run(lambda db: [_row(r) for r in db.execute(query, (limit,))])

    async def mark_delivered(self, cursor: str) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE events SET state = 'delivered', attempts = attempts + 1, "
                "last_error = NULL WHERE cursor = ?",
                (int(cursor),),
            )
        )

    async def mark_failed(
        self, cursor: str, *, error: str, next_attempt_at: float, dead: bool
    ) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE events SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, state = ? WHERE cursor = ?",
                (error, next_attempt_at, "dead" if dead else "pending", int(cursor)),
            )
        )

    async def acquire_forwarding_lease(self, owner: str, seconds: float) -> bool:
        def take(db: sqlite3.Connection) -> bool:
            now = time.time()
            db.execute(
                "INSERT INTO leases (name, owner, expires_at) VALUES ('forwarder', ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE leases.owner = excluded.owner OR leases.expires_at < ?",
                (owner, now + seconds, now),
            )
            row = db.execute("SELECT owner FROM leases WHERE name = 'forwarder'").fetchone()
            return row is not None and row[0] == owner

        return await self._run(take)
