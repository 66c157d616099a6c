"""Bounce scores with decay: hard bounces weigh most, 4xx counts little, spam/policy rejections not at all.

Crossing the threshold disables delivery (never removes the member), warns the member's address,
tells the facilitators, and starts re-enable probes: a probe mailed with VERP that does not bounce
within the wait period re-enables delivery by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.mail.bounces import BounceVerdict
from mailbot.mail.compose import as_bytes, bot_message
from mailbot.moderation.models import BounceEvent, BounceProbe
from mailbot.moderation.policy import Policy
from mailbot.moderation.roles import roles_with
from mailbot.notices import community_context, send_mail
from mailbot.outbox import Recipient, enqueue
from mailbot.render import Renderer
from mailbot.store.models import Community, Member

WEIGHTS = {"hard": 1.0, "unknown": 0.5, "soft": 0.25, "spam-policy": 0.0}
DISABLED_REASON = "bounces"


def grade(verdict: BounceVerdict) -> str:
    if verdict.spam_policy:
        return "spam-policy"
    if verdict.permanent is True:
        return "hard"
    if verdict.permanent is False:
        return "soft"
    return "unknown"


def decayed(score: float, since: datetime | None, now: datetime, half_life_days: float) -> float:
    if since is None or score <= 0 or half_life_days <= 0:
        return max(score, 0.0)
    days = max((now - since).total_seconds() / 86400.0, 0.0)
    return score * 0.5 ** (days / half_life_days)


def current_score(member: Member, now: datetime, pol: Policy) -> float:
    return decayed(member.bounce_score, member.bounce_updated_at, now, pol.bounce_half_life_days)


def record_bounce(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    pol: Policy,
    member: Member,
    verdict: BounceVerdict,
    now: datetime,
    message_pk: int | None,
) -> tuple[BounceEvent, bool]:
    """Add the bounce to the member's score; returns (event, disabled_now)."""
    g = grade(verdict)
    weight = WEIGHTS[g]
    # Mailman's lesson: one bad day (a digest, a tip and three posts bouncing) is one bounce, not five.
    day_start = now - timedelta(hours=24)
    counted_today = session.scalar(
        select(func.max(BounceEvent.weight)).where(
            BounceEvent.member_id == member.id, BounceEvent.at > day_start
        )
    ) or 0.0
    weight = max(weight - counted_today, 0.0)
    score = current_score(member, now, pol) + weight
    member.bounce_score, member.bounce_updated_at = score, now
    event = BounceEvent(
        community_id=community_row.id,
        member_id=member.id,
        message_id=message_pk,
        at=now,
        grade=g,
        weight=weight,
        score_after=score,
        status=(verdict.status or "")[:20],
        reason=(verdict.reason or "")[:200],
    )
    session.add(event)
    probe = session.scalar(
        select(BounceProbe).where(BounceProbe.member_id == member.id, BounceProbe.outcome == "pending")
    )
    if probe is not None and g in ("hard", "unknown"):
        probe.outcome, probe.decided_at = "bounced", now
    disabled_now = False
    if member.status == "active" and score >= pol.bounce_threshold:
        disable(session, renderer, community=community, community_row=community_row, member=member, now=now, score=score)
        disabled_now = True
    return event, disabled_now


def _people(session: Session, community_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Member.email).where(
                Member.community_id == community_id,
                Member.status == "active",
                Member.role.in_(roles_with("receive-bounce-notices")),
            )
        )
    )


def disable(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    member: Member,
    now: datetime,
    score: float,
    final: bool = False,
) -> None:
    member.status, member.disabled_reason = "disabled", DISABLED_REASON
    who = {"email": member.email, "name": member.name or member.email, "score": round(score, 1)}
    if not final:
        # The warning may itself bounce; it still reaches addresses that fail only sometimes.
        send_mail(
            session, renderer, community=community, community_row=community_row, to=[member.email],
            template="bounce-warning", kind="bounce-warning", now=now, auto_submitted="auto-generated",
            member=who,
        )
    people = _people(session, community_row.id)
    if people:
        send_mail(
            session, renderer, community=community, community_row=community_row, to=people,
            template="bounce-disabled", kind="bounce-disabled", now=now, auto_submitted="auto-generated",
            member=who, final=final,
        )


def _send_probe(
    session: Session, renderer: Renderer, *, community: CommunitySettings, community_row: Community,
    member: Member, now: datetime,
) -> None:
    rendered = renderer.render(
        "bounce-probe", community.language, community=community_context(community),
        member={"email": member.email, "name": member.name or member.email},
    )
    message = bot_message(
        community, to=[member.email], subject=rendered.subject, text=rendered.text, html=rendered.html,
    )
    # VERP even when the community has it off: a probe exists to learn whether *this* address bounces.
    enqueue(
        session, community_id=community_row.id, kind="bounce-probe", data=as_bytes(message),
        recipients=[Recipient(member.email, member.id, member.verp_token)],
        mail_from=community.bounces_address, now=now, verp=True,
    )
    session.add(BounceProbe(community_id=community_row.id, member_id=member.id, sent_at=now, outcome="pending"))


def run_probes(
    session: Session, renderer: Renderer, *, community: CommunitySettings, community_row: Community,
    pol: Policy, now: datetime,
) -> dict[str, int]:
    """Re-enable members whose probe came back clean; send due probes; give up after the last one."""
    counts = {"probed": 0, "re-enabled": 0, "given-up": 0}
    disabled = session.scalars(
        select(Member).where(
            Member.community_id == community_row.id,
            Member.status == "disabled",
            Member.disabled_reason == DISABLED_REASON,
        )
    ).all()
    wait = timedelta(days=pol.bounce_probe_wait_days)
    interval = timedelta(days=pol.bounce_probe_interval_days)
    for member in disabled:
        probes = session.scalars(
            select(BounceProbe).where(BounceProbe.member_id == member.id).order_by(BounceProbe.sent_at)
        ).all()
        last = probes[-1] if probes else None
        if last is not None and last.outcome == "pending":
            if last.sent_at + wait <= now:
                last.outcome, last.decided_at = "re-enabled", now
                member.status, member.disabled_reason = "active", ""
                member.bounce_score, member.bounce_updated_at = 0.0, now
                counts["re-enabled"] += 1
            continue
        if last is not None and last.outcome == "given-up":
            continue
        if len(probes) >= pol.bounce_max_probes:
            if last is not None:
                last.outcome, last.decided_at = "given-up", now
            disable(session, renderer, community=community, community_row=community_row, member=member,
                    now=now, score=member.bounce_score, final=True)
            counts["given-up"] += 1
            continue
        since = last.sent_at if last is not None else (member.bounce_updated_at or now)
        if since + interval <= now:
            _send_probe(session, renderer, community=community, community_row=community_row, member=member, now=now)
            counts["probed"] += 1
    return counts
