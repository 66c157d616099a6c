"""Member digests: one mail per period to daily/weekly readers, the period's threads with new messages.

Bodies are `Message.body_text` (quotes and signatures already removed). Everyone in one mode gets
the same digest, so it is composed once and queued for all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.jobs import mailing, periods, policy
from mailbot.jobs.base import JobEnv, RunResult
from mailbot.jobs.periods import Period
from mailbot.jobs.runs import Sent, run_keyed
from mailbot.knowledge.models import Thread
from mailbot.knowledge.threads import tag_for
from mailbot.mail.compose import base_subject, list_subject
from mailbot.members import shown_name
from mailbot.store.models import Community, Member, Message
from mailbot.store.queries import posts_between

JOBS = {"daily-digest": "daily", "weekly-digest": "weekly"}
MAX_MESSAGES = 500  # a digest is a reading list, not an archive export
BODY_CHARS = 1500


def schedule(community: CommunitySettings, mode: str) -> policy.Schedule:
    hour, minute = policy.parse_time(policy.setting(community, "digest_time"))
    if mode == "daily":
        return policy.Schedule("day", hour, minute)
    return policy.Schedule("week", hour, minute, weekday=policy.weekday(policy.setting(community, "weekly_digest_day")))


def period_for(mode: str, fire: datetime, community: CommunitySettings) -> Period:
    if mode == "daily":
        return periods.previous_day(fire, community.tz)
    return periods.previous_seven_days(fire, community.tz)


def threads(session: Session, community: CommunitySettings, cid: int, period: Period) -> list[dict[str, Any]]:
    """The period's messages grouped by thread (or by base subject for plain posts), oldest first."""
    rows = session.execute(
        select(Message.id, Message.thread_id, Message.subject, Message.from_name, Message.from_email,
               Message.received_at, Message.body_text, Message.kind, Member.name.label("member_name"))  # fmt: skip
        .outerjoin(Member, Member.id == Message.member_id)
        .where(posts_between(cid, period.start, period.end))
        .order_by(Message.received_at, Message.id)
        .limit(MAX_MESSAGES)
    ).all()
    thread_ids = {r.thread_id for r in rows if r.thread_id is not None}
    known: dict[int, tuple[int, str, str]] = {}
    if thread_ids:
        for tid, number, subject, status in session.execute(
            select(Thread.id, Thread.number, Thread.subject, Thread.status).where(Thread.id.in_(thread_ids))
        ):
            known[tid] = (number, subject, status)
    groups: dict[tuple[str, object], dict[str, Any]] = {}
    for r in rows:
        subject = base_subject(r.subject or "", community.prefix) or "(no subject)"
        if r.thread_id is not None and r.thread_id in known:
            number, tsubject, status = known[r.thread_id]
            key: tuple[str, object] = ("t", r.thread_id)
            head = {"number": number, "subject": tsubject or subject, "status": status,
                    "reply_subject": list_subject(f"Re: {tsubject or subject}", community.prefix,
                                                  tag_for(community.thread_tag, number))}  # fmt: skip
        else:
            key = ("s", subject.casefold())
            head = {"number": None, "subject": subject, "status": "",
                    "reply_subject": list_subject(f"Re: {subject}", community.prefix)}  # fmt: skip
        group = groups.setdefault(key, {**head, "messages": []})
        text = (r.body_text or "").strip()
        group["messages"].append({
            "author": shown_name(r.member_name, r.from_name, r.from_email),
            "at": r.received_at.astimezone(community.tz).isoformat(),
            "kind": r.kind,
            "text": text if len(text) <= BODY_CHARS else text[:BODY_CHARS].rstrip() + "…",
        })  # fmt: skip
    return list(groups.values())


def run(env: JobEnv, community: CommunitySettings, fire: datetime, job: str) -> RunResult:
    mode = JOBS[job]
    period = period_for(mode, fire, community)

    def body(session: Session, row: Community) -> Sent:
        readers = mailing.members(session, row.id, deliveries=[mode])
        if not readers:
            return Sent(detail=f"no {mode} readers")
        items = threads(session, community, row.id, period)
        if not items:
            return Sent(detail="nothing new")
        data = mailing.compose(
            env.renderer, community, "member-digest", to=[community.address],
            mode=mode, period={"key": period.key, "start": period.start.isoformat(),
                               "end": period.end.isoformat()},
            threads=items, message_count=sum(len(t["messages"]) for t in items),
        )  # fmt: skip
        count = mailing.queue(
            session, community=community, row=row, kind="digest", data=data, recipients=readers,
            now=env.clock.now(),
        )  # fmt: skip
        return Sent(1, count, f"{len(items)} threads")

    return run_keyed(env, job, community.slug, period.key, body)
