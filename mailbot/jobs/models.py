"""Tables for scheduled jobs and the tip library (migration 0003_jobs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailbot.store.models import Base, UTCDateTime


class JobRun(Base):
    """One run of one job for one community and period; the unique key is what stops double sends."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "community_id", "period", name="uq_job_runs_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    period: Mapped[str] = mapped_column(String(40))  # 2026-11-17 | 2026-W47 | 2026-11 | Q42
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
    messages: Mapped[int] = mapped_column(Integer, default=0)  # outbox rows written
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")


class Tip(Base):
    """One KM tip of a community's library; `pending` tips wait for a facilitator's approval."""

    __tablename__ = "tips"
    __table_args__ = (
        UniqueConstraint("community_id", "key", name="uq_tips_community_key"),
        Index("ix_tips_pick", "community_id", "status", "times_sent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    key: Mapped[str] = mapped_column(String(200))  # file name stem, or 'mail-<n>' / 'entry-<n>'
    title: Mapped[str] = mapped_column(String(300))
    topic: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown (small subset)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active|pending|disabled|rejected
    submitted_by: Mapped[str] = mapped_column(String(320), default="")
    times_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TipSend(Base):
    """Tip #N of a community went out on a day: the running number in `KM วันละนิด #N`."""

    __tablename__ = "tip_sends"
    __table_args__ = (UniqueConstraint("community_id", "number", name="uq_tip_sends_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tips.id"))
    day: Mapped[str] = mapped_column(String(10))  # local date, ISO
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
