"""SQLite's one writer, queued inside the process: a thread waiting to write sleeps on a lock and
wakes the moment the writer before it commits, instead of polling SQLite's busy handler.

SQLite lets one transaction write at a time; mailbot's threads (ingest, delivery, scheduler) all
begin with BEGIN IMMEDIATE. Left to SQLite, a waiting thread retries after sleeps of 1, 2, 5, 10,
15, 20, 25 ms...: a lock held for 6 ms costs the waiter 8, one held for 9 ms costs it 18. Another
process on the same file (a second bot, the CLI) still queues on SQLite's busy timeout as before.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from mailbot.store.sqlite_driver import dbapi

# One lock per database file, shared by every engine of this process that opens it.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def shared_file(database: str | None) -> str | None:
    """The real path of a database file this process's connections share, else None: a private
    (in-memory) or URI-named database has nothing shared to queue on or to look after."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.realpath(database)


def _lock_for(database: str) -> threading.Lock | None:
    key = shared_file(database)
    if key is None:
        return None  # SQLite still guards its own locking
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class QueuedWriterConnection(dbapi.Connection):
    """A sqlite3 connection whose BEGIN IMMEDIATE first takes the file's in-process lock, and whose
    COMMIT, ROLLBACK or close gives it back. Pass as `factory=` to `dbapi.connect` (sqlite_driver)."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.path = os.fsdecode(database)
        self._writer = _lock_for(self.path)
        self._holding = False
        # How long to queue in process before leaving it to SQLite (its busy timeout decides then).
        self._wait = float(kwargs.get("timeout", 5.0))

    def wait_turn(self) -> None:
        """Queue behind this process's other writers of the same file (call before BEGIN IMMEDIATE)."""
        if self._writer is not None and not self._holding:
            # A timeout, not a deadlock: if the holder never lets go (a thread that opened a second
            # transaction in the same thread, say), SQLite's own busy timeout gives the error.
            self._holding = self._writer.acquire(timeout=self._wait)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()

    def end_turn(self) -> None:
        """Give the turn back, if held: on COMMIT, ROLLBACK or close, or when BEGIN itself failed."""
        if self._holding:
            self._holding = False
            assert self._writer is not None
            self._writer.release()


def begin_immediate(driver: dbapi.Connection) -> None:
    """BEGIN IMMEDIATE on a raw sqlite3 connection, queued in process when it is one of ours.
    Raises the driver's errors: callers wrap it in store/direct.py's as_sqlalchemy_errors."""
    queued = driver if isinstance(driver, QueuedWriterConnection) else None
    if queued is not None:
        queued.wait_turn()
    try:
        driver.execute("BEGIN IMMEDIATE")
    except BaseException:
        if queued is not None:
            queued.end_turn()  # no transaction, so no COMMIT or ROLLBACK will give it back
        raise
