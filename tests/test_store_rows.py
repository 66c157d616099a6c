"""Rows written with one Core statement (mailbot/store/rows.py) on SQLite and PostgreSQL: the row
holds every value, the ORM object needs no reload, and nothing is written a second time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Integer, String, bindparam, create_engine, event, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from mailbot.knowledge.models import ThreadRef
from mailbot.knowledge.threads import link_message
from mailbot.store.db import make_session_factory
from mailbot.store.direct import fetch_one
from mailbot.store.models import Community, Member, Message
from mailbot.store.rows import attach, columns_of, insert_row, update_row

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(community_engine: Engine) -> Engine:
    return community_engine


class Statements:
    """The SQL each test's session sends, to show what was (not) written or read again. On SQLite
    as the driver runs it (the hot statements bypass SQLAlchemy there: mailbot/store/direct.py)."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        if engine.dialect.name == "sqlite":
            engine.dispose()  # every connection from now on is a new one, traced from its start
            event.listen(engine, "connect", lambda driver, _record: driver.set_trace_callback(self._add))
        else:
            event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self._add(statement)

    def _add(self, statement: str) -> None:
        self.seen.append(statement.split(None, 1)[0].upper())

    def since(self, mark: int) -> list[str]:
        return self.seen[mark:]


def _message(community_id: int) -> Message:
    return Message(
        community_id=community_id, source="smtp", message_id="a@example.org", content_hash="h" * 64,
        raw=b"Subject: x\r\n\r\nbody\r\n", received_at=NOW, subject="ทดสอบ printer",
    )  # fmt: skip


def _community_id(session: Session) -> int:
    return int(session.scalars(select(Community.id)).one())


def test_inserted_row_has_every_value_and_the_object_needs_no_reload(engine: Engine) -> None:
    log = Statements(engine)
    with make_session_factory(engine)() as session, session.begin():
        record = insert_row(session, _message(_community_id(session)))
        assert record.id is not None
        mark = len(log.seen)
        # Values given, defaults filled in, the key: all readable without asking the database.
        assert (record.subject, record.status, record.kind, record.thread_id, record.size) == (
            "ทดสอบ printer", "pending", "", None, 0,
        )  # fmt: skip
        assert record in session and not session.dirty and not session.new
        assert log.since(mark) == []
    assert "UPDATE" not in log.since(mark) and "INSERT" not in log.since(mark)  # the commit wrote nothing more
    with engine.connect() as conn:
        row = conn.execute(select(Message.subject, Message.status, Message.reason, Message.raw)).one()
    assert tuple(row) == ("ทดสอบ printer", "pending", "", b"Subject: x\r\n\r\nbody\r\n")


def test_updated_columns_are_written_once_and_other_changes_still_flush(engine: Engine) -> None:
    log = Statements(engine)
    with make_session_factory(engine)() as session, session.begin():
        record = insert_row(session, _message(_community_id(session)))
        mark = len(log.seen)
        update_row(session, record, status="processed", reason="distributed to 9 members")
        assert log.since(mark) == ["UPDATE"]
        record.thread_id = 7  # an ordinary change, as a handler makes: the unit of work writes it
        mark = len(log.seen)
    assert log.since(mark).count("UPDATE") == 1
    with engine.connect() as conn:
        row = conn.execute(select(Message.status, Message.reason, Message.thread_id)).one()
    assert tuple(row) == ("processed", "distributed to 9 members", 7)
    assert (record.status, record.reason) == ("processed", "distributed to 9 members")


class _Base(DeclarativeBase):
    pass


class _Stamped(_Base):
    __tablename__ = "stamped"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(20), default=lambda: "computed")


def test_a_computed_default_must_be_given_rather_than_written_as_null(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    _Base.metadata.create_all(eng)
    with Session(eng) as session, session.begin():
        with pytest.raises(ValueError, match="_Stamped.label"):
            insert_row(session, _Stamped())
        assert insert_row(session, _Stamped(label="given")).id == 1


def test_rows_the_unit_of_work_must_handle_are_refused(engine: Engine) -> None:
    with make_session_factory(engine)() as session, session.begin():
        community = session.scalars(select(Community)).one()
        member = Member(community=community, email="a@example.org", verp_token="t1", joined_at=NOW)
        with pytest.raises(ValueError, match="Member.community is set"):
            insert_row(session, member)  # the relationship's foreign key is the unit of work's job
        session.add(member)  # pending: no row, no key yet
        with pytest.raises(ValueError, match="has no row yet"):
            update_row(session, member, last_post_at=NOW)
        session.flush()
        update_row(session, member, last_post_at=NOW)
        with pytest.raises(ValueError, match="already in a session"):
            insert_row(session, member)
    with engine.connect() as conn:
        assert conn.scalar(select(Member.last_post_at)) == NOW


def test_a_ghost_loaded_earlier_in_the_session_reads_as_seen_once_its_message_links(engine: Engine) -> None:
    with make_session_factory(engine)() as session, session.begin():
        cid = _community_id(session)
        # A reply names a question we have not seen: the question is a ghost row.
        link_message(session, cid, "reply@example.org", ["question@example.org"])
        ghost = session.scalars(select(ThreadRef).where(ThreadRef.message_id == "question@example.org")).one()
        assert ghost.seen is False
        # The question itself arrives in the same session (as when a facilitator approves held
        # posts one after another): the object loaded above must not keep its stale state.
        link_message(session, cid, "question@example.org", [])
        assert ghost.seen is True and ghost.parent_id is None


def _member_row(session: Session, email: str) -> tuple[Any, ...] | None:
    query = columns_of(Member).where(Member.email == bindparam("email"))
    return fetch_one(session.connection(), query, {"email": email})


def test_a_member_read_with_one_statement_is_the_object_the_orm_would_load(engine: Engine) -> None:
    """The pipeline reads the sender's member row with one Core statement and attaches it: every
    value (aware times, a fraction, an empty time) must read as the ORM's own load gives it, with
    no further SELECT, and a change to it must be written as for any loaded object."""
    with make_session_factory(engine)() as session, session.begin():
        cid = _community_id(session)
        session.add(Member(
            community_id=cid, email="somchai@example.org", name="สมชาย ใจดี", verp_token="t1", bounce_score=0.75,
            joined_at=NOW, last_post_at=datetime(2026, 11, 20, 23, 59, 59, 250_000, tzinfo=UTC),
        ))  # fmt: skip
    columns = [c.key for c in inspect(Member).column_attrs]
    with make_session_factory(engine)() as session:
        loaded = session.scalars(select(Member)).one()
        want = {key: getattr(loaded, key) for key in columns}
    log = Statements(engine)
    with make_session_factory(engine)() as session, session.begin():
        row = _member_row(session, "somchai@example.org")
        assert row is not None
        mark = len(log.seen)
        member = attach(session, Member, row)
        got = {key: getattr(member, key) for key in columns}
        assert log.since(mark) == []  # nothing was left to load
        assert got == want
        assert got["joined_at"].tzinfo is not None and got["last_post_at"].microsecond == 250_000
        assert member in session and not session.dirty and not session.new
        assert member.community.slug == "km-it"  # relationships load as for any loaded object
        assert _member_row(session, "nobody@example.org") is None
        member.bounce_score = 2.5
        mark = len(log.seen)
    assert log.since(mark).count("UPDATE") == 1
    with engine.connect() as conn:
        assert conn.scalar(select(Member.bounce_score)) == 2.5


def test_attaching_a_row_the_session_holds_gives_its_own_copy_with_its_changes(engine: Engine) -> None:
    with make_session_factory(engine)() as session, session.begin():
        session.add(Member(community_id=_community_id(session), email="malee@example.org", verp_token="t2", joined_at=NOW))
    with make_session_factory(engine)() as session, session.begin():
        held = session.scalars(select(Member)).one()
        held.name = "มาลี (changed, not yet written)"
        row = _member_row(session, "malee@example.org")
        assert row is not None
        assert attach(session, Member, row) is held
        assert held.name == "มาลี (changed, not yet written)"
