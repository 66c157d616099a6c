"""Tables for moderation, confirmation tokens and bounce events (migration 0004_moderation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailbot.store.models import Base, UTCDateTime


class ConfirmToken(Base):
    """A single-use token mailed to an address; replying with it confirms one pending action."""

    __tablename__ = "confirm_tokens"
    __table_args__ = (Index("ix_confirm_tokens_address", "community_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    token: Mapped[str] = mapped_column(String(40), unique=True)
    action: Mapped[str] = mapped_column(String(30))  # subscribe|unsubscribe|commands|moderate|probe
    address: Mapped[str] = mapped_column(String(320))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    data: Mapped[str] = mapped_column(Text, default="")  # JSON payload of the pending action
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HeldItem(Base):
    """A post (or a join request) waiting for a facilitator's decision."""

    __tablename__ = "held_items"
    __table_args__ = (Index("ix_held_items_status", "community_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    kind: Mapped[str] = mapped_column(String(20), default="post")  # post | subscription
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(60))  # kebab-case rule name, e.g. non-member
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|approved|rejected|discarded|expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str] = mapped_column(String(320), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class BounceEvent(Base):
    """One bounce attributed to a member, with the weight it added to the score."""

    __tablename__ = "bounce_events"
    __table_args__ = (Index("ix_bounce_events_member", "member_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    grade: Mapped[str] = mapped_column(String(12))  # hard|soft|spam-policy|unknown
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    score_after: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="")  # DSN status code
    reason: Mapped[str] = mapped_column(String(200), default="")


class BounceProbe(Base):
    """A probe mailed to a member whose delivery bounces disabled; silence re-enables them."""

    __tablename__ = "bounce_probes"
    __table_args__ = (Index("ix_bounce_probes_member", "member_id", "sent_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(12), default="pending")  # pending|bounced|re-enabled|given-up
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
