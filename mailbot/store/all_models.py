"""Imports every model module so that `metadata` knows all tables (for Alembic and tests)."""

from mailbot.jobs import models as _jobs  # noqa: F401
from mailbot.knowledge import models as _knowledge  # noqa: F401
from mailbot.moderation import models as _moderation  # noqa: F401
from mailbot.store import models  # noqa: F401
from mailbot.store.models import Base

metadata = Base.metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Full-text machinery (SQLite FTS5 tables, the PostgreSQL tsvector column and its GIN and RUM
    indexes, all named *tsv*) has no model."""
    if type_ == "table" and name and name.startswith("kb_fts"):
        return False
    return not (type_ in ("column", "index") and name and "tsv" in name)
