"""Alembic environment: runs on the connection handed over by mailbot.store.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from mailbot.store.all_models import include_object, metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite needs ALTER TABLE rewritten as table copies
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs `alembic` by hand
    with context.config.attributes["engine"].begin() as conn:
        run(conn)
else:
    run(connection)
