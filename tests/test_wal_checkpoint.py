"""The WAL checkpoint thread of `mailbot run` on a real SQLite file: commits leave the copying to it
while it runs, it copies the log back into the database, and everything is as before once it stops."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from mailbot.store.db import make_engine
from mailbot.store.wal_checkpoint import (
    FALLBACK_AUTOCHECKPOINT_PAGES,
    WalCheckpointer,
    start_checkpointer,
)


def _autocheckpoint(engine: Engine) -> int:
    engine.dispose()  # a fresh connection: the setting is made when a connection opens
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _write(engine: Engine, rows: int, size: int = 2000) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)")
    for _ in range(rows):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (b) VALUES (randomblob(:n))"), {"n": size})


def test_commits_leave_the_copying_to_the_thread_only_while_it_runs(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    assert _autocheckpoint(engine) == 1000  # SQLite's own
    stop = threading.Event()
    thread = start_checkpointer(engine, stop)
    assert thread is not None and thread.is_alive()
    try:
        assert _autocheckpoint(engine) == FALLBACK_AUTOCHECKPOINT_PAGES
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert _autocheckpoint(engine) == 1000
    engine.dispose()


def test_the_thread_copies_the_log_back_into_the_database_while_it_grows(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    stop = threading.Event()
    thread = WalCheckpointer(str(db), busy_interval=0.01, idle_interval=0.05).start(engine, stop)
    try:
        # About 1,000 pages: under the commits' own threshold now, so only the thread copies them.
        _write(engine, 1000)
        deadline = time.monotonic() + 10
        while db.stat().st_size < 1000 * 2000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert db.stat().st_size >= 1000 * 2000, "the log was not copied into the database"
    finally:
        stop.set()
        thread.join(5)
        engine.dispose()
    # The rows are all there, read through a plain connection after the thread stopped.
    with make_engine(f"sqlite:///{db}").connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1000


def test_no_thread_for_postgresql_or_a_private_database() -> None:
    stop = threading.Event()
    assert start_checkpointer(make_engine("postgresql://127.0.0.1:1/none"), stop) is None
    assert start_checkpointer(make_engine("sqlite://"), stop) is None
