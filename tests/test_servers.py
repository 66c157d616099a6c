"""The test servers themselves: Dovecot greets, authenticates, keeps mail across restarts; PostgreSQL works."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient

from tests.servers.dovecot import Dovecot

MSG = b"From: a@example.org\r\nTo: km-it@localhost\r\nSubject: hello\r\nMessage-ID: <s1@example.org>\r\n\r\nhi\r\n"


def test_dovecot_greets_and_accepts_login(dovecot: Dovecot) -> None:
    with socket.create_connection((dovecot.host, dovecot.port), timeout=5) as s:
        assert s.recv(200).startswith(b"* OK")
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5) as c:
        c.login("km-it", "secret")
        assert b"IDLE" in c.capabilities()
    with (
        IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5) as c,
        pytest.raises(IMAPClient.Error),
    ):
        c.login("km-it", "wrong")


def test_dovecot_append_and_fetch_roundtrip(dovecot: Dovecot, imap_user: tuple[str, str]) -> None:
    user, _ = imap_user
    dovecot.append(user, "INBOX", MSG)
    dovecot.append(user, "lists/other", MSG)  # creates the folder
    inbox = dovecot.fetch_all(user, "INBOX")
    assert [raw for raw, _ in inbox.values()] == [MSG]
    assert dovecot.list_uids(user, "lists/other") == [1]


def test_dovecot_restart_keeps_mail_and_port(dovecot: Dovecot, imap_user: tuple[str, str]) -> None:
    user, _ = imap_user
    dovecot.append(user, "INBOX", MSG)
    port = dovecot.port
    dovecot.restart()
    assert dovecot.port == port
    assert [raw for raw, _ in dovecot.fetch_all(user, "INBOX").values()] == [MSG]


def test_dovecot_kick_drops_live_session(dovecot: Dovecot, imap_user: tuple[str, str]) -> None:
    user, _ = imap_user
    c = dovecot.client(user)
    c.select_folder("INBOX")
    dovecot.kill_connections(user)
    with pytest.raises((IMAPClient.AbortError, OSError)):
        for _ in range(50):  # the BYE may take a moment to arrive
            c.noop()
    c.shutdown()


def test_dovecot_set_uidvalidity(dovecot: Dovecot, imap_user: tuple[str, str]) -> None:
    user, _ = imap_user
    dovecot.append(user, "INBOX", MSG)
    with dovecot.client(user) as c:
        before = c.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
    new = dovecot.set_uidvalidity(user, "INBOX")
    with dovecot.client(user) as c:
        after = c.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
    assert after == new != before


def test_postgres_fixture_gives_usable_private_database(pg_url: str, pg_server_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x text)"))
            conn.execute(sa.text("INSERT INTO t VALUES ('สวัสดี')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM t")).scalar() == "สวัสดี"
            assert (
                conn.execute(sa.text("SELECT current_database()")).scalar()
                == pg_url.rsplit("/", 1)[1]
            )
    finally:
        engine.dispose()
    assert pg_url != pg_server_url


def test_db_url_is_empty_database(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
