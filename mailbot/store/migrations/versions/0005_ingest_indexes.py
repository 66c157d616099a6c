"""indexes for per-sender look-ups on every inbound post (rate limits, first posts)

Revision ID: 0005_ingest_indexes
Revises: 0004_moderation

Without them every post counted its sender's messages by scanning the whole archive, so ingest
slowed down as the archive grew (measured in BENCHMARKS.md).
"""

from alembic import op

revision = "0005_ingest_indexes"
down_revision = "0004_moderation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_sender_recent",
        "messages",
        ["community_id", "from_email", "address_role", "received_at"],  # covers the rate counts
    )
    op.create_index("ix_messages_member_status", "messages", ["member_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_messages_member_status", table_name="messages")
    op.drop_index("ix_messages_sender_recent", table_name="messages")
