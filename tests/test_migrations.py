"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mailbot.store.all_models import include_object, metadata
from mailbot.store.db import make_engine, upgrade


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
