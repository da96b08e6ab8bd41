"""The SQLite store waits out other processes' locks while it opens the file."""

from __future__ import annotations

import sqlite3

import pytest

from service.store.sqlite import use_wal


def _refusal(code: int) -> sqlite3.OperationalError:
    refused = sqlite3.OperationalError("database is locked")
    refused.sqlite_errorcode = code  # as sqlite3 sets it on the errors it raises
    return refused


class _Connection:
    """Refuses the journal-mode switch with `refusals`, in turn, then accepts it."""

    def __init__(self, *refusals: sqlite3.OperationalError) -> None:
        self.refusals = list(refusals)
        self.asked = 0

    def execute(self, statement: str) -> None:
        assert statement == "PRAGMA journal_mode=WAL"
        self.asked += 1
        if self.refusals:
            raise self.refusals.pop(0)


def test_a_switch_to_wal_refused_as_busy_or_locked_is_tried_again() -> None:
    connection = _Connection(_refusal(sqlite3.SQLITE_BUSY), _refusal(sqlite3.SQLITE_LOCKED))
    use_wal(connection, timeout=5.0)  # type: ignore[arg-type]
    assert connection.asked == 3


def test_an_extended_busy_code_counts_as_busy() -> None:
    busy_recovery = sqlite3.SQLITE_BUSY | (1 << 8)
    connection = _Connection(_refusal(busy_recovery))
    use_wal(connection, timeout=5.0)  # type: ignore[arg-type]
    assert connection.asked == 2


def test_any_other_error_is_not_tried_again() -> None:
    connection = _Connection(_refusal(sqlite3.SQLITE_IOERR))
    with pytest.raises(sqlite3.OperationalError):
        use_wal(connection, timeout=5.0)  # type: ignore[arg-type]
    assert connection.asked == 1


def test_a_lock_held_past_the_timeout_is_an_error() -> None:
    connection = _Connection(*[_refusal(sqlite3.SQLITE_BUSY) for _ in range(1000)])
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(connection, timeout=0.05)  # type: ignore[arg-type]
    assert 1 < connection.asked < 10
