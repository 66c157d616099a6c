"""Per-sender rate limits, counted from the stored messages themselves (no separate counters to drift)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.store.models import Message


def recent_count(
    session: Session,
    *,
    community_id: int,
    sender: str,
    roles: tuple[str, ...],
    since: datetime,
    exclude_id: int | None = None,
) -> int:
    query = select(func.count(Message.id)).where(
        Message.community_id == community_id,
        Message.from_email == sender,
        Message.address_role.in_(roles),
        Message.received_at >= since,
    )
    if exclude_id is not None:
        query = query.where(Message.id != exclude_id)
    return int(session.scalar(query) or 0)


def over_limit(
    session: Session,
    *,
    community_id: int,
    sender: str,
    roles: tuple[str, ...],
    now: datetime,
    per_minute: int,
    per_hour: int,
    exclude_id: int | None = None,
) -> str | None:
    """'per-minute' / 'per-hour' when this message would exceed a limit (0 disables), else None."""
    if not sender:
        return None
    for name, limit, window in (
        ("per-minute", per_minute, timedelta(minutes=1)),
        ("per-hour", per_hour, timedelta(hours=1)),
    ):
        if limit <= 0:
            continue
        seen = recent_count(
            session,
            community_id=community_id,
            sender=sender,
            roles=roles,
            since=now - window,
            exclude_id=exclude_id,
        )
        if seen >= limit:
            return name
    return None
