"""SQLite writers of one process queue for the write lock in process: every way a transaction ends
gives the turn back, so no thread is ever left waiting on a writer that has finished."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from mailbot.store.db import make_engine
from mailbot.store.sqlite_driver import dbapi as sqlite3
from mailbot.store.sqlite_writer import QueuedWriterConnection, _lock_for, begin_immediate


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    eng = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    yield eng
    eng.dispose()


def _turn_is_free(tmp_path: Path) -> bool:
    lock = _lock_for(str(tmp_path / "bot.db"))
    assert lock is not None
    return not lock.locked()


def test_the_bot_connects_with_queued_writers(engine: Engine) -> None:
    with engine.connect() as conn:
        assert isinstance(conn.connection.driver_connection, QueuedWriterConnection)


def test_commit_rollback_an_error_and_a_forgotten_transaction_all_give_the_turn_back(
    engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = n + 1"))
        assert not _turn_is_free(tmp_path)  # held while the transaction is open
    assert _turn_is_free(tmp_path)

    with engine.connect() as conn:
        conn.execute(text("UPDATE counter SET n = n + 1"))
        conn.rollback()
    assert _turn_is_free(tmp_path)

    with pytest.raises(ZeroDivisionError), engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = n + 1"))
        _ = 1 / 0
    assert _turn_is_free(tmp_path)

    conn = engine.connect()
    conn.execute(text("UPDATE counter SET n = n + 1"))
    conn.close()  # back to the pool mid-transaction: the pool rolls it back
    assert _turn_is_free(tmp_path)

    with engine.connect() as conn:
        assert conn.scalar(text("SELECT n FROM counter")) == 1  # only the committed update


def test_a_begin_refused_by_another_process_gives_the_turn_back(engine: Engine, tmp_path: Path) -> None:
    @event.listens_for(engine, "connect")
    def short_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=100")  # fail fast instead of waiting 30 s

    engine.dispose()
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)  # as a second bot would
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"), engine.begin() as conn:
            conn.execute(text("UPDATE counter SET n = n + 1"))
        assert _turn_is_free(tmp_path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with engine.begin() as conn:  # and the bot writes again once the other process is done
        conn.execute(text("UPDATE counter SET n = n + 1"))


def test_writers_in_many_threads_all_get_their_turn(engine: Engine) -> None:
    errors: list[BaseException] = []

    def add(times: int) -> None:
        try:
            for _ in range(times):
                with engine.begin() as conn:
                    n = conn.scalar(text("SELECT n FROM counter"))  # read then write: must not interleave
                    conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(50,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT n FROM counter")) == 300


def test_a_refused_begin_on_the_driver_gives_the_turn_back_with_no_transaction_to_end(tmp_path: Path) -> None:
    # Delivery's rounds begin on the driver itself; when BEGIN is refused there is nothing to roll
    # back, so the turn must be handed back by the failed BEGIN alone.
    path = tmp_path / "bot.db"
    sqlite3.connect(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ours = sqlite3.connect(path, timeout=0.1, isolation_level=None, factory=QueuedWriterConnection)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            begin_immediate(ours)
        assert not ours.in_transaction
        assert _turn_is_free(tmp_path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    begin_immediate(ours)  # and it writes once the other process is done
    ours.commit()
    assert _turn_is_free(tmp_path)
    ours.close()
