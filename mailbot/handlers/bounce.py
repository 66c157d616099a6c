"""Bounces: find the member (VERP token first, then the DSN's addresses) and record the verdict."""

from __future__ import annotations

from sqlalchemy import select

from mailbot.handlers.base import Context, Outcome
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
    who = member.email if member else "unknown recipient"
    grade = "spam-policy" if verdict.spam_policy else (
        "hard" if verdict.permanent else ("soft" if verdict.permanent is False else "unknown")
    )
    return Outcome("ignored", f"bounce for {who} ({grade}, {verdict.status or verdict.reason})")
