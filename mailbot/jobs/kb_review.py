"""Knowledge review, monthly: published entries nobody has confirmed for `kb_review_months` are marked
"may be out of date" (stale: still found, and labelled so) and listed to those who curate knowledge
(คุณลิขิต, คุณอำนวย), who confirm one with `kb <N> ok` or correct it. Off with kb_review_months = 0.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.jobs import mailing, policy
from mailbot.jobs.base import JobEnv, RunResult
from mailbot.jobs.runs import Sent, run_monthly
from mailbot.knowledge.models import KbEntry
from mailbot.knowledge.topics import topics_for
from mailbot.moderation.roles import roles_with
from mailbot.store.models import Community

JOB = "kb-review"
LISTED = 30  # entries named in one mail; the rest are counted ("and 12 more")
DAYS_PER_MONTH = 30.44


def schedule(community: CommunitySettings) -> policy.Schedule | None:
    """Monthly, with the other monthly mail (reminder_day at reminder_time)."""
    return policy.monthly(community, "kb_review_months")


def cutoff(now: datetime, months: int) -> datetime:
    return now - timedelta(days=round(months * DAYS_PER_MONTH))


def run(env: JobEnv, community: CommunitySettings, fire: datetime) -> RunResult:
    def body(session: Session, row: Community, months: int) -> Sent:
        now = env.clock.now()
        due = list(
            session.scalars(
                select(KbEntry)
                .where(
                    KbEntry.community_id == row.id,
                    KbEntry.status == "published",
                    KbEntry.updated_at < cutoff(now, months),
                )
                .order_by(KbEntry.updated_at, KbEntry.number)
            )
        )
        if not due:
            return Sent(detail="nothing to review")
        older = session.scalar(
            select(func.count(KbEntry.id)).where(KbEntry.community_id == row.id, KbEntry.status == "stale")
        ) or 0
        # Only the label changes (drafts stay hidden, stale entries stay visible): the search index
        # holds no status, and updated_at keeps saying when the entry was last confirmed.
        for entry in due:
            entry.status = "stale"
        session.flush()
        rcpts = mailing.members(session, row.id, roles=roles_with("edit-knowledge"))
        if not rcpts:
            return Sent(detail=f"{len(due)} entries marked stale; no scribe or facilitator to tell")
        topics = topics_for(str(env.settings.paths.resolved_rules_dir()))
        lang = community.language
        listed = [
            {
                "number": e.number,
                "title": e.title,
                "topic": (t.label(lang) if (t := topics.get(e.topic)) else e.topic),
                "confirmed": e.updated_at.astimezone(community.tz).date().isoformat(),
            }
            for e in due[:LISTED]
        ]
        data = mailing.compose(
            env.renderer, community, "kb-review", to=[r.address for r in rcpts],
            extra_headers={"Reply-To": community.request_address},
            months=months, entries=listed, more=len(due) - len(listed), older_stale=int(older),
        )  # fmt: skip
        count = mailing.queue(session, community=community, row=row, kind="kb-review", data=data, recipients=rcpts, now=now)
        return Sent(1, count, f"{len(due)} entries marked stale")

    return run_monthly(env, JOB, community, fire, "kb_review_months", body)
