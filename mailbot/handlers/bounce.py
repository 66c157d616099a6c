"""Bounces: find the member (VERP token first, then the DSN's addresses) and score the verdict.

Only a scored bounce has consequences (see mailbot.moderation.bounce_score); a bounce is never
distributed and never answered.
"""

from __future__ import annotations

from sqlalchemy import select

from mailbot.handlers.base import Context, Outcome
from mailbot.moderation.bounce_score import grade, record_bounce
from mailbot.moderation.policy import policy
from mailbot.store.models import Member


def bounced_member(ctx: Context) -> Member | None:
    row = ctx.community_row
    if row is None:
        return None
    if ctx.facts.route.token:
        member = ctx.session.scalar(
            select(Member).where(
                Member.community_id == row.id, Member.verp_token == ctx.facts.route.token.lower()
            )
        )
        if member is not None:
            return member
    for address in ctx.facts.bounce.addresses:
        member = ctx.session.scalar(
            select(Member).where(Member.community_id == row.id, Member.email == address.lower())
        )
        if member is not None:
            return member
    return None


def handle_bounce(ctx: Context) -> Outcome:
    verdict = ctx.facts.bounce
    member = bounced_member(ctx)
    g = grade(verdict)
    detail = verdict.status or verdict.reason or "no status"
    if member is None or ctx.community is None or ctx.community_row is None:
        return Outcome("ignored", f"bounce for unknown recipient ({g}, {detail})")
    if member.status == "left":
        return Outcome("ignored", f"bounce for {member.email}, who left ({g}, {detail})")
    if verdict.kind != "bounce":
        # Mail to -bounces that is not a recognisable failure (an auto-reply, a human): no score.
        return Outcome("ignored", f"mail to bounces address for {member.email}, not a bounce ({verdict.kind})")
    pol = policy(ctx.settings, ctx.community)
    event, disabled = record_bounce(
        ctx.session,
        ctx.renderer,
        community=ctx.community,
        community_row=ctx.community_row,
        pol=pol,
        member=member,
        verdict=verdict,
        now=ctx.now,
        message_pk=ctx.record.id,
    )
    ctx.record.member_id = member.id
    tail = "; delivery disabled" if disabled else ""
    return Outcome(
        "processed",
        f"bounce for {member.email} ({g}, {detail}): +{event.weight:.2f}, score {event.score_after:.2f}{tail}",
    )
