"""Engine and session setup (SQLite with WAL, or PostgreSQL via psycopg 3) and Alembic upgrades."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailbot.store.direct import as_sqlalchemy_errors
from mailbot.store.sqlite_driver import dbapi
from mailbot.store.sqlite_writer import QueuedWriterConnection, begin_immediate
from mailbot.store.wal_checkpoint import autocheckpoint_pages

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see _sqlite_begin):
    # pysqlite's own implicit BEGIN breaks SAVEPOINTs opened as a transaction's first statement.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets the delivery loop read while the pipeline writes; a busy timeout absorbs
    # short lock waits from a second writer instead of failing with "database is locked".
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    pages = autocheckpoint_pages(getattr(dbapi_conn, "path", ""))
    if pages is not None:  # a thread copies the log back (wal_checkpoint): commits only past this
        cur.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so concurrent writers (IMAP thread, delivery loop,
    # scheduler) queue for it (see sqlite_writer) instead of failing when a read lock cannot be upgraded.
    # Straight on the driver (SQLAlchemy's execution cost more than the BEGIN), a refusal raising
    # SQLAlchemy's OperationalError, as every statement's would.
    with as_sqlalchemy_errors("BEGIN IMMEDIATE"):
        begin_immediate(conn.connection.driver_connection)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # module=: the one sqlite3 module of the process (sqlite_driver), not whichever SQLAlchemy imports.
        engine = create_engine(
            url, echo=echo, module=dbapi, connect_args={"timeout": 30, "factory": QueuedWriterConnection}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe for concurrent starts on PG)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two bot processes starting at once on one database must not race the migrations.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session
