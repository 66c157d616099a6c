"""Tables for scheduled jobs and the tip library (migration 0003_jobs)."""

from mailbot.store.models import Base  # noqa: F401
