"""SQLAlchemy 2 models of the core tables: communities, members, messages, outbox, IMAP state.

Knowledge (threads, entries), jobs and moderation tables live in their own modules and migrations;
all share `Base` so Alembic sees one metadata.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC; SQLite drops the zone, so put it back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        from datetime import UTC

        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("community_id", "email", name="uq_members_community_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    section: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="member")
    delivery: Mapped[str] = mapped_column(String(10), default="each")  # each|daily|weekly|none
    status: Mapped[str] = mapped_column(String(12), default="active")  # active|disabled|left
    verp_token: Mapped[str] = mapped_column(String(40), unique=True)
    bounce_score: Mapped[float] = mapped_column(Float, default=0.0)
    bounce_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str] = mapped_column(String(200), default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    expertise: Mapped[str] = mapped_column(Text, default="")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    community: Mapped[Community] = relationship()


# Kinds of inbound message that are a member's contribution to the group (participation counts).
POST_KINDS = ("post", "question", "answer")


class Message(Base):
    """Every inbound message ever accepted, with its raw bytes and what became of it."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_community_msgid", "community_id", "message_id"),
        Index("ix_messages_hash", "content_hash"),
        Index("ix_messages_status", "status"),
        # Time ranges of a community's messages. The trailing columns let the weekly summary count
        # from the index alone (not one table-row read per message) and the digests filter on kind
        # and status before reading a row.
        Index("ix_messages_participation", "community_id", "received_at", "kind", "status", "member_id"),
        # Per-sender rate limits and "first post of a member" look-ups (moderation facts).
        Index("ix_messages_sender_recent", "community_id", "from_email", "address_role", "received_at"),
        Index("ix_messages_member_status", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True)
    source: Mapped[str] = mapped_column(String(20))  # imap|smtp|cli|replay
    source_ref: Mapped[str] = mapped_column(String(300), default="")
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_email: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    address_role: Mapped[str] = mapped_column(String(12), default="")  # post|request|bounces|owner|''
    kind: Mapped[str] = mapped_column(String(20), default="")
    rule: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(12), default="pending")  # processed|held|ignored|failed
    reason: Mapped[str] = mapped_column(Text, default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    thread_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    body_text: Mapped[str] = mapped_column(Text, default="")  # the new part: quotes and signature removed
    defects: Mapped[str] = mapped_column(Text, default="")


class Outbox(Base):
    """One composed outgoing message; its recipients are rows of OutboxRecipient."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(30))  # list-copy|notice|command-reply|tip|summary|digest|...
    verp: Mapped[bool] = mapped_column(default=False)
    mail_from: Mapped[str] = mapped_column(String(320))  # bounces address (VERP adds the member token)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRecipient(Base):
    __tablename__ = "outbox_recipients"
    __table_args__ = (
        # Only the rows still to send, in the order delivery claims them: sent rows leave the index
        # (one delete, where a full index on status moved them), so it stays the size of the queue
        # however long the history grows (BENCHMARKS.md, eighth pass).
        Index(
            "ix_outbox_rcpt_pending",
            "next_attempt_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_rcpt_outbox", "outbox_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    address: Mapped[str] = mapped_column(String(320))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    verp_token: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ImapWatermark(Base):
    __tablename__ = "imap_watermarks"

    account: Mapped[str] = mapped_column(String(300), primary_key=True)
    folder: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class NoticeLog(Base):
    """Notices the bot sent to an address, so that it never sends a storm of them."""

    __tablename__ = "notice_log"
    __table_args__ = (Index("ix_notice_lookup", "community_id", "address", "kind", "sent_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
