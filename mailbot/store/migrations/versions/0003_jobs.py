"""scheduled jobs: job runs, tips (issue: scheduling)

Revision ID: 0003_jobs
Revises: 0002_knowledge
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_jobs"
down_revision = "0002_knowledge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
