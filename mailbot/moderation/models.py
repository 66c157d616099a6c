"""Tables for moderation, confirmation tokens and bounce events (migration 0004_moderation)."""

from mailbot.store.models import Base  # noqa: F401
