"""Tables for threads and knowledge entries (migration 0002_knowledge)."""

from mailbot.store.models import Base  # noqa: F401
