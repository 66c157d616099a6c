"""moderation, confirmation tokens, bounce events (issue: commands)

Revision ID: 0004_moderation
Revises: 0003_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_moderation"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "confirm_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("communities.id"), nullable=False),
        sa.Column("token", sa.String(40), nullable=False, unique=True),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_confirm_tokens_address", "confirm_tokens", ["community_id", "address"])
    op.create_table(
        "held_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("communities.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("token", sa.String(40), nullable=False, unique=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(320), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_held_items_status", "held_items", ["community_id", "status"])
    op.create_table(
        "bounce_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("communities.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grade", sa.String(12), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("score_after", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.create_index("ix_bounce_events_member", "bounce_events", ["member_id", "at"])
    op.create_table(
        "bounce_probes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("communities.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_bounce_probes_member", "bounce_probes", ["member_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_bounce_probes_member", table_name="bounce_probes")
    op.drop_table("bounce_probes")
    op.drop_index("ix_bounce_events_member", table_name="bounce_events")
    op.drop_table("bounce_events")
    op.drop_index("ix_held_items_status", table_name="held_items")
    op.drop_table("held_items")
    op.drop_index("ix_confirm_tokens_address", table_name="confirm_tokens")
    op.drop_table("confirm_tokens")
