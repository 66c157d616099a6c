"""Nudges: an unanswered question goes to facilitators and the members who answer most in its topic;
a monthly gentle reminder goes to members silent for long (off unless configured)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.jobs import mailing, policy
from mailbot.jobs.base import JobEnv, RunResult
from mailbot.jobs.runs import Sent, run_monthly, run_per_thread
from mailbot.knowledge.models import Answer, Thread
from mailbot.knowledge.topics import topic_label
from mailbot.outbox import Recipient
from mailbot.store.models import Community, Member, Message
from mailbot.store.queries import community_row

NUDGE_JOB = "nudge-unanswered"
REMINDER_JOB = "reminder-silent"
LOOKBACK = timedelta(days=14)  # on first start, do not nudge about questions from years ago


def nudge_schedule(community: CommunitySettings) -> policy.Schedule | None:
    if not int(policy.setting(community, "nudge_hours")):
        return None
    return policy.Schedule("hour", minute=5)


def reminder_schedule(community: CommunitySettings) -> policy.Schedule | None:
    return policy.monthly(community, "silent_reminder_days")


def experts(session: Session, cid: int, topic: str, exclude: int | None, limit: int) -> list[int]:
    """Members who answered most in `topic` (or in the whole community when it has no topic)."""
    query = (
        select(Answer.member_id, func.count(Answer.id))
        .join(Thread, Thread.id == Answer.thread_id)
        .join(Member, Member.id == Answer.member_id)
        .where(Thread.community_id == cid, Member.status == "active", Answer.member_id.is_not(None))
        .group_by(Answer.member_id)
        .order_by(func.count(Answer.id).desc(), Answer.member_id)
        .limit(limit + 1)
    )
    if topic:
        query = query.where(Thread.topic == topic)
    if exclude is not None:
        query = query.where(Answer.member_id != exclude)
    return [mid for mid, _n in session.execute(query) if mid is not None][:limit]


def due_threads(session: Session, cid: int, now: datetime, hours: int) -> list[int]:
    answered = select(Answer.id).where(Answer.thread_id == Thread.id).exists()
    return list(
        session.scalars(
            select(Thread.number).where(
                Thread.community_id == cid,
                Thread.status != "solved",
                Thread.created_at <= now - timedelta(hours=hours),
                Thread.created_at >= now - timedelta(hours=hours) - LOOKBACK,
                ~answered,
            ).order_by(Thread.number)
        )
    )


def run_nudges(env: JobEnv, community: CommunitySettings, fire: datetime) -> RunResult:
    """Nudge once per unanswered thread; each thread is its own keyed run ('Q42')."""
    hours = int(policy.setting(community, "nudge_hours"))
    now = env.clock.now()
    with env.sessions() as session:
        numbers = due_threads(session, community_row(session, community.slug).id, now, hours)
    def body(session: Session, row: Community, number: int) -> Sent:
        return _nudge(env, community, session, row, number=number, hours=hours)

    return run_per_thread(env, NUDGE_JOB, community, fire, numbers, body, "threads nudged")


def _nudge(env: JobEnv, community: CommunitySettings, session: Session, row: Community, *, number: int,
           hours: int) -> Sent:  # fmt: skip
    thread = session.scalar(select(Thread).where(Thread.community_id == row.id, Thread.number == number))
    if thread is None:
        return Sent(detail="thread vanished")
    ids = set(
        session.scalars(
            select(Member.id).where(
                Member.community_id == row.id, Member.status == "active",
                Member.role.in_(("facilitator", "admin")),
            )
        )
    )  # fmt: skip
    helpers = experts(session, row.id, thread.topic, thread.asker_member_id,
                      int(policy.setting(community, "nudge_experts")))  # fmt: skip
    ids.update(helpers)
    ids.discard(thread.asker_member_id or 0)
    rcpts: list[Recipient] = mailing.members(session, row.id, ids=ids) if ids else []
    if not rcpts:
        return Sent(detail="nobody to nudge")
    now = env.clock.now()
    waiting = int((now - thread.created_at).total_seconds() // 3600)
    # A reply to the nudge goes to the group and joins the question's thread.
    data = mailing.compose(
        env.renderer, community, "nudge-unanswered", to=[r.address for r in rcpts],
        extra_headers={"Reply-To": community.address}, in_reply_to=thread.root_message_id,
        thread={"number": thread.number, "subject": thread.subject, "asker": thread.asker_name or thread.asker_email,
                "topic": topic_label(str(env.settings.paths.resolved_rules_dir()), thread.topic, community.language),
                "question": thread.question_text, "waiting_hours": waiting,
                "same_problem": _same_problem(session, thread)},
        expert_count=len(set(helpers) - {thread.asker_member_id}),
    )  # fmt: skip
    count = mailing.queue(session, community=community, row=row, kind="nudge", data=data, recipients=rcpts, now=now)
    return Sent(1, count, f"Q{number} after {waiting} h")


def _same_problem(session: Session, thread: Thread) -> int:
    """Members other than the asker who replied to a question nobody has answered: their replies
    said only "me too" (knowledge.metoo), and how many have the problem tells helpers it matters."""
    return int(
        session.scalar(
            select(func.count(distinct(Message.from_email))).where(
                Message.thread_id == thread.id,
                Message.kind == "answer",
                Message.status == "processed",
                Message.from_email != thread.asker_email,
            )
        )
        or 0
    )


def run_reminder(env: JobEnv, community: CommunitySettings, fire: datetime) -> RunResult:
    def body(session: Session, row: Community, days: int) -> Sent:
        now = env.clock.now()
        cutoff = now - timedelta(days=days)
        ids = list(
            session.scalars(
                select(Member.id).where(
                    Member.community_id == row.id,
                    Member.status == "active",
                    Member.delivery != "none",
                    Member.joined_at < cutoff,
                    or_(Member.last_post_at.is_(None), Member.last_post_at < cutoff),
                )
            )
        )
        if not ids:
            return Sent(detail="nobody silent")
        rcpts = mailing.members(session, row.id, ids=ids)
        open_q = session.execute(
            select(Thread.number, Thread.subject).where(
                and_(Thread.community_id == row.id, Thread.status != "solved", Thread.created_at >= now - timedelta(days=30))
            ).order_by(Thread.created_at.desc()).limit(3)
        ).all()
        data = mailing.compose(
            env.renderer, community, "reminder-silent", to=[community.address], days=days,
            open_questions=[{"number": n, "subject": s} for n, s in open_q],
        )  # fmt: skip
        count = mailing.queue(session, community=community, row=row, kind="reminder", data=data, recipients=rcpts, now=now)
        return Sent(1, count, f"{count} silent members")

    return run_monthly(env, REMINDER_JOB, community, fire, "silent_reminder_days", body)
