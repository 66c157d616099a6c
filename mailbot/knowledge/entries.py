"""Knowledge entries: filing one from a solved thread, correcting it, and the view templates and CLI use."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.knowledge.models import Answer, KbEntry, KbFeedback, Thread
from mailbot.knowledge.search import index_entry, unindex
from mailbot.knowledge.topics import Topics

STATUSES = ("draft", "published", "stale")


class EntryError(ValueError):
    """An entry operation cannot be done; the message says why."""


def _contributors(thread: Thread, answers: Sequence[Answer]) -> list[str]:
    names: dict[str, None] = {}
    for name, email in [(thread.asker_name, thread.asker_email)] + [(a.author_name, a.author_email) for a in answers]:
        shown = name or email
        if shown:
            names.setdefault(shown, None)
    return list(names)


def entry_for_thread(session: Session, thread_id: int) -> KbEntry | None:
    return session.scalar(select(KbEntry).where(KbEntry.thread_id == thread_id).limit(1))


def entry_by_number(session: Session, community_id: int, number: int) -> KbEntry | None:
    return session.scalar(
        select(KbEntry).where(KbEntry.community_id == community_id, KbEntry.number == number)
    )


def file_entry(
    session: Session,
    thread: Thread,
    *,
    title: str,
    accepted: Answer | None,
    helpful: Sequence[Answer],
    filed_by: str,
    review: bool,
    now: datetime,
) -> KbEntry:
    """File (or re-file) the thread's entry; the search index is updated in the same transaction."""
    entry = entry_for_thread(session, thread.id)
    if entry is None:
        top = session.scalar(select(func.max(KbEntry.number)).where(KbEntry.community_id == thread.community_id))
        entry = KbEntry(
            community_id=thread.community_id,
            number=int(top or 0) + 1,
            thread_id=thread.id,
            status="draft" if review else "published",
            created_at=now,
        )
        session.add(entry)
    entry.title = title
    entry.question = thread.question_text
    entry.answer = accepted.text if accepted else ""
    entry.helpful_json = json.dumps(
        [{"author": a.author_name or a.author_email, "text": a.text} for a in helpful], ensure_ascii=False
    )
    entry.contributors_json = json.dumps(
        _contributors(thread, [a for a in [accepted, *helpful] if a is not None]), ensure_ascii=False
    )
    entry.topic = thread.topic
    entry.filed_by = filed_by
    entry.updated_at = now
    session.flush()
    index_entry(session, entry)
    unindex(session, "thread", thread.id)  # the entry now stands for the thread in search
    return entry


def edit_entry(
    session: Session,
    entry: KbEntry,
    *,
    now: datetime,
    title: str | None = None,
    question: str | None = None,
    answer: str | None = None,
    topic: str | None = None,
    status: str | None = None,
) -> KbEntry:
    """A scribe's correction; re-indexed in the same transaction."""
    if status is not None and status not in STATUSES:
        raise EntryError(f"unknown status {status!r} (statuses: {', '.join(STATUSES)})")
    for name, value in (("title", title), ("question", question), ("answer", answer), ("topic", topic), ("status", status)):
        if value is not None:
            setattr(entry, name, value.strip() if name != "status" else value)
    entry.updated_at = now
    session.flush()
    index_entry(session, entry)
    return entry


def worked_for(session: Session, entry_ids: Sequence[int]) -> dict[int, int]:
    """Entry id -> how many members said it worked for them (`kb 12 ได้ผล`); absent when none."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(KbFeedback.entry_id, func.count(KbFeedback.id))
        .where(KbFeedback.entry_id.in_(list(entry_ids)))
        .group_by(KbFeedback.entry_id)
    )
    return {int(entry_id): int(n) for entry_id, n in rows}


def record_worked(session: Session, entry: KbEntry, member_id: int, now: datetime) -> bool:
    """The member's word that `entry` worked for them, once; False when they had said so before."""
    seen = session.scalar(
        select(KbFeedback.id).where(KbFeedback.entry_id == entry.id, KbFeedback.member_id == member_id)
    )
    if seen is not None:
        return False
    session.add(KbFeedback(entry_id=entry.id, member_id=member_id, created_at=now))
    session.flush()
    return True


def entry_view(
    entry: KbEntry, topics: Topics, lang: str, thread_number: int | None = None, worked: int = 0
) -> dict[str, Any]:
    """What templates (kb-entry) and `mailbot kb show` get; `worked`: members it worked for."""
    topic = topics.get(entry.topic)
    return {
        "number": entry.number,
        "title": entry.title,
        "question": entry.question,
        "answer": entry.answer,
        "helpful": json.loads(entry.helpful_json or "[]"),
        "contributors": json.loads(entry.contributors_json or "[]"),
        "topic": topic.label(lang) if topic else entry.topic,  # "" when none: mail leaves the line out
        "topic_name": entry.topic,
        "status": entry.status,
        "thread_number": thread_number,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at if entry.updated_at != entry.created_at else None,
        "worked_for": worked,
    }


def entry_view_in(
    session: Session, entry: KbEntry, topics: Topics, lang: str, thread_number: int | None = None
) -> dict[str, Any]:
    """entry_view with what the database knows besides the entry: its thread's number (unless
    given) and how many members it worked for."""
    if thread_number is None:
        thread_number = thread_number_of(session, entry)
    return entry_view(entry, topics, lang, thread_number, worked_for(session, [entry.id]).get(entry.id, 0))


def thread_number_of(session: Session, entry: KbEntry) -> int | None:
    if entry.thread_id is None:
        return None
    return session.scalar(select(Thread.number).where(Thread.id == entry.thread_id))


def list_entries(session: Session, community_id: int, status: str | None = None) -> list[KbEntry]:
    query = select(KbEntry).where(KbEntry.community_id == community_id).order_by(KbEntry.number)
    if status:
        query = query.where(KbEntry.status == status)
    return list(session.scalars(query))
