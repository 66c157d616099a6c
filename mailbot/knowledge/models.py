"""Tables for threads, their messages and answers, and knowledge entries (migration 0002_knowledge).

The full-text index is not mapped here: SQLite keeps an FTS5 table fed by triggers on kb_docs,
PostgreSQL a generated tsvector column on kb_docs with a GIN index (both made by the migration).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailbot.store.models import Base, UTCDateTime


class Thread(Base):
    """A question and its replies, numbered per community (#Q42)."""

    __tablename__ = "threads"
    __table_args__ = (
        UniqueConstraint("community_id", "number", name="uq_threads_community_number"),
        Index("ix_threads_community_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(Text, default="")  # base subject: no prefixes or tags
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | answered | solved
    topic: Mapped[str] = mapped_column(String(64), default="")
    question_text: Mapped[str] = mapped_column(Text, default="")
    question_message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    root_message_id: Mapped[str] = mapped_column(String(998), default="")
    asker_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    asker_email: Mapped[str] = mapped_column(String(320), default="")
    asker_name: Mapped[str] = mapped_column(String(300), default="")
    answer_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_answer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ThreadRef(Base):
    """Message-id -> parent and thread, for every post; `seen` False marks a ghost (referenced, not yet arrived)."""

    __tablename__ = "thread_refs"
    __table_args__ = (
        UniqueConstraint("community_id", "message_id", name="uq_thread_refs_community_msgid"),
        Index("ix_thread_refs_parent", "community_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    message_id: Mapped[str] = mapped_column(String(998))
    parent_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id"), nullable=True, index=True)
    seen: Mapped[bool] = mapped_column(Boolean, default=False)  # False: a ghost parent
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)


class Answer(Base):
    """A reply in a thread (new text only), numbered 1, 2, ... for `#accept N`."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("thread_id", "number", name="uq_answers_thread_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    message_id: Mapped[str] = mapped_column(String(998), default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    author_email: Mapped[str] = mapped_column(String(320), default="")
    author_name: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    helpful: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KbEntry(Base):
    """A knowledge entry filed from a thread (or by hand); status draft -> published -> stale."""

    __tablename__ = "kb_entries"
    __table_args__ = (
        UniqueConstraint("community_id", "number", name="uq_kb_entries_community_number"),
        Index("ix_kb_entries_thread", "thread_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id"), nullable=True)
    title: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    helpful_json: Mapped[str] = mapped_column(Text, default="[]")  # [{"author": .., "text": ..}]
    contributors_json: Mapped[str] = mapped_column(Text, default="[]")  # ["name", ...]
    topic: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(12), default="published")  # draft|published|stale
    filed_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KbFeedback(Base):
    """A member's word that an entry worked for them (`kb 12 ได้ผล`): once per member and entry,
    counted on the entry ("worked for 3 members") so contributors see their knowledge used."""

    __tablename__ = "kb_feedback"
    __table_args__ = (UniqueConstraint("entry_id", "member_id", name="uq_kb_feedback_entry_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KbDoc(Base):
    """One searchable document (an entry or an unsolved thread) as segmented text.

    Weights: title > answer > body. `solved` ranks entries above open threads.
    """

    __tablename__ = "kb_docs"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id", name="uq_kb_docs_kind_ref"),
        Index("ix_kb_docs_community", "community_id", "visible"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    kind: Mapped[str] = mapped_column(String(10))  # entry | thread
    ref_id: Mapped[int] = mapped_column(Integer)  # kb_entries.id or threads.id
    solved: Mapped[bool] = mapped_column(Boolean, default=False)
    visible: Mapped[bool] = mapped_column(Boolean, default=True)  # drafts are indexed but hidden
    title_seg: Mapped[str] = mapped_column(Text, default="")
    answer_seg: Mapped[str] = mapped_column(Text, default="")
    body_seg: Mapped[str] = mapped_column(Text, default="")
