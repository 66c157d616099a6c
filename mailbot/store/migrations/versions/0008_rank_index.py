"""PostgreSQL: a RUM index that ranks knowledge search inside the index, when the rum extension is there

Revision ID: 0008_rank_index
Revises: 0007_participation_index

With only the GIN index, a search read every matching row from the table and ran ts_rank on it:
about 80 ms at 100,000 entries for the broad queries of the benchmark (BENCHMARKS.md, twentieth
pass). RUM keeps each word's positions in the index and returns matches already in rank order, so
a page reads only its own rows. RUM is an extension (Debian: postgresql-NN-rum); where it is not
installed, or may not be created, nothing changes and search keeps ranking with ts_rank. An
operator can add it later by hand: `CREATE EXTENSION rum; CREATE INDEX ix_kb_docs_tsv_rank ON kb_docs
USING rum (tsv rum_tsvector_ops);` (search looks for the index by name). SQLite: nothing to do.
"""

import logging

from alembic import op
from sqlalchemy import text

revision = "0008_rank_index"
down_revision = "0007_participation_index"
branch_labels = None
depends_on = None

log = logging.getLogger("mailbot.migrations")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if not bind.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'")).first():
        log.info("rum extension not installed: knowledge search ranks with ts_rank (see README)")
        return
    try:
        # A savepoint, so a role that may not create extensions leaves the migration intact.
        with bind.begin_nested():
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS rum"))
    except Exception as exc:  # noqa: BLE001 - permission denied etc.: search works without it
        log.warning("could not create the rum extension (%s): knowledge search ranks with ts_rank", exc)
        return
    op.execute("CREATE INDEX ix_kb_docs_tsv_rank ON kb_docs USING rum (tsv rum_tsvector_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_kb_docs_tsv_rank")
