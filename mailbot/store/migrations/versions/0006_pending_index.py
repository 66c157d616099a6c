"""the delivery queue's index holds only the rows still to send

Revision ID: 0006_pending_index
Revises: 0005_ingest_indexes

The index on (status, next_attempt_at) held every recipient row ever queued, and marking a row
sent moved its entry; a partial index on the pending rows alone stays the size of the queue and
makes each sent row one index delete (measured in BENCHMARKS.md, eighth pass).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_pending_index"
down_revision = "0005_ingest_indexes"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_rcpt_pending",
        "outbox_recipients",
        ["next_attempt_at", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.drop_index("ix_outbox_rcpt_due", table_name="outbox_recipients")


def downgrade() -> None:
    op.create_index("ix_outbox_rcpt_due", "outbox_recipients", ["status", "next_attempt_at"])
    op.drop_index("ix_outbox_rcpt_pending", table_name="outbox_recipients")
