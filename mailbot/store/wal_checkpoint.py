"""SQLite's write-ahead log copied back into the database by a thread of its own while `mailbot run` serves.

Left to SQLite, the commit that takes the log past 1,000 pages copies it back itself, fsyncs included:
about one post in 35 waited 3-9 ms for that before its SMTP reply (measured). Here a thread copies the
log every 50 ms while it grows (SQLite does it with the GIL released, beside the writers). Commits still
checkpoint past 10,000 pages: short by then, as the pages are already copied, and it lets the log start
over, which a checkpoint running beside busy writers seldom can (new pages arrive while it copies).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from mailbot.store.sqlite_driver import dbapi
from mailbot.store.sqlite_writer import shared_file

log = logging.getLogger(__name__)

# While posts come in, a copy every 50 ms keeps each one small; when nothing was written since the
# last look, the thread looks once a second.
BUSY_INTERVAL_S = 0.05
IDLE_INTERVAL_S = 1.0
# While the thread runs, commits still copy by themselves past this many pages (about 40 MB): the
# safety net if the thread stalls, so the log never grows without bound.
FALLBACK_AUTOCHECKPOINT_PAGES = 10_000

_BACKGROUND: set[str] = set()  # real paths of the files a checkpoint thread looks after
_GUARD = threading.Lock()


def autocheckpoint_pages(database: str) -> int | None:
    """The `PRAGMA wal_autocheckpoint` a new connection to `database` sets (None: SQLite's own)."""
    key = shared_file(database)
    if key is None:
        return None
    with _GUARD:
        background = key in _BACKGROUND
    return FALLBACK_AUTOCHECKPOINT_PAGES if background else None


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine, else None (PostgreSQL, or a private in-memory database)."""
    url = engine.url
    if not url.drivername.startswith("sqlite") or shared_file(url.database) is None:
        return None
    return url.database


class WalCheckpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own, often while the log grows.

    PASSIVE never waits for a lock and never blocks a reader or a writer: it copies what it can.
    """

    def __init__(
        self, database: str, *, busy_interval: float = BUSY_INTERVAL_S, idle_interval: float = IDLE_INTERVAL_S
    ) -> None:
        self.database = database
        self.busy_interval = busy_interval
        self.idle_interval = idle_interval
        key = shared_file(database)
        if key is None:
            raise ValueError(f"not a database file connections share: {database!r}")
        self._key = key

    def run(self, stop: threading.Event) -> None:
        conn = dbapi.connect(self.database, timeout=1.0, isolation_level=None, check_same_thread=False)
        failing = False
        seen: tuple[int, int] | None = None
        wait = self.busy_interval
        try:
            while not stop.wait(wait):
                try:
                    _busy, log_frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    failing = False
                    # The log changed since the last look: something is being written, look again soon.
                    wait = self.busy_interval if (log_frames, copied) != seen else self.idle_interval
                    seen = (log_frames, copied)
                except dbapi.Error as exc:
                    wait = self.idle_interval
                    # Commits still copy past the fallback size, so nothing is at risk: say so once
                    # for each run of failures, not every second.
                    if not failing:
                        log.warning("WAL checkpoint failed (commits will do it themselves): %s", exc)
                    failing = True
        finally:
            conn.close()
            with _GUARD:
                _BACKGROUND.discard(self._key)

    def start(self, engine: Engine, stop: threading.Event) -> threading.Thread:
        """Take the copying over from `engine`'s commits and start the thread."""
        with _GUARD:
            _BACKGROUND.add(self._key)
        # Connections opened before now keep SQLite's default: reopen them with the fallback size.
        engine.dispose()
        thread = threading.Thread(target=self.run, args=(stop,), name="wal-checkpoint", daemon=True)
        thread.start()
        return thread


def start_checkpointer(engine: Engine, stop: threading.Event) -> threading.Thread | None:
    """Start the checkpoint thread for a SQLite file database; None for any other database."""
    database = sqlite_file(engine)
    if database is None:
        return None
    return WalCheckpointer(database).start(engine, stop)
