"""Ask the asker, once per thread, whether an answer solved their question: right after they thank
the group in the thread, or `accept_offer_days` after the last answer (job "accept-offer"). One
reply (`accept #Q12 2`) then files that answer as knowledge; askers rarely know to type #solved."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.jobs import mailing, policy
from mailbot.jobs.base import JobEnv, RunResult
from mailbot.jobs.models import JobRun
from mailbot.jobs.runs import Sent, claim, run_per_thread, thread_period
from mailbot.knowledge.models import Answer, Thread
from mailbot.knowledge.threads import answers_of
from mailbot.render import Renderer, excerpt
from mailbot.store.models import Community
from mailbot.store.queries import community_row

OFFER_JOB = "accept-offer"
LOOKBACK = timedelta(days=14)  # on first start, do not ask about answers from long ago


def schedule(community: CommunitySettings) -> policy.Schedule | None:
    if not int(policy.setting(community, "accept_offer_days")):
        return None
    return policy.Schedule("hour", minute=20)


def offer_mail(
    session: Session,
    renderer: Renderer,
    community: CommunitySettings,
    row: Community,
    thread: Thread,
    *,
    reason: str,
    now: datetime,
    in_reply_to: str = "",
) -> Sent:
    """Queue the offer to the asker (reason "thanks" or "reminder"); nothing when there is no one to
    ask (the asker left or is no member) or nothing to accept."""
    if thread.status == "solved" or thread.asker_member_id is None:
        return Sent(detail="nothing to offer")
    answers = answers_of(session, thread)
    if not answers:
        return Sent(detail="no answers")
    rcpts = mailing.members(session, row.id, ids=[thread.asker_member_id])
    if not rcpts:
        return Sent(detail="the asker takes no mail")
    data = mailing.compose(
        renderer, community, "accept-offer", to=[r.address for r in rcpts], in_reply_to=in_reply_to,
        reason=reason, asker=thread.asker_name or thread.asker_email,
        thread={"number": thread.number, "subject": thread.subject},
        answers=[{"number": a.number, "author": a.author_name or a.author_email, "excerpt": excerpt(a.text, 160)}
                 for a in answers],
    )  # fmt: skip
    count = mailing.queue(session, community=community, row=row, kind="accept-offer", data=data,
                          recipients=rcpts, now=now)  # fmt: skip
    return Sent(1, count, f"Q{thread.number} ({reason})")


def after_thanks(
    session: Session, renderer: Renderer, community: CommunitySettings, row: Community, thread: Thread,
    *, now: datetime, in_reply_to: str,
) -> str:  # fmt: skip
    """The asker said it works: offer now, in the message's own transaction, unless already offered
    (or offers are off). Returns a note for the message's outcome."""
    if not int(policy.setting(community, "accept_offer_days")):
        return "accept offers are off"
    run = claim(session, OFFER_JOB, row.id, thread_period(thread.number), now)
    if run is None:
        return "accept offer already made"
    sent = offer_mail(session, renderer, community, row, thread, reason="thanks", now=now, in_reply_to=in_reply_to)
    run.messages, run.recipients, run.detail = sent.messages, sent.recipients, sent.detail[:500]
    return "accept offer sent" if sent.messages else f"no accept offer: {sent.detail}"


def due_threads(session: Session, cid: int, now: datetime, days: int) -> list[int]:
    """Unsolved threads whose last answer is `days` old, not yet offered."""
    cutoff = now - timedelta(days=days)
    # An answer moves the thread's updated_at on, so threads quiet since before the window are
    # passed over at once; the last answer is then one grouped join, not a subquery per thread
    # (which PostgreSQL's planner priced high enough to JIT-compile: 180 ms instead of 15).
    last = func.max(Answer.created_at)
    offered = (
        select(JobRun.id)
        .where(
            JobRun.job == OFFER_JOB,
            JobRun.community_id == cid,
            JobRun.period == literal("Q") + cast(Thread.number, String),  # runs.thread_period, in SQL
        )
        .exists()
    )
    return list(
        session.scalars(
            select(Thread.number)
            .join(Answer, Answer.thread_id == Thread.id)
            .where(
                Thread.community_id == cid,
                Thread.status == "answered",  # has answers, none accepted
                Thread.asker_member_id.is_not(None),
                Thread.updated_at >= cutoff - LOOKBACK,
                ~offered,
            )
            .group_by(Thread.id, Thread.number)
            .having(last <= cutoff, last >= cutoff - LOOKBACK)
            .order_by(Thread.number)
        )
    )


def run(env: JobEnv, community: CommunitySettings, fire: datetime) -> RunResult:
    """Offer once per due thread; each thread is its own keyed run ('Q42')."""
    days = int(policy.setting(community, "accept_offer_days"))
    now = env.clock.now()
    with env.sessions() as session:
        numbers = due_threads(session, community_row(session, community.slug).id, now, days)
    return run_per_thread(env, OFFER_JOB, community, fire, numbers, functools.partial(_remind, env, community),
                          "askers asked")  # fmt: skip


def _remind(env: JobEnv, community: CommunitySettings, session: Session, row: Community, number: int) -> Sent:
    thread = session.scalar(select(Thread).where(Thread.community_id == row.id, Thread.number == number))
    if thread is None:
        return Sent(detail="thread vanished")
    return offer_mail(session, env.renderer, community, row, thread, reason="reminder", now=env.clock.now())
