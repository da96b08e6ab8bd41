"""The embedded event store: SQLite in WAL mode, no extra service to run.

Every call runs on one dedicated thread with its own connection, so the event loop never
blocks on disk. A transaction commits with synchronous=FULL before `add` returns: an
event answered 2xx survives the process being killed right after (and a power cut).
Several processes may share the file; SQLite's locking serialises their writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from service.metrics import event_store_timer
from service.store.base import (
    DEFAULT_APP,
    DEFAULT_LEASE,
    DeliveryState,
    NewEvent,
    StoredEvent,
    StoreUnavailable,
)

T = TypeVar("T")

_TABLE = """
CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL DEFAULT 'default',
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    received_at REAL NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (app, provider, event_id)
)
"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS events_pending ON events (state, cursor)",
    # Each app's forwarder scans its own pending events in cursor order.
    "CREATE INDEX IF NOT EXISTS events_app_pending ON events (app, state, cursor)",
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "expires_at REAL NOT NULL)",
)
# The columns of the table before apps, in order: what the migration copies.
_OLD_COLUMNS = (
    "cursor, provider, event_id, ordering_key, received_at, body, state, attempts, "
    "next_attempt_at, last_error"
)

_COLUMNS = (
    "cursor, app, provider, event_id, ordering_key, received_at, body, state, attempts, "
    "next_attempt_at, last_error"
)


@contextlib.contextmanager
def _write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One IMMEDIATE transaction: the write lock is taken first, through the busy wait,
    instead of by upgrading a read, which SQLite refuses at once when another process
    wrote in between. Committed whole, or rolled back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _has_app_column(db: sqlite3.Connection) -> bool:
    return any(row[1] == "app" for row in db.execute("PRAGMA table_info(events)"))


def _migrate(db: sqlite3.Connection) -> None:
    """A database from before apps: its events table has no `app` column and its unique
    constraint is (provider, event_id), inline in the table, so it cannot be dropped on its
    own: the table is rebuilt (SQLite's documented way to change a constraint) with the new
    shape, every row kept with its cursor and becoming the `default` app's, and the cursor
    sequence kept, so no cursor an app was given is ever reused.

    One IMMEDIATE transaction: a crash leaves the old table or the new one, never half; the
    check is repeated inside it, so processes opening the file together migrate it once."""
    if _has_app_column(db):
        return
    with _write_transaction(db):
        if not _has_app_column(db):
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            db.execute("DROP TABLE IF EXISTS events_migrating")
            db.execute(_TABLE.replace("events (", "events_migrating (", 1))
            db.execute(
                f"INSERT INTO events_migrating ({_OLD_COLUMNS}) "  # noqa: S608 - fixed columns
                f"SELECT {_OLD_COLUMNS} FROM events ORDER BY cursor"
            )
            db.execute("DROP TABLE events")  # and its indexes
            db.execute("ALTER TABLE events_migrating RENAME TO events")
            if row is not None:
                db.execute(
                    "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'",
                    (row[0],),
                )
                db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT 'events', ? "
                    "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')",
                    (row[0],),
                )


def _row(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(
        cursor=str(row[0]),
        app=row[1],
        provider=row[2],
        event_id=row[3],
        ordering_key=row[4],
        received_at=row[5],
        body=bytes(row[6]),
        state=row[7],
        attempts=row[8],
        next_attempt_at=row[9],
        last_error=row[10],
    )


# Seconds a connection waits for another process's lock before giving up.
BUSY_TIMEOUT = 10.0


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def use_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to write-ahead logging, waiting up to `timeout` seconds for the
    other processes opening it. Switching an older (rollback-journal) file needs an
    exclusive lock; when several connections ask for it at once, SQLite refuses all but
    one at once, without its busy wait (that would deadlock them), so the others try
    again here: workers starting together must all open the store."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # on the store's own thread, never the event loop's
        pause = min(pause * 2, 0.25)


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
            connection = sqlite3.connect(self._path, isolation_level=None, timeout=BUSY_TIMEOUT)
            use_wal(connection, BUSY_TIMEOUT)
            connection.execute("PRAGMA synchronous=FULL")
            with _write_transaction(connection):
                connection.execute(_TABLE)  # the current shape, for a new file
            _migrate(connection)  # an older file's table to the current shape
            with _write_transaction(connection):
                for statement in _INDEXES:
                    connection.execute(statement)
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
                "(app, provider, event_id, ordering_key, received_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    event.app,
                    event.provider,
                    event.event_id,
                    event.ordering_key,
                    event.received_at,
                    event.body,
                ),
            )
            return cursor.rowcount == 1

        with event_store_timer("add"):
            return await self._run(insert)

    async def list_events(
        self,
        *,
        after: str | None,
        provider: str | None,
        state: DeliveryState | None,
        limit: int,
        app: str | None = None,
    ) -> list[StoredEvent]:
        clauses, params = ["cursor > ?"], [int(after) if after else 0]
        if app is not None:
            clauses.append("app = ?")
            params.append(app)  # type: ignore[arg-type]
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
        with event_store_timer("list"):
            return await self._run(lambda db: [_row(r) for r in db.execute(query, params)])

    async def pending(self, limit: int, *, app: str = DEFAULT_APP) -> list[StoredEvent]:
        query = (
            f"SELECT {_COLUMNS} FROM events WHERE app = ? AND state = 'pending' "  # noqa: S608
            "ORDER BY cursor LIMIT ?"
        )
        with event_store_timer("pending"):
            return await self._run(lambda db: [_row(r) for r in db.execute(query, (app, limit))])

    async def backlog(self, app: str) -> tuple[int, float | None]:
        query = "SELECT count(*), min(received_at) FROM events WHERE app = ? AND state = 'pending'"

        def count(db: sqlite3.Connection) -> tuple[int, float | None]:
            found = db.execute(query, (app,)).fetchone()
            return int(found[0]), found[1]

        with event_store_timer("backlog"):
            return await self._run(count)

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

    async def acquire_forwarding_lease(
        self, owner: str, seconds: float, *, name: str = DEFAULT_LEASE
    ) -> bool:
        def take(db: sqlite3.Connection) -> bool:
            now = time.time()
            db.execute(
                "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE leases.owner = excluded.owner OR leases.expires_at < ?",
                (name, owner, now + seconds, now),
            )
            row = db.execute("SELECT owner FROM leases WHERE name = ?", (name,)).fetchone()
            return row is not None and row[0] == owner

        return await self._run(take)
