"""KM tip of the day ("KM วันละนิด"): one tip per local day to every member, numbered, topics rotated."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings, Settings
from mailbot.jobs import mailing, policy, tips
from mailbot.jobs.base import JobEnv, RunResult
from mailbot.jobs.models import TipSend
from mailbot.jobs.runs import Sent, run_keyed
from mailbot.knowledge.topics import topic_label
from mailbot.store.models import Community

JOB = "daily-tip"
# Members who chose "none" get nothing; digest readers still get the tip: it is the daily habit.
DELIVERIES = ("each", "daily", "weekly")


def schedule(community: CommunitySettings) -> policy.Schedule | None:
    if not policy.setting(community, "tip_enabled"):
        return None
    hour, minute = policy.parse_time(policy.setting(community, "tip_time"))
    return policy.Schedule("day", hour, minute)


def tip_context(tip: tips.Tip, number: int, settings: Settings, lang: str) -> dict[str, object]:
    return {
        "number": number,
        "title": tip.title,
        # As members know the topic (rules/topics.toml's label), when the tip's topic is one of them.
        "topic": topic_label(str(settings.paths.resolved_rules_dir()), tip.topic, lang),
        "source": tip.source,
        "body": tip.body,
        "blocks": tips.blocks(tip.body),
    }


def run(env: JobEnv, community: CommunitySettings, fire: datetime) -> RunResult:
    day = fire.astimezone(community.tz).date()
    if policy.setting(community, "tip_skip_weekends") and day.weekday() >= 5:
        return RunResult(JOB, community.slug, day.isoformat(), "skipped", detail="weekend")
    if day in policy.holidays(community):
        return RunResult(JOB, community.slug, day.isoformat(), "skipped", detail="holiday")

    def body(session: Session, row: Community) -> Sent:
        now = env.clock.now()
        tip = tips.pick_next(session, row.id)
        if tip is None:
            return Sent(detail="the tip library is empty")
        last = session.scalar(select(func.max(TipSend.number)).where(TipSend.community_id == row.id))
        number = (last or 0) + 1
        data = mailing.compose(
            env.renderer,
            community,
            "daily-tip",
            to=[community.address],
            # A member's reply (tried it, a question about it) goes to the group, not to the robot.
            extra_headers={"Reply-To": community.address},
            tip=tip_context(tip, number, env.settings, community.language),
            date=day.isoformat(),
        )
        recipients = mailing.members(session, row.id, deliveries=DELIVERIES)
        count = mailing.queue(
            session, community=community, row=row, kind="tip", data=data, recipients=recipients, now=now
        )
        tip.times_sent += 1
        tip.last_sent_at = now
        session.add(TipSend(community_id=row.id, number=number, tip_id=tip.id, day=day.isoformat(), sent_at=now))
        return Sent(1 if count else 0, count, f"tip #{number}: {tip.key}")

    return run_keyed(env, JOB, community.slug, day.isoformat(), body)
