"""members' word that a knowledge entry worked for them (`kb 12 ได้ผล` / `kb 12 worked`)

Revision ID: 0009_kb_feedback
Revises: 0008_rank_index

One row per member and entry (the unique constraint also serves the count per entry).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_kb_feedback"
down_revision = "0008_rank_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["kb_entries.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "member_id", name="uq_kb_feedback_entry_member"),
    )


def downgrade() -> None:
    op.drop_table("kb_feedback")
