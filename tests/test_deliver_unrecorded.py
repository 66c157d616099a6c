"""Outcomes that could not be recorded (database locked or full) are kept and recorded first:
the delivery loop never sends a message again just because the database said no once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from mailbot.mail.smtp import Envelope, SendResult, SmtpSender
from mailbot.store.db import make_engine
from mailbot.store.models import OutboxRecipient
from mailbot.store.sqlite_driver import dbapi as sqlite3
from tests.helpers import add_members, make_app, member_mail, settings_for


class LockAfterSend:
    """Our Sender interface around the real SMTP sender: after the first send, a second SQLite
    connection takes the write lock, as another writer (or a full disk) would make writes fail."""

    def __init__(self, inner: SmtpSender, db_path: str) -> None:
        self.inner, self.db_path = inner, db_path
        self.blocker: sqlite3.Connection | None = None

    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        results = self.inner.send_many(envelopes)
        if self.blocker is None:
            self.blocker = sqlite3.connect(self.db_path, isolation_level=None)
            self.blocker.execute("BEGIN IMMEDIATE")
        return results

    def release(self) -> None:
        assert self.blocker is not None
        self.blocker.execute("ROLLBACK")

    def close(self) -> None:
        self.inner.close()


def test_unrecorded_outcomes_are_recorded_not_resent(tmp_path: Path, smtp_sink: Any) -> None:
    db = tmp_path / "bot.db"
    settings = settings_for(f"sqlite:///{db}", tmp_path, smtp_port=smtp_sink.port)
    sender = LockAfterSend(SmtpSender(settings.smtp), str(db))
    app = make_app(settings, sender=sender)

    @event.listens_for(app.engine, "connect")
    def short_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=200")  # fail fast instead of waiting 30 s

    app.engine.dispose()
    add_members(app, ("a@example.org", "A"), ("b@example.org", "B"), ("c@example.org", "C"))
    app.ingest(member_mail("a@example.org", "once only", "x"), source="test", source_ref="u1")
    with pytest.raises(OperationalError, match="locked"):
        app.deliverer.deliver_due()
    assert sorted(smtp_sink.recipients()) == ["b@example.org", "c@example.org"]
    sender.release()
    app.deliverer.drain()
    assert sorted(smtp_sink.recipients()) == ["b@example.org", "c@example.org"]  # not sent again
    with app.sessions() as s:
        assert set(s.scalars(select(OutboxRecipient.status))) == {"sent"}


class ServerGoneAfterSend:
    """Our Sender interface around the real SMTP sender: right after the first send, every other
    connection to the bot's PostgreSQL database is terminated by the server, as in a restart."""

    def __init__(self, inner: SmtpSender, url: str) -> None:
        self.inner, self.url, self.done = inner, url, False

    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        results = self.inner.send_many(envelopes)
        if not self.done:
            self.done = True
            admin = make_engine(self.url)
            with admin.begin() as conn:
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ))  # fmt: skip
            admin.dispose()
        return results

    def close(self) -> None:
        self.inner.close()


def test_postgres_gone_after_send_outcome_is_recorded_not_resent(
    tmp_path: Path, smtp_sink: Any, pg_url: str
) -> None:
    settings = settings_for(pg_url, tmp_path, smtp_port=smtp_sink.port)
    app = make_app(settings, sender=ServerGoneAfterSend(SmtpSender(settings.smtp), pg_url))
    add_members(app, ("a@example.org", "A"), ("b@example.org", "B"), ("c@example.org", "C"))
    app.ingest(member_mail("a@example.org", "once only", "x"), source="test", source_ref="u1")
    with pytest.raises(OperationalError):
        app.deliverer.deliver_due()  # sent, then the outcome could not be committed
    assert sorted(smtp_sink.recipients()) == ["b@example.org", "c@example.org"]
    app.deliverer.drain()
    assert sorted(smtp_sink.recipients()) == ["b@example.org", "c@example.org"]  # not sent again
    with app.sessions() as s:
        assert set(s.scalars(select(OutboxRecipient.status))) == {"sent"}


class FailRecordingAfterSend:
    """Our Sender interface around the real SMTP sender: after the first send, the database refuses
    to record a status (a trigger calling a function that fails, as a disk filling up mid-statement
    would), once the write transaction has already begun."""

    def __init__(self, inner: SmtpSender) -> None:
        self.inner, self.refuse = inner, False

    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        results = self.inner.send_many(envelopes)
        self.refuse = True
        return results

    def close(self) -> None:
        self.inner.close()


def test_outcome_refused_inside_the_transaction_is_recorded_not_resent(tmp_path: Path, smtp_sink: Any) -> None:
    db = tmp_path / "bot.db"
    settings = settings_for(f"sqlite:///{db}", tmp_path, smtp_port=smtp_sink.port)
    sender = FailRecordingAfterSend(SmtpSender(settings.smtp))
    app = make_app(settings, sender=sender)

    def refuse() -> int:
        if sender.refuse:
            raise sqlite3.OperationalError("database or disk is full")
        return 0

    @event.listens_for(app.engine, "connect")
    def with_refusal(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("refuse", 0, refuse)

    app.engine.dispose()
    with app.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_status BEFORE UPDATE OF status ON outbox_recipients BEGIN SELECT refuse(); END"
        )
    add_members(app, ("a@example.org", "A"), ("b@example.org", "B"), ("c@example.org", "C"))
    app.ingest(member_mail("a@example.org", "once only", "x"), source="test", source_ref="u1")
    with pytest.raises(OperationalError, match="user-defined function raised exception"):
        app.deliverer.deliver_due()
    assert sorted(smtp_sink.recipients()) == ["b@example.org", "c@example.org"]
    sender.refuse = False
    app.deliverer.drain()
    assert sorted(smtp_sink.recipients()) == ["b@example.org", "c@example.org"]  # not sent again
    with app.sessions() as s:
        assert set(s.scalars(select(OutboxRecipient.status))) == {"sent"}
