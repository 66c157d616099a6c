"""Queries shared by the app, the CLI and the status command (kept out of handlers' way)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.clock import Clock
from mailbot.config import CommunitySettings
from mailbot.store.models import (
    POST_KINDS,
    Community,
    ImapWatermark,
    Member,
    Message,
    OutboxRecipient,
)


def sync_communities(session: Session, communities: Sequence[CommunitySettings], clock: Clock) -> None:
    """Make sure every configured community has its row (names and addresses follow the config)."""
    existing = {c.slug: c for c in session.scalars(select(Community))}
    for c in communities:
        row = existing.get(c.slug)
        if row is None:
            session.add(
                Community(slug=c.slug, name=c.display_name, address=c.address, created_at=clock.now())
            )
        else:
            row.name, row.address = c.display_name, c.address
    session.flush()


def posts_between(community_id: int, start: datetime, end: datetime) -> ColumnElement[bool]:
    """A community's contributions (posts, questions, answers) handled and received in [start, end):
    what the summaries and digests count. Its columns are ix_messages_participation's."""
    return and_(
        Message.community_id == community_id,
        Message.received_at >= start,
        Message.received_at < end,
        Message.kind.in_(POST_KINDS),
        Message.status == "processed",
    )


def community_row(session: Session, slug: str) -> Community:
    row = session.scalar(select(Community).where(Community.slug == slug))
    if row is None:
        raise LookupError(f"community {slug!r} is not in the database (is it in the config?)")
    return row


class DbWatermarks:
    """The IMAP watermark store behind mailbot.mail.contracts.WatermarkStore, in the database."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def get(self, account: str, folder: str) -> tuple[int, int] | None:
        with self.sessions() as session:
            row = session.get(ImapWatermark, (account, folder))
            # A row made by touch() before the first fetch records a poll, not a watermark.
            return (row.uidvalidity, row.last_uid) if row and row.uidvalidity else None

    def set(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(ImapWatermark, (account, folder))
            if row is None:
                row = ImapWatermark(account=account, folder=folder)
                session.add(row)
            row.uidvalidity, row.last_uid = uidvalidity, last_uid
            row.last_poll_at = self.clock.now()

    def touch(self, account: str, folder: str) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(ImapWatermark, (account, folder))
            if row is None:
                row = ImapWatermark(account=account, folder=folder, uidvalidity=0, last_uid=0)
                session.add(row)
            row.last_poll_at = self.clock.now()


def status_summary(session: Session) -> dict[str, Any]:
    """Queue sizes, message outcomes, last polls and recent failures, for `mailbot status`."""
    outcomes = dict(
        session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    )
    queue = dict(
        session.execute(
            select(OutboxRecipient.status, func.count()).group_by(OutboxRecipient.status)
        ).all()
    )
    polls = [
        {
            "account": w.account,
            "folder": w.folder,
            "uidvalidity": w.uidvalidity,
            "last_uid": w.last_uid,
            "last_poll_at": w.last_poll_at.isoformat() if w.last_poll_at else None,
        }
        for w in session.scalars(select(ImapWatermark))
    ]
    failures = [
        {
            "id": m.id,
            "message_id": m.message_id,
            "received_at": m.received_at.isoformat(),
            "reason": m.reason.splitlines()[0] if m.reason else "",
        }
        for m in session.scalars(
            select(Message).where(Message.status == "failed").order_by(Message.id.desc()).limit(10)
        )
    ]
    members = dict(
        session.execute(
            select(Community.slug, func.count(Member.id))
            .join(Member, Member.community_id == Community.id, isouter=True)
            .group_by(Community.slug)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(OutboxRecipient.next_attempt_at)).where(OutboxRecipient.status == "pending")
    )
    return {
        "messages": {k: outcomes.get(k, 0) for k in ("processed", "held", "ignored", "failed")},
        "outbox": {k: queue.get(k, 0) for k in ("pending", "sent", "failed")},
        "next_delivery_attempt": oldest.isoformat() if oldest else None,
        "members": members,
        "imap": polls,
        "recent_failures": failures,
    }
