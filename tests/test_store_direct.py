"""The statements every post runs go straight to the SQLite driver (mailbot/store/direct.py): they
must write and read what SQLAlchemy's execution would, and fail with SQLAlchemy's errors, on both
databases, so the pipeline's retry on a lost race and its 451 on a locked database still apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from mailbot.store import direct
from mailbot.store.db import make_engine, upgrade
from mailbot.store.models import Community, Member

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MEMBERS = Member.__table__
ADD = direct.insert_values(MEMBERS, ("community_id", "email", "name", "section", "role", "delivery", "status",  # type: ignore[arg-type]
                                     "verp_token", "bounce_score", "disabled_reason", "intro", "expertise",
                                     "joined_at", "last_post_at"), "id")  # fmt: skip
SEEN = update(Member).where(Member.id == bindparam("_id")).values(last_post_at=bindparam("at"))


@pytest.fixture
def engine(community_engine: Engine) -> Engine:
    return community_engine


def _member(cid: int, email: str, token: str) -> dict[str, object]:
    return {
        "community_id": cid, "email": email, "name": "สมชาย", "section": "", "role": "member", "delivery": "each",
        "status": "active", "verp_token": token, "bounce_score": 0.5, "disabled_reason": "", "intro": "",
        "expertise": "", "joined_at": NOW, "last_post_at": None,
    }  # fmt: skip


def test_values_written_and_read_directly_are_those_sqlalchemy_gives(engine: Engine) -> None:
    bangkok = timezone(timedelta(hours=7))
    with engine.begin() as conn:
        cid = conn.scalar(select(Community.id))
        pk = direct.scalar(conn, ADD, _member(cid, "somchai@example.org", "t1"))
        # An aware time in another zone is stored as the same instant, as Core would store it.
        assert direct.run(conn, SEEN, {"_id": pk, "at": datetime(2026, 11, 21, 16, 0, 0, 1, tzinfo=bangkok)}) == 1
        assert direct.run(conn, SEEN, {"_id": pk + 1000, "at": NOW}) == 0  # no such row: nothing changed
        query = select(Member.id, Member.email, Member.bounce_score, Member.joined_at, Member.last_post_at)
        got = direct.fetch_one(conn, query.where(Member.email == bindparam("e")), {"e": "somchai@example.org"})
        assert direct.fetch_one(conn, query.where(Member.email == bindparam("e")), {"e": "x@example.org"}) is None
    with engine.connect() as conn:
        want = conn.execute(query).one()
        # Compared as text too: equal instants written in two formats would sort wrongly in SQL.
        same_instant = conn.scalar(select(Member.id).where(Member.last_post_at == NOW + timedelta(microseconds=1)))
    assert got == tuple(want) == (pk, "somchai@example.org", 0.5, NOW, NOW + timedelta(microseconds=1))
    assert same_instant == pk


def test_a_lost_race_raises_sqlalchemys_integrity_error(engine: Engine) -> None:
    with engine.begin() as conn:
        cid = conn.scalar(select(Community.id))
        direct.scalar(conn, ADD, _member(cid, "somchai@example.org", "same-token"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        direct.scalar(conn, ADD, _member(cid, "malee@example.org", "same-token"))  # verp_token is unique
    with engine.connect() as conn:
        assert conn.scalar(select(Member.email).where(Member.verp_token == "same-token")) == "somchai@example.org"


def test_a_locked_database_raises_sqlalchemys_operational_error(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        raw.driver_connection.execute("BEGIN EXCLUSIVE")  # type: ignore[union-attr]
        with engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
            with pytest.raises(OperationalError, match="locked"):
                direct.run(conn, update(Community).values(name=bindparam("name")), {"name": "KM"})
    finally:
        raw.driver_connection.rollback()  # type: ignore[union-attr]
        raw.close()
        engine.dispose()


def test_statements_only_sqlalchemy_can_run_rightly_are_refused(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        # Member.name has a Python-side default: a bare insert leaves SQLAlchemy's execution to fill it in.
        with pytest.raises(ValueError, match="Python-side defaults"):
            direct.sqlite_form(insert(Member).values(email=bindparam("email")), engine.dialect)
        with pytest.raises(ValueError, match="expanding"):
            direct.sqlite_form(select(Member.id).where(Member.email.in_(bindparam("e", expanding=True))), engine.dialect)
    finally:
        engine.dispose()


def test_an_id_list_bound_as_one_parameter_selects_exactly_those_rows(engine: Engine) -> None:
    """store/id_lists.py: delivery's round updates and search's hits pick rows by a list of ids bound
    as one value (JSON on SQLite, an array on PostgreSQL); the same statement for 0, 1 or 1,500 ids."""
    from mailbot.store.id_lists import id_in, ids_param

    dialect = engine.dialect.name
    with engine.begin() as conn:
        cid = conn.scalar(select(Community.id))
        ids = [direct.scalar(conn, ADD, _member(cid, f"m{i}@example.org", f"tok{i}")) for i in range(1500)]
    pick = select(Member.email).where(id_in(Member.id, "ids", dialect)).order_by(Member.id)
    with engine.connect() as conn:
        for wanted in ([], [ids[7]], ids[::2], [ids[0], ids[0], max(ids) + 1]):
            got = [row[0] for row in direct.fetch(conn, pick, {"ids": ids_param(wanted, dialect)})]
            assert got == [f"m{ids.index(i)}@example.org" for i in sorted(set(wanted)) if i in ids]
