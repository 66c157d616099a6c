"""Imports every model module so that `metadata` knows all tables (for Alembic and tests)."""

from mailbot.jobs import models as _jobs  # noqa: F401
from mailbot.knowledge import models as _knowledge  # noqa: F401
from mailbot.moderation import models as _moderation  # noqa: F401
from mailbot.store import models  # noqa: F401
from mailbot.store.models import Base

metadata = Base.metadata
