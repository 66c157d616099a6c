"""Shared fixtures: real servers on 127.0.0.1 (Dovecot, PostgreSQL, an SMTP sink) and per-test state.

Servers are session-scoped (started once); mail users, databases and sinks are per test, so tests
never see each other's mail or rows.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# `tests.servers...` must be importable however pytest was invoked (the repo root is not always
# on sys.path; `pythonpath = ["."]` in pyproject would make this line redundant).
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mailbot.config import ImapSettings  # noqa: E402
from tests.servers.dovecot import Dovecot  # noqa: E402
from tests.servers.postgres import drop_database, fresh_database, postgres_server_url  # noqa: E402

IMAP_USER = "km-it"
IMAP_PASSWORD = "secret"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot (IMAP, no TLS) with user km-it/secret; `.host`, `.port`, `.add_user()`..."""
    server = Dovecot()
    server.add_user(IMAP_USER, IMAP_PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> tuple[str, str]:
    """A brand-new mail user (name, password) on the shared Dovecot: an empty mailbox per test."""
    name = f"t{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex[:12]
    dovecot.add_user(name, password)
    return name, password


@pytest.fixture
def imap_settings(dovecot: Dovecot, imap_user: tuple[str, str]) -> ImapSettings:
    """ImapSettings for this test's own user; IDLE on, short timeouts so failures show quickly."""
    name, password = imap_user
    return ImapSettings(
        host=dovecot.host,
        port=dovecot.port,
        ssl=False,
        username=name,
        password=password,
        folder="INBOX",
        poll_seconds=1.0,
        idle_seconds=30.0,
        fetch_batch=50,
        timeout=10.0,
    )


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    """A started SmtpSink on 127.0.0.1 (random port) recording what our SMTP client delivers."""
    from tests.servers.smtp_sink import SmtpSink

    sink = SmtpSink(host="127.0.0.1", port=0)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """Maintenance URL of a PostgreSQL server (local trust auth, or a throwaway cluster)."""
    return postgres_server_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of an empty SQLite file private to this test."""
    return f"sqlite:///{tmp_path / 'mailbot.db'}"


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """SQLAlchemy URL of a freshly created, empty PostgreSQL database; dropped after the test."""
    url = fresh_database(pg_server_url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test twice: on an empty SQLite file and on an empty PostgreSQL database."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def community_engine(db_url: str) -> Iterator[Any]:
    """An engine on a migrated database (SQLite, then PostgreSQL) holding one community, km-it."""
    from datetime import UTC, datetime

    from mailbot.store.db import make_engine, make_session_factory, upgrade
    from mailbot.store.models import Community

    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session, session.begin():
        created = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
        session.add(Community(slug="km-it", name="KM-IT", address="km-it@example.org", created_at=created))
    yield engine
    engine.dispose()
