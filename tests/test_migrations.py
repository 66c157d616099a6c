"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Select, event, inspect

from mailbot import deliver
from mailbot.clock import FrozenClock
from mailbot.jobs import weekly_summary
from mailbot.jobs.periods import previous_seven_days
from mailbot.store.all_models import include_object, metadata
from mailbot.store.db import make_engine, upgrade
from mailbot.store.queries import community_row
from tests.test_jobs_world import make_app, make_settings


def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # a second start is a no-op
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": include_object}
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == [], diff
    tables = set(inspect(engine).get_table_names())
    assert {"messages", "members", "outbox", "outbox_recipients", "imap_watermarks"} <= tables


def _plan(conn: Connection, stmt: Select[Any], generic: bool) -> str:
    """The database's plan for a delivery statement; on PostgreSQL, with `generic`, the plan it
    keeps for a prepared statement (bound values unknown), as psycopg prepares repeated queries."""
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.construct_params({"now": datetime.now(UTC), "limit": 800})
    if conn.dialect.name == "sqlite":
        values = tuple(params[name] for name in compiled.positiontup or ())
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values))
    sql, names = str(compiled), list(params)
    for i, name in enumerate(names, 1):
        sql = sql.replace(f"%({name})s", f"${i}")
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # an empty table: is the index usable at all
    conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {'force_generic_plan' if generic else 'auto'}")
    conn.exec_driver_sql(f"PREPARE claim_plan AS {sql}")
    args = ", ".join(f"'{params[n].isoformat()}'" if isinstance(params[n], datetime) else str(params[n]) for n in names)
    plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE claim_plan({args})"))
    conn.exec_driver_sql("DEALLOCATE claim_plan")
    return plan


def test_delivery_finds_due_rows_through_the_index_of_pending_rows(db_url: str) -> None:
    """The queue's index holds only pending rows, so it stays small however long the history of
    sent mail grows; every statement that looks for due rows must be able to use it (on
    PostgreSQL also in the generic plan of a prepared statement, where bound values are unknown)."""
    engine = make_engine(db_url)
    upgrade(engine)
    postgres = engine.dialect.name == "postgresql"
    statements = [deliver._PEEK_VERP, deliver._CLAIM] + ([deliver._CLAIM_LOCKED] if postgres else [])
    for generic in [False, True] if postgres else [False]:
        with engine.begin() as conn:
            for stmt in statements:
                assert "ix_outbox_rcpt_pending" in _plan(conn, stmt, generic), (stmt, generic)
    engine.dispose()


def test_weekly_summary_counts_messages_from_the_index_alone(tmp_path: Path, sqlite_url: str) -> None:
    """The weekly summary counts a year of messages week by week; on SQLite every statement of it
    that reads the messages table must read them from ix_messages_participation alone, without one
    table-row read per message (a sixth of the time at 1,000,000 messages). PostgreSQL plans by its
    statistics, so an empty table's plan says nothing there; the bench measures it at 1,000,000."""
    app = make_app(make_settings(tmp_path, sqlite_url), FrozenClock(datetime(2026, 11, 16, 2, 0, tzinfo=UTC)))
    community = app.settings.communities[0]
    period = previous_seven_days(datetime(2026, 11, 16, 2, 0, tzinfo=UTC), community.tz)
    seen: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if " messages" in statement:
            seen.append((statement, parameters))

    event.listen(app.engine, "before_cursor_execute", remember)
    with app.sessions() as session:
        weekly_summary.figures(session, community, community_row(session, "km-it"), period)
    event.remove(app.engine, "before_cursor_execute", remember)
    assert len(seen) >= 4  # top posters, posters by section, messages, the trend
    with app.engine.begin() as conn:
        for statement, parameters in seen:
            lines = [str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            reads = [line for line in lines if re.match(r"(SCAN|SEARCH) messages\b", line)]
            assert reads and all("COVERING INDEX ix_messages_participation" in line for line in reads), (statement, lines)
    app.engine.dispose()
