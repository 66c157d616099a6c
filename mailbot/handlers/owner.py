"""Mail to <list>-owner: forwarded whole to the community's facilitators and admins."""

from __future__ import annotations

from sqlalchemy import select

from mailbot.handlers.base import Context, Outcome
from mailbot.outbox import Recipient, enqueue
from mailbot.store.models import Member


def handle_owner(ctx: Context) -> Outcome:
    row, community = ctx.community_row, ctx.community
    assert row is not None and community is not None
    people = ctx.session.execute(
        select(Member.id, Member.email).where(
            Member.community_id == row.id,
            Member.status != "left",
            Member.role.in_(("facilitator", "admin")),
        )
    ).all()
    if not people:
        return Outcome("held", "no facilitator or admin to forward owner mail to")
    enqueue(
        ctx.session,
        community_id=row.id,
        kind="owner-forward",
        data=ctx.msg.raw,
        recipients=[Recipient(email, mid) for mid, email in people],
        mail_from=community.bounces_address,
        now=ctx.now,
        source_message_id=ctx.record.id,
    )
    return Outcome("processed", f"forwarded to {len(people)} facilitators/admins")
