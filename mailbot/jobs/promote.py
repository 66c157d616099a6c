"""Promote a published knowledge entry to a tip of the day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.jobs import tips
from mailbot.jobs.models import Tip
from mailbot.knowledge.models import KbEntry


def promote_entry(session: Session, community_id: int, number: int, now: datetime) -> Tip:
    entry = session.scalar(
        select(KbEntry).where(KbEntry.community_id == community_id, KbEntry.number == number)
    )
    if entry is None:
        raise tips.TipError(f"no knowledge entry {number}")
    if entry.status != "published":
        raise tips.TipError(f"entry {number} is {entry.status}; only published entries become tips")
    draft = tips.TipDraft(f"entry-{number}", entry.title, entry.topic, f"KB {number}", entry.answer.strip())
    if not draft.body:
        raise tips.TipError(f"entry {number} has no answer text")
    tip, _created = tips.upsert(session, community_id, draft, now)
    return tip
