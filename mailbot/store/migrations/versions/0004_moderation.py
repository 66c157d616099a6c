"""moderation, confirmation tokens, bounce events (issue: commands)

Revision ID: 0004_moderation
Revises: 0003_jobs
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_moderation"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
